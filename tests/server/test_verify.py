"""Server-side verification of signed results: real signatures made on a SoftHSM2 token."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from protocol.reasons import RejectReason
from provisioning.ca import CertificateAuthority, Profile, new_key
from server.errors import VerificationError
from server.verdict import Verdict
from server.verify import Verifier
from tests.fixtures.token import SignedSample


@pytest.fixture(scope="module")
def verifier(signed_sample: SignedSample) -> Verifier:
    return Verifier([signed_sample.ca.cert])


def _rejected(verdict: Verdict, reason: RejectReason) -> None:
    assert verdict.valid is False
    assert verdict.reason is reason, verdict.detail
    assert verdict.detail


def test_signed_result_is_valid_and_names_its_signer(
    verifier: Verifier, signed_sample: SignedSample
) -> None:
    verdict = verifier.verify(signed_sample.signed, device_id=signed_sample.device_id)
    assert verdict.valid, verdict.detail
    assert verdict.reason is None
    assert verdict.signer_common_name == signed_sample.device_id
    assert verdict.signer_unit == signed_sample.unit
    der = signed_sample.certificate.public_bytes(serialization.Encoding.DER)
    assert verdict.signer_cert_sha256 == hashlib.sha256(der).hexdigest()
    assert verdict.signing_time is not None
    age = dt.datetime.now(dt.UTC) - verdict.signing_time
    assert dt.timedelta(0) <= age < dt.timedelta(hours=1)


def test_another_ca_is_not_trusted(signed_sample: SignedSample) -> None:
    other = Verifier([CertificateAuthority.create("Some Other CA").cert])
    verdict = other.verify(signed_sample.signed, device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "not trusted" in verdict.detail
    assert verdict.signer_common_name == signed_sample.device_id


def test_signer_must_be_the_sending_device(verifier: Verifier, signed_sample: SignedSample) -> None:
    verdict = verifier.verify(signed_sample.signed, device_id="another-appliance")
    _rejected(verdict, RejectReason.SIGNER_NOT_REGISTERED)
    assert "another-appliance" in verdict.detail


def test_appended_bytes_are_rejected(verifier: Verifier, signed_sample: SignedSample) -> None:
    verdict = verifier.verify(signed_sample.signed + b"\n% appended\n", device_id="x")
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "whole file" in verdict.detail


def test_an_incremental_update_after_signing_is_rejected(
    verifier: Verifier, signed_sample: SignedSample
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_sample.signed), strict=False)
    writer.root["/Lang"] = generic.TextStringObject("vi")
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    verdict = verifier.verify(out.getvalue(), device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "whole file" in verdict.detail


def test_a_changed_byte_is_rejected(verifier: Verifier, signed_sample: SignedSample) -> None:
    data = bytearray(signed_sample.signed)
    middle = len(signed_sample.unsigned) // 2  # inside the page image, well within the signed range
    data[middle] ^= 0x01
    verdict = verifier.verify(bytes(data), device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "changed after it was signed" in verdict.detail


def test_an_unsigned_pdf_is_rejected(verifier: Verifier, signed_sample: SignedSample) -> None:
    verdict = verifier.verify(signed_sample.unsigned, device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "not signed" in verdict.detail
    assert verdict.signer_common_name is None


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pdf", b"%PDF-1.7\n garbage without structure", b"%PDF-1.4\n" + b"\x00" * 4096],
    ids=["empty", "text", "pdf-header-only", "zeros"],
)
def test_garbage_is_rejected_without_raising(verifier: Verifier, data: bytes) -> None:
    _rejected(verifier.verify(data, device_id="x"), RejectReason.SIGNATURE)


def test_a_truncated_signed_pdf_is_rejected(
    verifier: Verifier, signed_sample: SignedSample
) -> None:
    truncated = signed_sample.signed[: len(signed_sample.signed) - 200]
    verdict = verifier.verify(truncated, device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)


def test_a_second_signature_is_rejected(signed_sample: SignedSample) -> None:
    # The device's signer refuses to sign a signed PDF, so the second signature is made with
    # pyHanko directly, by a key the same CA certified for the same device.
    key = new_key()
    cert = signed_sample.ca.issue(
        key.public_key(), signed_sample.device_id, Profile.DOCUMENT_SIGNING
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=load_private_key_from_pemder_data(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            None,
        ),
        cert_registry=None,  # type: ignore[arg-type]
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_sample.signed), strict=False)
    twice = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(
            field_name="Signature2", subfilter=fields.SigSeedSubFilter.PADES
        ),
        signer=signer,
    ).getvalue()
    verdict = Verifier([signed_sample.ca.cert]).verify(twice, device_id=signed_sample.device_id)
    _rejected(verdict, RejectReason.SIGNATURE)
    assert "2 signatures" in verdict.detail


def test_a_revoked_signer_is_rejected(signed_sample: SignedSample) -> None:
    crl = signed_sample.ca.crl([signed_sample.certificate.serial_number])
    verdict = Verifier([signed_sample.ca.cert], crls=[crl]).verify(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    _rejected(verdict, RejectReason.REVOKED_DEVICE)


def test_a_crl_of_other_serials_changes_nothing(signed_sample: SignedSample) -> None:
    crl = signed_sample.ca.crl([signed_sample.certificate.serial_number + 1])
    verdict = Verifier([signed_sample.ca.cert], crls=[crl]).verify(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    assert verdict.valid, verdict.detail


def test_verifier_needs_a_trust_root() -> None:
    with pytest.raises(VerificationError, match="no trust roots"):
        Verifier([])


def test_a_leaf_certificate_is_not_a_trust_root(signing_ca: CertificateAuthority) -> None:
    leaf = signing_ca.issue(new_key().public_key(), "appliance-09", Profile.DOCUMENT_SIGNING)
    with pytest.raises(VerificationError, match="not a CA certificate"):
        Verifier([leaf])


async def test_verify_refuses_to_block_an_event_loop(
    verifier: Verifier, signed_sample: SignedSample
) -> None:
    with pytest.raises(VerificationError, match="worker thread"):
        verifier.verify(signed_sample.signed, device_id=signed_sample.device_id)


def test_an_expired_crl_fails_closed(signed_sample: SignedSample) -> None:
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signed_sample.ca.cert.subject)
        .last_update(now - dt.timedelta(days=10))
        .next_update(now - dt.timedelta(days=3))
        .sign(signed_sample.ca.key, hashes.SHA256())
    )
    verdict = Verifier([signed_sample.ca.cert], crls=[crl]).verify(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    # Fail closed, but as the server's fault: the result is held back, not rejected.
    _rejected(verdict, RejectReason.REVOCATION_UNKNOWN)
    assert verdict.retry_later
    assert "stale" in verdict.detail
