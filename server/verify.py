"""Server-side verification of a result's PDF signature (pyHanko validation), as a verdict.

What a device sends (`Verifier.verify`) is accepted only if all of these hold, checked in this
order (the first failure is the verdict's reason):
1. the bytes are a readable PDF holding exactly one signature (no document timestamps either);
2. the signature is intact (the signed byte ranges hash to the signed digest) and valid (the CMS
   signature verifies with the embedded signer certificate);
3. it covers the entire file: nothing was appended or incrementally updated after signing. This
   is what defeats the incremental-update "shadow" attacks (Mainka, Mladenov, Rohlmann: hide,
   replace, hide-and-replace), every one of which appends a revision after the signature;
4. when revocation is configured (`crls` and/or `crl_path`, the CRLs provisioning publishes):
   a current CRL of the signer's CA must exist (else `revocation_unknown`: the server's own
   fault, the result is held back, not rejected) and must not list the signer (else
   `revoked_device`). A revoked signer is refused whenever it was revoked: the signing time in
   a B-B signature is the device's own claim, so "signed before the revocation" cannot be
   proven; the detail says which side of that claim the revocation lies;
5. it chains to one of the configured trust roots — and only to them: no system trust store, no
   fetching of certificates or revocation data — with a key usage allowing non-repudiation;
6. the signer certificate's commonName is the sending device's `device_id` (else
   `signer_not_registered`);
7. its XMP metadata can be read (`server.signed_fields`; else `fields_mismatch`): the verdict
   carries the signed fields, page count and document id, which ingest stores and compares the
   message's header with.

The centre's long-term copy (`Verifier.verify_centre_copy`) is the device's bytes followed by
updates the centre adds itself (a DSS with certificates and CRLs, RFC 3161 document timestamps):
accepted only there, and only if the device's bytes pass `verify`, are an exact prefix of the
copy, and pyHanko's difference analysis finds nothing after the signature but such updates.

Bad input never raises: it yields `Verdict(valid=False, reason=…)` (`server.verdict`) with a detail
a person can act on and no personal data. Verification blocks (pyHanko runs its own event loop):
call it from a worker thread. One verification runs at a time in a process (`PDF_LOCK`): pyHanko's
ASN.1 layer is not thread-safe. An error raised while verifying is taken for the bytes' fault only
if a second try raises it too: a valid result refused is a result lost. The device's bytes are read
under `RESULT_DECODE_LIMITS` (`server.decode_limits`), pyHanko's decoding limits tightened to what a
result needs; a file beyond them is refused as `too_complex`. Those limits bound decompression, not
parsing: the server runs `verify` in a verifier process with CPU and memory limits
(`server.sandbox`), and `VerifierSpec` is what such a process builds its `Verifier` from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.decode_limits import DecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from protocol.reasons import RejectReason
from server.crls import CrlSnapshot, CrlSource, revoked_detail, signed_by
from server.decode_limits import RESULT_DECODE_LIMITS
from server.errors import ConfigError, VerificationError
from server.signed_fields import SignedMetadataError, signed_metadata_of
from server.verdict import TOO_MUCH_DATA, TOO_MUCH_MEMORY, Verdict

if TYPE_CHECKING:
    from server.config import ServerSettings

log = logging.getLogger(__name__)

CLOCK_SKEW = dt.timedelta(minutes=5)
_DOC_TIMESTAMP = "/DocTimeStamp"
PDF_LOCK = threading.Lock()
"""Held while pyHanko reads or validates a PDF in this process.

