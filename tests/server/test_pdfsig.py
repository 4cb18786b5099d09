"""An independent second opinion: poppler's `pdfsig` (NSS underneath) checks our signatures, with
the provincial CA trusted through an NSS database made by `certutil` (Debian libnss3-tools), and
must agree with our verifier — valid and trusted where we accept, and not where we refuse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from protocol.reasons import RejectReason
from provisioning.ca import CertificateAuthority, write_certificate
from server.ltv import LtvCopy
from server.verify import Verifier
from tests.fixtures.token import SignedSample
from tests.server import shadow

VALID = "Signature Validation: Signature is Valid."
TRUSTED = "Certificate Validation: Certificate is Trusted."


def _nss_db(folder: Path, ca: CertificateAuthority | None) -> str:
    """A new NSS database in `folder`, trusting `ca` for signing (or nothing); its -nssdir."""
    folder.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, timeout=30
    )
    if ca is not None:
        ca_file = folder / "ca.pem"
        write_certificate(ca.cert, ca_file)
        trust = ["-n", "Sohoa CA", "-t", "CT,C,C", "-i", str(ca_file)]
        subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", *trust], check=True, timeout=30)
    return f"sql:{folder}"


@pytest.fixture(scope="module")
def nssdir(signing_ca: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory) -> str:
    return _nss_db(tmp_path_factory.mktemp("nss") / "db", signing_ca)


def _pdfsig(pdf: bytes, nssdir: str, folder: Path) -> str:
    path = folder / "checked.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdfsig", "-nssdir", nssdir, str(path)], capture_output=True, text=True, timeout=60
    )
    return done.stdout


def _first_signature(report: str) -> str:
    return report.split("Signature #2:")[0]


def test_pdfsig_agrees_that_a_signed_result_is_valid_and_trusted(
    signed_sample: SignedSample, nssdir: str, tmp_path: Path
) -> None:
    report = _pdfsig(signed_sample.signed, nssdir, tmp_path)
    assert VALID in report and TRUSTED in report, report
    assert "Total document signed" in report
    assert signed_sample.device_id in report
    verdict = Verifier([signed_sample.ca.cert]).verify(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    assert verdict.valid


def test_pdfsig_disagrees_with_a_tampered_file(
    signed_sample: SignedSample, nssdir: str, tmp_path: Path
) -> None:
    data = bytearray(signed_sample.signed)
    data[len(signed_sample.unsigned) // 2] ^= 0x01
    report = _pdfsig(bytes(data), nssdir, tmp_path)
    assert "Signature Validation:" in report
    assert VALID not in report, report
    verdict = Verifier([signed_sample.ca.cert]).verify(
        bytes(data), device_id=signed_sample.device_id
    )
    assert not verdict.valid


def test_pdfsig_does_not_trust_a_ca_that_is_not_in_its_database(
    signed_sample: SignedSample, tmp_path: Path
) -> None:
    report = _pdfsig(signed_sample.signed, _nss_db(tmp_path / "empty", None), tmp_path)
    assert VALID in report and TRUSTED not in report, report
    other = Verifier([CertificateAuthority.create("Not Our CA").cert])
    assert not other.verify(signed_sample.signed, device_id=signed_sample.device_id).valid


def test_pdfsig_sees_a_revocation_from_our_crl(signed_sample: SignedSample, tmp_path: Path) -> None:
    nssdir = _nss_db(tmp_path / "db", signed_sample.ca)
    crl_file = tmp_path / "crl.der"
    crl = signed_sample.ca.crl([signed_sample.certificate.serial_number])
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    subprocess.run(
        ["crlutil", "-I", "-d", nssdir, "-i", str(crl_file), "-B"], check=True, timeout=30
    )
    report = _pdfsig(signed_sample.signed, nssdir, tmp_path)
    assert "Certificate has been Revoked." in report, report
    ours = Verifier([signed_sample.ca.cert], crls=[crl]).verify(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    assert not ours.valid and ours.reason is RejectReason.REVOKED_DEVICE


def test_pdfsig_still_finds_the_b_lta_copy_valid(
    lta_sample: LtvCopy, nssdir: str, tmp_path: Path
) -> None:
    report = _pdfsig(lta_sample.pdf, nssdir, tmp_path)
    first = _first_signature(report)
    assert VALID in first and TRUSTED in first, report
    # The document timestamp is the second "signature"; poppler 22 does not check RFC 3161
    # timestamps (it says so) — pyHanko does, in test_ltv.
    assert "Signature #2:" in report


def test_pdfsig_flags_a_shadow_update_as_not_covering_the_file(
    signed_sample: SignedSample, nssdir: str, tmp_path: Path
) -> None:
    # pdfsig reports the signature itself as valid — the signed bytes are intact — but no
    # longer covering the whole document; our verifier rejects it for exactly that.
    body = shadow.stream(b"BT /F1 14 Tf 30 400 Td (" + shadow.HIDDEN_TEXT.encode() + b") Tj ET")
    attacked = shadow.append_update(signed_sample.signed, {999: body})
    report = _pdfsig(attacked, nssdir, tmp_path)
    assert "Not total document signed" in report, report
    verdict = Verifier([signed_sample.ca.cert]).verify(attacked, device_id=signed_sample.device_id)
    assert not verdict.valid and "whole file" in verdict.detail
