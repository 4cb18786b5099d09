"""The provincial CA: issuing, CSR checks, CRLs and storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.ca import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CertificateAuthority,
    Profile,
    new_key,
    read_certificate,
)
from provisioning.errors import CertificateError


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Sohoa Test CA")


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _csr(common_name: str) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(new_key(), hashes.SHA256())
    )


def test_ca_is_a_self_signed_ca(ca: CertificateAuthority) -> None:
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    ca.cert.verify_directly_issued_by(ca.cert)
    usage = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_document_signing_certificate_names_device_and_unit(ca: CertificateAuthority) -> None:
    key = new_key()
    cert = ca.issue(key.public_key(), "appliance-01", Profile.DOCUMENT_SIGNING, unit="UBND xã A")
    cert.verify_directly_issued_by(ca.cert)
    assert _cn(cert.subject) == "appliance-01"
    unit = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    assert unit == "UBND xã A"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_tls_profiles_carry_their_extended_key_usage(ca: CertificateAuthority) -> None:
    client = ca.issue(new_key().public_key(), "appliance-01", Profile.TLS_CLIENT)
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = ca.issue(
        new_key().public_key(),
        "broker",
        Profile.TLS_SERVER,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )
    alt = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in alt.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_tls_server_certificate_needs_a_name(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError, match="DNS name or IP address"):
        ca.issue(new_key().public_key(), "broker", Profile.TLS_SERVER)


def test_issue_from_csr_sets_the_subject_itself(ca: CertificateAuthority) -> None:
    csr = _csr("i-would-like-to-be-the-ca")
    cert = ca.issue_from_csr(csr, "appliance-02", Profile.DOCUMENT_SIGNING, unit="UBND xã B")
    assert _cn(cert.subject) == "appliance-02"
    assert cert.public_key() == csr.public_key()


def test_issue_from_csr_refuses_a_tampered_csr(ca: CertificateAuthority) -> None:
    der = bytearray(_csr("appliance-03").public_bytes(serialization.Encoding.DER))
    at = der.find(b"appliance-03")
    der[at : at + 12] = b"appliance-99"  # same length: still parses, signature no longer matches
    tampered = x509.load_der_x509_csr(bytes(der))
    assert _cn(tampered.subject) == "appliance-99"
    with pytest.raises(CertificateError, match="not signed by its own key"):
        ca.issue_from_csr(tampered, "appliance-99", Profile.DOCUMENT_SIGNING)


@pytest.mark.parametrize("device_id", ["sohoa-server", "Sohoa-Server", "a+b", "dev#1", "$SYS"])
def test_no_device_certificate_for_a_reserved_identity(
    ca: CertificateAuthority, device_id: str
) -> None:
    # A device certificate naming the server's identity would be the server's in the broker's
    # ACL (it reads every device's results); a wildcard or a '$' names no one device.
    with pytest.raises(CertificateError, match=r"no certificate issued: .*device id"):
        ca.issue_from_csr(_csr("appliance-04"), device_id, Profile.DOCUMENT_SIGNING)


def test_crl_lists_the_revoked_serials(ca: CertificateAuthority) -> None:
    revoked = [
        ca.issue(new_key().public_key(), f"appliance-{n}", Profile.TLS_CLIENT) for n in (4, 5)
    ]
    kept = ca.issue(new_key().public_key(), "appliance-6", Profile.TLS_CLIENT)
    crl = ca.crl(c.serial_number for c in revoked)
    assert crl.is_signature_valid(ca.key.public_key())
    assert crl.issuer == ca.cert.subject
    assert {r.serial_number for r in crl} == {c.serial_number for c in revoked}
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc


def test_save_and_load_round_trip(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert_path = ca.save(tmp_path / "ca")
    assert cert_path == tmp_path / "ca" / CA_CERT_FILE
    assert (tmp_path / "ca" / CA_KEY_FILE).stat().st_mode & 0o777 == 0o600
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.cert == ca.cert
    assert loaded.key.private_numbers() == ca.key.private_numbers()
    issued = loaded.issue(new_key().public_key(), "appliance-07", Profile.DOCUMENT_SIGNING)
    issued.verify_directly_issued_by(ca.cert)
    assert read_certificate(cert_path) == ca.cert


def test_load_from_an_empty_folder_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match=CA_CERT_FILE):
        CertificateAuthority.load(tmp_path)


def test_read_certificate_refuses_junk(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError, match="is not a certificate"):
        read_certificate(junk)