asn1crypto (pyHanko's ASN.1 layer) is not thread-safe: the first use of a class in a process
fills its field tables in place (`Asn1Value._setup`), and a shared object, such as our trust
roots, parses its children lazily, in place (`Sequence._parse_children` empties the list, then
refills it). Another thread reading meanwhile sees a half-built table and raises IndexError or
KeyError, which `verify` would turn into a signature rejection of a valid result: the cause found
for the one valid result of 10,000 rejected by the sync benchmark (2 server processes x 2 ingest
workers). One verification at a time costs little: pyHanko's work holds the GIL anyway.
"""


# --- the verifier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierSpec:
    """A `Verifier`'s configuration as plain, picklable data: what a verifier process
    (`server.sandbox`) receives to build its own.

    Attributes:
        trust_roots: PEM of each trust root.
        crls: DER of each fixed CRL.
        crl_path: the CRL file or folder, re-read when it changes.
        tsa_roots: PEM of each TSA root.
        decode_limits: pyHanko's decoding limits for the device's bytes.
    """

    trust_roots: tuple[bytes, ...]
    crls: tuple[bytes, ...] = ()
    crl_path: Path | None = None
    tsa_roots: tuple[bytes, ...] = ()
    decode_limits: DecodeLimits = RESULT_DECODE_LIMITS

    def build(self) -> Verifier:
        """The verifier this describes.

        Raises:
            VerificationError: as `Verifier`.
        """
        return Verifier(
            [x509.load_pem_x509_certificate(pem) for pem in self.trust_roots],
            [x509.load_der_x509_crl(der) for der in self.crls],
            crl_path=self.crl_path,
            tsa_roots=[x509.load_pem_x509_certificate(pem) for pem in self.tsa_roots],
            decode_limits=self.decode_limits,
        )


class Verifier:
    """Verifies signed result PDFs against configured trust roots (and CRLs) only."""

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate],
        crls: Sequence[x509.CertificateRevocationList] = (),
        *,
        crl_path: Path | None = None,
        tsa_roots: Sequence[x509.Certificate] = (),
        decode_limits: DecodeLimits = RESULT_DECODE_LIMITS,
    ) -> None:
        """Configure the roots to trust and the CRLs to check.

        Args:
            trust_roots: the CA certificates that may issue document-signing certificates.
            crls: fixed revocation lists of those CAs; a signer listed in one is rejected.
            crl_path: the CRLs provisioning publishes (a file or folder, re-read when they
                change); when given, a missing or stale CRL holds results back.
            tsa_roots: the roots trusted for document timestamps on the centre's long-term
                copies (default: `trust_roots`).
            decode_limits: pyHanko's decoding limits for the device's bytes.

        Raises:
            VerificationError: no trust root, or a root that is not a CA certificate.
        """
        if not trust_roots:
            raise VerificationError(
                "no trust roots configured: give the provincial CA certificate to the verifier"
            )
        for root in [*trust_roots, *tsa_roots]:
            try:
                is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise VerificationError(
                    f"trust root {root.subject.rfc4514_string()} is not a CA certificate "
                    "(basicConstraints cA is not set): configure the CA's own certificate"
                )
        self.trust_roots: tuple[x509.Certificate, ...] = tuple(trust_roots)
        self.tsa_roots: tuple[x509.Certificate, ...] = tuple(tsa_roots or trust_roots)
        self._static_crls = tuple(crls)
        self._crl_source = CrlSource(crl_path) if crl_path is not None else None
        self._roots = [_asn1_cert(r) for r in self.trust_roots]
        self._tsa_roots = [_asn1_cert(r) for r in self.tsa_roots]
        for root in [*self._roots, *self._tsa_roots]:
            root.native  # noqa: B018 (parse it whole now: every thread shares these objects)
        self.decode_limits = decode_limits

    @property
    def spec(self) -> VerifierSpec:
        """What a verifier process needs to build the same verifier (picklable)."""
        return VerifierSpec(
            trust_roots=tuple(_pem(c) for c in self.trust_roots),
            crls=tuple(c.public_bytes(serialization.Encoding.DER) for c in self._static_crls),
            crl_path=self._crl_source.path if self._crl_source is not None else None,
            tsa_roots=tuple(_pem(c) for c in self.tsa_roots),
            decode_limits=self.decode_limits,
        )

    @property
    def checks_revocation(self) -> bool:
        """Whether signers are checked against CRLs."""
        return bool(self._static_crls) or self._crl_source is not None

    def current_crls(self) -> CrlSnapshot:
        """The CRLs in force now: the fixed ones and those at `crl_path`."""
        if self._crl_source is None:
            return CrlSnapshot(self._static_crls)
        published = self._crl_source.snapshot()
        return CrlSnapshot(self._static_crls + published.crls, published.problems)

    def signer_context(self, crls: Sequence[x509.CertificateRevocationList]) -> ValidationContext:
        """A pyHanko validation context for document signers: the trust roots, the CRLs, no
        fetching; with revocation configured, the signer must be covered by a current CRL.

        pyHanko's legacy soft/hard-fail modes consult a CRL only for certificates that declare a
        CRL distribution point, which ours do not: a configured CRL would be ignored. Hence
        CRL_REQUIRED for the end entity.
        """
        ee_rule = (
            RevocationCheckingRule.CRL_REQUIRED
            if self.checks_revocation
            else RevocationCheckingRule.NO_CHECK
        )
        return ValidationContext(
            trust_roots=self._roots,
            crls=[_asn1_crl(c) for c in crls],
            allow_fetching=False,
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy(
                    ee_certificate_rule=ee_rule,
                    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
                )
            ),
        )

    def tsa_context(self, crls: Sequence[x509.CertificateRevocationList]) -> ValidationContext:
        """A pyHanko validation context for the TSA: its roots, the known CRLs, no fetching.

        The TSA belongs to another authority whose CRLs may not be published to us: its
        revocation is checked where its certificate declares it (soft), and any CRL of its CA
        in `crl_path` is embedded in the long-term copies all the same.
        """
        return ValidationContext(
            trust_roots=self._tsa_roots,
            crls=[_asn1_crl(c) for c in crls],
            allow_fetching=False,
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy(
                    ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
                    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
                )
            ),
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
        _refuse_event_loop()
        failure: Exception | None = None
        for _attempt in range(2):
            try:
                with PDF_LOCK:
                    return self._verify(pdf, device_id)
            except PdfDecodeLimitError:
                log.warning("a PDF from device %s is beyond the decoding limits", device_id)
                return _reject(RejectReason.TOO_COMPLEX, TOO_MUCH_DATA)
            except MemoryError:
                # In a verifier process under RLIMIT_AS (server.sandbox): the limit was reached.
                log.warning("a PDF from device %s needs more memory than allowed", device_id)
                return _reject(RejectReason.TOO_COMPLEX, TOO_MUCH_MEMORY)
            except Exception as e:
                # Untrusted bytes can fail anywhere in a PDF parser, with any Python error; but
                # so can a fault of ours (a race, a transient failure). Only an error that comes
                # back on a second try is the bytes': a valid result refused is a result lost.
                if failure is None:
                    log.warning("verification raised %s; trying once more", type(e).__name__)
                failure = e
        assert failure is not None
        log.warning("signature check failed on malformed input: %s", type(failure).__name__)
        return _reject(
            RejectReason.SIGNATURE,
            f"the PDF or its signature could not be read ({type(failure).__name__}): send the "
            "signed file again",
        )

    def verify_centre_copy(self, copy: bytes, *, original: bytes, device_id: str) -> Verdict:
        """Verify the centre's long-term copy of a result: `original` (as the device sent it)
        followed only by updates the centre adds itself — DSS revisions and document timestamps.

        Args:
            copy: the augmented copy (B-LT / B-LTA).
            original: the bytes the device sent (they must pass `verify`).
            device_id: the device that sent them.

        Returns:
            The verdict on the copy; never raises for bad input.

        Raises:
            VerificationError: called on a running event loop.
        """
        verdict = self.verify(original, device_id=device_id)
        if not verdict.valid:
            return verdict
        if not copy.startswith(original):
            return replace(
                verdict,
                valid=False,
                reason=RejectReason.SIGNATURE,
                detail="the long-term copy does not begin with the bytes the device sent",
            )
        try:
            with PDF_LOCK:
                problem = self._check_ltv_updates(copy, len(original))
        except Exception as e:
            log.warning("long-term copy could not be read: %s", type(e).__name__)
            problem = f"the long-term copy could not be read ({type(e).__name__})"
        if problem is not None:
            return replace(verdict, valid=False, reason=RejectReason.SIGNATURE, detail=problem)
        return replace(verdict, detail="signature valid; long-term copy holds only LTV updates")

    # --- internals ---

    def _verify(self, pdf: bytes, device_id: str) -> Verdict:
        # ISO 32000 lets the header start anywhere in the first 1024 bytes.
        if b"%PDF-" not in pdf[:1024]:
            return _reject(RejectReason.SIGNATURE, "the file is not a PDF")
        reader = PdfFileReader(io.BytesIO(pdf), strict=False, decode_limits=self.decode_limits)
        signatures = reader.embedded_signatures
        if not signatures:
            return _reject(RejectReason.SIGNATURE, "the PDF is not signed: sign it on the device")
        if len(signatures) != 1:
            return _reject(
                RejectReason.SIGNATURE,
                f"the PDF holds {len(signatures)} signatures, expected exactly one",
            )
        snapshot = self.current_crls() if self.checks_revocation else CrlSnapshot(())
        # No difference analysis: nothing may follow the signature at all (checked below), so
        # there is nothing to analyse, and it would only cost time on every result.
        status = validate_pdf_signature(
            signatures[0], self.signer_context(snapshot.crls), skip_diff=True
        )
        signer_verdict = _signer_verdict(status)

        def reject(reason: RejectReason, detail: str) -> Verdict:
            return replace(signer_verdict, reason=reason, detail=detail)

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
        if self.checks_revocation:
            revoked = self._revocation_verdict(status, signer_verdict, snapshot)
            if revoked is not None:
                return revoked
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
        if signer_verdict.signer_common_name != device_id:
            return reject(
                RejectReason.SIGNER_NOT_REGISTERED,
                f"the document was signed by {signer_verdict.signer_common_name!r}, not by the "
                f"sending device {device_id!r}",
            )
        try:
            signed = signed_metadata_of(reader)
        except SignedMetadataError as e:
            return reject(
                RejectReason.FIELDS_MISMATCH,
                f"{e}: the fields cannot be tied to the signature; sign the document again",
            )
        return replace(
            signer_verdict, valid=True, reason=None, detail="signature valid", signed=signed
        )

    def _revocation_verdict(
        self, status: PdfSignatureStatus, signer_verdict: Verdict, snapshot: CrlSnapshot
    ) -> Verdict | None:
        """A rejecting verdict if the signer is revoked or its revocation status is unknown."""
        signer = x509.load_der_x509_certificate(status.signing_cert.dump())
        issuer = next((r for r in self.trust_roots if r.subject == signer.issuer), None)
        if issuer is None:
            return None  # not ours: the trust check below rejects it
        now = dt.datetime.now(dt.UTC)
        own = [c for c in snapshot.crls if c.issuer == issuer.subject and signed_by(c, issuer)]
        where = f" at {self._crl_source.path}" if self._crl_source is not None else ""
        ca_name = issuer.subject.rfc4514_string()
        problems = f" ({'; '.join(snapshot.problems)})" if snapshot.problems else ""
        if not own:
            log.error("no CRL of %s%s%s: results are held back", ca_name, where, problems)
            return replace(
                signer_verdict,
                reason=RejectReason.REVOCATION_UNKNOWN,
                detail=f"the server has no CRL of {ca_name}{where}{problems}: publish one "
                "(`sohoa provision crl`) where the server's crl_path points",
            )
        for crl in own:
            entry = crl.get_revoked_certificate_by_serial_number(signer.serial_number)
            if entry is not None:
                return replace(
                    signer_verdict,
                    reason=RejectReason.REVOKED_DEVICE,
                    detail=revoked_detail(entry, signer_verdict.signing_time),
                )
        current = [
            c
            for c in own
            if c.next_update_utc is not None
            and c.next_update_utc >= now
            and c.last_update_utc <= now + CLOCK_SKEW
        ]
        if not current:
            newest = max(own, key=lambda c: c.last_update_utc)
            expired = newest.next_update_utc.isoformat() if newest.next_update_utc else "unknown"
            log.error("the CRL of %s%s is stale (nextUpdate %s)", ca_name, where, expired)
            return replace(
                signer_verdict,
                reason=RejectReason.REVOCATION_UNKNOWN,
                detail=f"the server's CRL of {ca_name}{where} is stale (its nextUpdate was "
                f"{expired}): publish a fresh one (`sohoa provision crl`)",
            )
        return None

    def _check_ltv_updates(self, copy: bytes, original_size: int) -> str | None:
        """Why the updates after the device's signature are not pure LTV updates, or None."""
        reader = PdfFileReader(io.BytesIO(copy), strict=False)
        signatures = reader.embedded_signatures
        if not signatures:
            return "the long-term copy holds no signature"
        first, later = signatures[0], signatures[1:]
        byte_range = [int(x) for x in first.byte_range]
        if first.sig_object_type == _DOC_TIMESTAMP or byte_range[2] + byte_range[3] != (
            original_size
        ):
            return "the first signature of the long-term copy is not the device's"
        crls = self.current_crls().crls
        status = validate_pdf_signature(first, self.signer_context(crls))
        if not (status.intact and status.valid):
            return "the device's signature does not verify in the long-term copy"
        level = status.modification_level
        if level is None or level > ModificationLevel.LTA_UPDATES or not status.docmdp_ok:
            found = level.name if level is not None else "unreadable changes"
            return (
                f"the long-term copy was changed after signing ({found}), beyond the "
                "validation data and document timestamps the centre adds"
            )
        for timestamp in later:
            if timestamp.sig_object_type != _DOC_TIMESTAMP:
                return "the long-term copy holds a second signature, not a document timestamp"
            ts = validate_pdf_timestamp(timestamp, self.tsa_context(crls))
            if not (ts.intact and ts.valid):
                return "a document timestamp of the long-term copy does not verify"
            if not ts.trusted:
                return "a document timestamp of the long-term copy is not from a trusted TSA"
        return None


def verifier_from_settings(settings: ServerSettings) -> Verifier:
    """The verifier the server's settings describe: `ca_file` as trust root, the CRLs at
    `crl_path` (when set), `tsa_ca_file` for document timestamps.

    Raises:
        ConfigError: a file is missing or is not a PEM certificate.
    """
    (ca_file,) = settings.require_files("ca_file")
    roots = _read_pem_certificates(ca_file, "ca_file")
    tsa_roots: list[x509.Certificate] = []
    if settings.tsa_ca_file is not None:
        (tsa_file,) = settings.require_files("tsa_ca_file")
        tsa_roots = _read_pem_certificates(tsa_file, "tsa_ca_file")
    if settings.crl_path is None:
        log.warning("crl_path is not set: signers are not checked for revocation")
    return Verifier(roots, crl_path=settings.crl_path, tsa_roots=tsa_roots)


def _read_pem_certificates(path: Path, key: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{key} {path} is not a PEM certificate: {e}") from e
    return certs


def _refuse_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise VerificationError(
        "Verifier.verify blocks and cannot run on an event loop: call it from a worker thread"
    )


def _reject(reason: RejectReason, detail: str) -> Verdict:
    return Verdict(valid=False, reason=reason, detail=detail)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_crl(crl: x509.CertificateRevocationList) -> asn1_crl.CertificateList:
    return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def _signer_verdict(status: PdfSignatureStatus) -> Verdict:
    """A rejecting verdict (reason to fill in) carrying what the signature says of its signer."""
    cert: asn1_x509.Certificate = status.signing_cert
    subject = cert.subject.native
    signing_time = status.signer_reported_dt
    if signing_time is not None and signing_time.tzinfo is None:
        signing_time = signing_time.replace(tzinfo=dt.UTC)
    return Verdict(
        valid=False,
        reason=RejectReason.SIGNATURE,
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
