"""Revocation at the server, from the CRLs provisioning publishes: `sohoa provision revoke`
writes a fresh CRL, the verifier (`crl_path`) re-reads it and refuses the revoked signer; a
missing or stale CRL holds results back with a verdict that says what to do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from typer.testing import CliRunner

from protocol.reasons import RejectReason
from provisioning.ca import (
    CertificateAuthority,
    RevocationReason,
    publish_crl,
    revoke_certificate,
    write_certificate,
)
from provisioning.cli import app as provision_app
from server.config import ServerSettings
from server.verdict import Verdict
from server.verify import Verifier, verifier_from_settings
from tests.fixtures.token import SignedSample


@pytest.fixture
def ca_dir(signed_sample: SignedSample, tmp_path: Path) -> Path:
    """A copy of the signing CA's folder, for this test's revocations only."""
    folder = tmp_path / "ca"
    signed_sample.ca.save(folder)
    return folder


def _verify(verifier: Verifier, sample: SignedSample) -> Verdict:
    return verifier.verify(sample.signed, device_id=sample.device_id)


def _unknown(verdict: Verdict, *phrases: str) -> None:
    assert verdict.valid is False
    assert verdict.reason is RejectReason.REVOCATION_UNKNOWN
    assert verdict.retry_later
    for phrase in phrases:
        assert phrase in verdict.detail


def _crl(
    ca: CertificateAuthority, *, next_update: dt.timedelta, serials: tuple[int, ...] = ()
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(days=10))
        .next_update(now + next_update)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_a_revocation_published_by_provisioning_is_seen_without_a_restart(
    ca_dir: Path, signed_sample: SignedSample, tmp_path: Path
) -> None:
    crl_file = publish_crl(ca_dir, tmp_path / "published" / "crl.pem")
    verifier = Verifier([signed_sample.ca.cert], crl_path=crl_file)
    assert _verify(verifier, signed_sample).valid  # covered by a current CRL, not listed

    cert_file = tmp_path / "device-signing.pem"
    write_certificate(signed_sample.certificate, cert_file)
    done = CliRunner().invoke(
        provision_app,
        [
            "revoke",
            "--ca",
            str(ca_dir),
            "--cert",
            str(cert_file),
            "--reason",
            "key-compromise",
            "--out",
            str(crl_file),
        ],
    )
    assert done.exit_code == 0, done.output
    assert signed_sample.device_id in done.output

    verdict = _verify(verifier, signed_sample)
    assert verdict.valid is False
    assert verdict.reason is RejectReason.REVOKED_DEVICE
    assert not verdict.retry_later
    assert "keyCompromise" in verdict.detail and "the document claims" in verdict.detail
    assert verdict.signer_common_name == signed_sample.device_id


@pytest.mark.parametrize(("hours", "side"), [(-1, "before"), (1, "after")])
def test_a_revoked_signer_is_refused_on_either_side_of_its_claimed_signing_time(
    hours: int, side: str, ca_dir: Path, signed_sample: SignedSample, tmp_path: Path
) -> None:
    # The signing time of a B-B signature is the device's own claim, so revoked is refused
    # whenever the revocation happened; the detail says which side of the claim it lies.
    verdict = _verify(Verifier([signed_sample.ca.cert]), signed_sample)
    assert verdict.signing_time is not None
    revoke_certificate(
        ca_dir,
        signed_sample.certificate,
        RevocationReason.CESSATION_OF_OPERATION,
        at=verdict.signing_time + dt.timedelta(hours=hours),
    )
    crl_file = publish_crl(ca_dir, tmp_path / "crl.pem")
    verdict = _verify(Verifier([signed_sample.ca.cert], crl_path=crl_file), signed_sample)
    assert verdict.reason is RejectReason.REVOKED_DEVICE
    assert f"{side} the signing time the document claims" in verdict.detail
    assert "cessationOfOperation" in verdict.detail


def test_a_missing_crl_holds_results_back_and_says_where(
    signed_sample: SignedSample, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such" / "crl.pem"
    verdict = _verify(Verifier([signed_sample.ca.cert], crl_path=missing), signed_sample)
    _unknown(verdict, str(missing), "sohoa provision crl")
    empty = tmp_path / "empty"
    empty.mkdir()
    _unknown(_verify(Verifier([signed_sample.ca.cert], crl_path=empty), signed_sample), "no CRL")


def test_a_stale_crl_holds_results_back_and_says_when_it_expired(
    signed_sample: SignedSample, tmp_path: Path
) -> None:
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(_crl(signed_sample.ca, next_update=-dt.timedelta(days=2)))
    verdict = _verify(Verifier([signed_sample.ca.cert], crl_path=crl_file), signed_sample)
    _unknown(verdict, "stale", "nextUpdate", "sohoa provision crl")


def test_only_a_crl_signed_by_the_signers_ca_counts(
    signed_sample: SignedSample, tmp_path: Path
) -> None:
    folder = tmp_path / "crls"
    folder.mkdir()
    other = CertificateAuthority.create("Another CA")
    (folder / "other.pem").write_bytes(_crl(other, next_update=dt.timedelta(days=7)))
    verifier = Verifier([signed_sample.ca.cert], crl_path=folder)
    _unknown(_verify(verifier, signed_sample), "no CRL of")
    # A CRL naming our CA as issuer but signed by another key is ignored, even if it lists
    # the signer: nobody but the CA can revoke its certificates.
    forged = CertificateAuthority(cert=signed_sample.ca.cert, key=other.key)
    serial = signed_sample.certificate.serial_number
    (folder / "forged.pem").write_bytes(
        _crl(forged, next_update=dt.timedelta(days=7), serials=(serial,))
    )
    _unknown(_verify(verifier, signed_sample), "no CRL of")


def test_a_crl_folder_ignores_certificates_and_survives_a_damaged_file(
    ca_dir: Path, signed_sample: SignedSample, tmp_path: Path
) -> None:
    folder = tmp_path / "crls"
    publish_crl(ca_dir, folder / "provincial.pem")
    write_certificate(signed_sample.ca.cert, folder / "ca.pem")  # not a CRL: skipped
    (folder / "broken.crl").write_bytes(b"\x30\x03 not DER")
    verdict = _verify(Verifier([signed_sample.ca.cert], crl_path=folder), signed_sample)
    assert verdict.valid, verdict.detail


def test_the_server_settings_build_a_verifier_that_checks_revocation(
    ca_dir: Path, signed_sample: SignedSample, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    write_certificate(signed_sample.ca.cert, ca_file)
    settings = ServerSettings(data_dir=tmp_path, ca_file=ca_file, crl_path=tmp_path / "none.pem")
    verifier = verifier_from_settings(settings)
    assert verifier.checks_revocation
    _unknown(_verify(verifier, signed_sample))
    revoke_certificate(ca_dir, signed_sample.certificate)
    publish_crl(ca_dir, tmp_path / "none.pem")
    assert _verify(verifier, signed_sample).reason is RejectReason.REVOKED_DEVICE
