"""PAdES signing through pyHanko's PKCS#11 signer on a real SoftHSM2 token."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.errors import SigningError, TokenError
from edge.signing import DEFAULT_REASON, DocumentSigner
from edge.token import Token
from server.verify import Verifier
from tests.fixtures.token import BlankToken, SigningIdentity, make_pdf, provision_signing_identity


def _signer(identity: SigningIdentity) -> DocumentSigner:
    return DocumentSigner(
        identity.token, identity.key_id, organisation=identity.unit, location="Vạn Ninh"
    )


def test_signature_is_pades_with_reason_location_and_time(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = _signer(signing_identity).sign(unsigned_pdf)

    assert signed.startswith(unsigned_pdf)  # an incremental update: the original is untouched
    # Pillow writes generation 65536 for the free entry 0: pyHanko reads that only non-strictly.
    (sig,) = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == DEFAULT_REASON
    assert sig.sig_object["/Location"] == "Vạn Ninh"
    assert sig.sig_object["/Name"] == signing_identity.unit
    assert sig.self_reported_timestamp is not None
    assert sig.self_reported_timestamp >= before - dt.timedelta(seconds=1)
    assert sig.signer_cert.dump() == signing_identity.certificate.public_bytes(
        serialization.Encoding.DER
    )
    signed_attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= signed_attrs
    # PAdES (ETSI EN 319 142-1) forbids the CMS signing-time attribute; the time is /M.
    assert "signing_time" not in signed_attrs


def test_signed_pdf_verifies_against_the_ca(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    signed = _signer(signing_identity).sign(unsigned_pdf)
    verdict = Verifier([signing_identity.ca.cert]).verify(
        signed, device_id=signing_identity.device_id
    )
    assert verdict.valid, verdict.detail


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils is not installed")
def test_poppler_finds_the_signature_intact(
    signing_identity: SigningIdentity, unsigned_pdf: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(_signer(signing_identity).sign(unsigned_pdf))
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature Validation: Signature is Valid." in done.stdout, done.stdout
    assert "Signature Type: ETSI.CAdES.detached" in done.stdout
    assert f"Signer Certificate Common Name: {signing_identity.device_id}" in done.stdout
    assert "Total document signed" in done.stdout


def test_one_signer_signs_many_documents_from_many_threads(
    signing_identity: SigningIdentity,
) -> None:
    signer = _signer(signing_identity)
    verifier = Verifier([signing_identity.ca.cert])
    documents = [make_pdf(f"QUYET DINH so {n:02d}/QD-UBND") for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        signed = list(pool.map(signer.sign, documents))
    for original, result in zip(documents, signed, strict=True):
        assert result.startswith(original)
        verdict = verifier.verify(result, device_id=signing_identity.device_id)
        assert verdict.valid, verdict.detail


def test_not_a_pdf_is_a_signing_error(signing_identity: SigningIdentity) -> None:
    with pytest.raises(SigningError, match=r"not a readable PDF|could not be signed"):
        _signer(signing_identity).sign(b"this is not a PDF at all")


def test_signer_needs_a_certificate_under_the_key_id(token: Token) -> None:
    token.generate_signing_key(b"\x01", "no-certificate-yet")
    with pytest.raises(TokenError, match="enroll the device"):
        DocumentSigner(token, b"\x01")


def test_signing_after_the_token_closed_is_a_token_error(
    blank_token: BlankToken, signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    signer = _signer(signing_identity)
    signing_identity.token.close()
    with pytest.raises(TokenError, match="is closed"):
        signer.sign(unsigned_pdf)
    # Reopened, the key and certificate are still there and sign again.
    with blank_token.open() as token:
        signed = DocumentSigner(token, signing_identity.key_id).sign(unsigned_pdf)
    assert (
        Verifier([signing_identity.ca.cert])
        .verify(signed, device_id=signing_identity.device_id)
        .valid
    )


async def test_signing_on_an_event_loop_is_refused(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    with pytest.raises(SigningError, match="worker thread"):
        _signer(signing_identity).sign(unsigned_pdf)


def test_provisioned_identity_names_the_device(signing_identity: SigningIdentity) -> None:
    again = provision_signing_identity(
        signing_identity.token, signing_identity.ca, key_id=b"\x02", device_id="appliance-02"
    )
    signed = DocumentSigner(again.token, again.key_id).sign(make_pdf())
    verdict = Verifier([again.ca.cert]).verify(signed, device_id="appliance-02")
    assert verdict.valid, verdict.detail
    assert verdict.signer_common_name == "appliance-02"
