"""Server-side verification of a result's PDF signature (pyHanko validation), as a verdict.

A result is accepted only if all of these hold, checked in this order (the first failure is the
verdict's reason):
1. the bytes are a readable PDF holding exactly one signature (no document timestamps either);
2. the signature is intact (the signed byte ranges hash to the signed digest) and valid (the CMS
   signature verifies with the embedded signer certificate);
3. it covers the entire file: nothing was appended or incrementally updated after signing;
4. when CRLs are configured, one of them covers the signer certificate, is current, and does not
   list it (listed: reason `revoked_device`);
5. it chains to one of the configured trust roots — and only to them: no system trust store, no
   fetching of certificates or revocation data — with a key usage allowing non-repudiation;
6. the signer certificate's commonName is the sending device's `device_id` (else
   `signer_not_registered`).

Bad input never raises: it yields `Verdict(valid=False, reason=…)` with a detail a person can act
on and no personal data. `verify` blocks (pyHanko runs its own event loop): call it from a worker
thread. Later issues add depth: LTV, a revocation policy, shadow-attack checks, unit registration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from protocol.messages import RejectReason
from server.errors import VerificationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What verification concluded about one signed PDF.

    Attributes:
        valid: True only if every check passed.
        reason: why it was rejected — a `protocol.messages.RejectReason` value — or None if valid.
        detail: one sentence a person can act on; never personal data.
        signer_common_name: the signer certificate's commonName (a device_id), when readable.
        signer_unit: the signer certificate's organizationalUnitName (the unit), when present.
        signer_cert_sha256: lower-case hex SHA-256 of the signer certificate's DER, when readable.
        signing_time: the signing time the signer claims (`/M`), when present.
    """

    valid: bool
    reason: str | None
    detail: str
    signer_common_name: str | None = None
    signer_unit: str | None = None
    signer_cert_sha256: str | None = None
    signing_time: dt.datetime | None = None


class Verifier:
    """Verifies signed result PDFs against configured trust roots (and optional CRLs) only."""

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate],
        crls: Sequence[x509.CertificateRevocationList] = (),
    ) -> None:
        """Configure the roots to trust and the CRLs to check.

        Args:
            trust_roots: the CA certificates that may issue document-signing certificates.
            crls: revocation lists of those CAs; a signer listed in one is rejected.

        Raises:
            VerificationError: no trust root, or a root that is not a CA certificate.
        """
        if not trust_roots:
            raise VerificationError(
                "no trust roots configured: give the provincial CA certificate to the verifier"
            )
        for root in trust_roots:
            try:
                is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise VerificationError(
                    f"trust root {root.subject.rfc4514_string()} is not a CA certificate "
                    "(basicConstraints cA is not set): configure the CA's own certificate"
                )
        self._roots = [
            asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER))
            for r in trust_roots
        ]
        self._crls = [
            asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in crls
        ]
        # pyHanko's legacy "soft-fail"/"hard-fail" modes consult a CRL only for certificates that
        # declare a CRL distribution point, which ours do not: a configured CRL would be ignored.
        # So with CRLs configured the signer's certificate *must* be covered by a current one
        # (fail closed: a stale CRL rejects); without CRLs revocation is not checked here.
        ee_rule = RevocationCheckingRule.CRL_REQUIRED if crls else RevocationCheckingRule.NO_CHECK
        self._revinfo_policy = CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=ee_rule,
                intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
            )
        )

    def verify(self, pdf: bytes, *, device_id: str) -> Verdict:
        """Verify the signature of `pdf`, sent by `device_id`.

        Args:
            pdf: the signed PDF's bytes (untrusted input).
            device_id: the sending device (from its TLS identity and topic).

        Returns:
            The verdict; never raises for bad input.

        Raises:
            VerificationError: called on a running event loop (call it from a worker thread).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise VerificationError(
                "Verifier.verify blocks and cannot run on an event loop: "
                "call it from a worker thread"
            )
        try:
            return self._verify(pdf, device_id)
        except Exception as e:
            # Untrusted bytes can fail anywhere in a PDF parser, with any Python error.
            log.warning("signature check failed on malformed input: %s", type(e).__name__)
            return _reject(
                RejectReason.SIGNATURE,
                f"the PDF or its signature could not be read ({type(e).__name__}): send the "
                "signed file again",
            )

    def _verify(self, pdf: bytes, device_id: str) -> Verdict:
        # ISO 32000 lets the header start anywhere in the first 1024 bytes.
        if b"%PDF-" not in pdf[:1024]:
            return _reject(RejectReason.SIGNATURE, "the file is not a PDF")
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
        if not signatures:
            return _reject(RejectReason.SIGNATURE, "the PDF is not signed: sign it on the device")
        if len(signatures) != 1:
            return _reject(
                RejectReason.SIGNATURE,
                f"the PDF holds {len(signatures)} signatures, expected exactly one",
            )
        context = ValidationContext(
            trust_roots=self._roots,
            crls=self._crls,
            allow_fetching=False,
            revinfo_policy=self._revinfo_policy,
        )
        status = validate_pdf_signature(signatures[0], context)
        signed_by = _signer_verdict(status)

        def reject(reason: RejectReason, detail: str) -> Verdict:
            return replace(signed_by, reason=reason.value, detail=detail)

        if not status.intact:
            return reject(
                RejectReason.SIGNATURE,
                "the document was changed after it was signed (its digest does not match)",
            )
        if not status.valid:
            return reject(RejectReason.SIGNATURE, "the signature value does not verify")
        if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            return reject(
                RejectReason.SIGNATURE,
                "the signature does not cover the whole file: bytes or an incremental update "
                "were added after signing",
            )
        if status.revocation_details is not None:
            return reject(
                RejectReason.REVOKED_DEVICE,
                "the signer certificate is revoked: re-enroll the device",
            )
        if not status.trusted:
            problem = status.trust_problem_indic
            why = f" ({problem.standard_name})" if problem is not None else ""
            return reject(
                RejectReason.SIGNATURE,
                f"the signer certificate is not trusted{why}: it must chain to a trusted root, "
                "allow document signing and be covered by a current CRL when CRLs are configured",
            )
        if not status.bottom_line:
            return reject(RejectReason.SIGNATURE, "the signature failed validation")
        if signed_by.signer_common_name != device_id:
            return reject(
                RejectReason.SIGNER_NOT_REGISTERED,
                f"the document was signed by {signed_by.signer_common_name!r}, not by the "
                f"sending device {device_id!r}",
            )
        return replace(signed_by, valid=True, reason=None, detail="signature valid")


def _reject(reason: RejectReason, detail: str) -> Verdict:
    return Verdict(valid=False, reason=reason.value, detail=detail)


def _signer_verdict(status: PdfSignatureStatus) -> Verdict:
    """A rejecting verdict (reason to fill in) carrying what the signature says of its signer."""
    cert: asn1_x509.Certificate = status.signing_cert
    subject = cert.subject.native
    signing_time = status.signer_reported_dt
    if signing_time is not None and signing_time.tzinfo is None:
        signing_time = signing_time.replace(tzinfo=dt.UTC)
    return Verdict(
        valid=False,
        reason=RejectReason.SIGNATURE.value,
        detail="",
        signer_common_name=_one(subject.get("common_name")),
        signer_unit=_one(subject.get("organizational_unit_name")),
        signer_cert_sha256=hashlib.sha256(cert.dump()).hexdigest(),
        signing_time=signing_time,
    )


def _one(value: object) -> str | None:
    """An X.500 attribute as one string (asn1crypto gives a list when it is repeated)."""
    if value is None:
        return None
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value)
