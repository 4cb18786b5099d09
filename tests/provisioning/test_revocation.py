"""Revocation at the CA: the record of revoked certificates, numbered CRLs, and the
`sohoa provision revoke` / `crl` commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from provisioning.ca import (
    CRL_FILE,
    REVOCATIONS_FILE,
    CertificateAuthority,
    Profile,
    Revocation,
    RevocationReason,
    load_revocations,
    new_key,
    publish_crl,
    revoke_certificate,
    write_certificate,
)
from provisioning.cli import app
from provisioning.errors import CertificateError


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ca"
    CertificateAuthority.create("Sohoa Test CA").save(folder)
    return folder


def _issue(ca_dir: Path, device_id: str = "commune-07.kiosk") -> x509.Certificate:
    ca = CertificateAuthority.load(ca_dir)
    return ca.issue(new_key().public_key(), device_id, Profile.DOCUMENT_SIGNING, unit="UBND xã")


def _read_crl(path: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(path.read_bytes())


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_revoke_then_publish_lists_the_serial_with_its_reason(ca_dir: Path) -> None:
    cert, kept = _issue(ca_dir), _issue(ca_dir, "commune-08.kiosk")
    revocation = revoke_certificate(ca_dir, cert, RevocationReason.KEY_COMPROMISE)
    assert revocation.serial == cert.serial_number
    assert revocation.common_name == "commune-07.kiosk"
    crl = _read_crl(publish_crl(ca_dir))
    ca = CertificateAuthority.load(ca_dir)
    assert crl.is_signature_valid(ca.key.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert _number(crl) == 1
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key()).digest
    )


def test_revoking_twice_changes_nothing_and_each_crl_is_numbered_higher(ca_dir: Path) -> None:
    cert = _issue(ca_dir)
    first = revoke_certificate(ca_dir, cert)
    assert revoke_certificate(ca_dir, cert, RevocationReason.SUPERSEDED) == first
    assert load_revocations(ca_dir) == [first]
    numbers = [_number(_read_crl(publish_crl(ca_dir))) for _ in range(3)]
    assert numbers == [1, 2, 3]
    crl = _read_crl(ca_dir / CRL_FILE)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    with pytest.raises(x509.ExtensionNotFound):  # RFC 5280: "unspecified" is left out
        entry.extensions.get_extension_for_class(x509.CRLReason)


def test_a_certificate_of_another_ca_cannot_be_revoked_here(ca_dir: Path) -> None:
    other = CertificateAuthority.create("Another CA")
    foreign = other.issue(new_key().public_key(), "x", Profile.DOCUMENT_SIGNING)
    with pytest.raises(CertificateError, match="not issued by the CA"):
        revoke_certificate(ca_dir, foreign)
    assert not (ca_dir / REVOCATIONS_FILE).exists()


def test_a_damaged_record_is_an_error_that_says_so(ca_dir: Path) -> None:
    (ca_dir / REVOCATIONS_FILE).write_text('{"crl_number": 1, "revoked": [{"serial": "zz"}]}')
    with pytest.raises(CertificateError, match="damaged"):
        publish_crl(ca_dir)


def test_crl_accepts_revocations_with_their_dates(ca_dir: Path) -> None:
    ca = CertificateAuthority.load(ca_dir)
    when = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
    crl = ca.crl([Revocation(41, when, RevocationReason.SUPERSEDED), 42], next_update_days=2)
    entry = crl.get_revoked_certificate_by_serial_number(41)
    assert entry is not None and entry.revocation_date_utc == when
    assert crl.get_revoked_certificate_by_serial_number(42) is not None
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=2, minutes=1)


def test_the_revoke_and_crl_commands(ca_dir: Path, tmp_path: Path) -> None:
    cert = _issue(ca_dir)
    cert_file = tmp_path / "signing.pem"
    write_certificate(cert, cert_file)
    out = tmp_path / "published" / "crl.pem"
    runner = CliRunner()
    done = runner.invoke(
        app, ["revoke", "--ca", str(ca_dir), "--cert", str(cert_file), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert "commune-07.kiosk" in done.output and str(out) in done.output
    assert _read_crl(out).get_revoked_certificate_by_serial_number(cert.serial_number)
    record = json.loads((ca_dir / REVOCATIONS_FILE).read_text())
    assert record["revoked"][0]["serial"] == f"{cert.serial_number:x}"

    done = runner.invoke(app, ["crl", "--ca", str(ca_dir), "--days", "2"])
    assert done.exit_code == 0, done.output
    refreshed = _read_crl(ca_dir / CRL_FILE)
    assert _number(refreshed) == 2
    assert refreshed.get_revoked_certificate_by_serial_number(cert.serial_number)

    bad = runner.invoke(app, ["revoke", "--ca", str(ca_dir), "--cert", str(tmp_path / "none")])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, CertificateError)
