"""A province provisioned once (`provisioning.province`): its files, an appliance enrolled on a
real SoftHSM token, and settings the server and the appliance accept as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from edge.config import load_edge_settings
from edge.errors import TokenError
from edge.signing.token import Token
from provisioning.ca import CertificateAuthority, read_certificate
from provisioning.errors import CertificateError
from provisioning.province import ApplianceIdentity, Province, provision_province, write_config
from server.config import load_server_settings

DEVICE_ID = "province-test-01"
KEY_ID = bytes.fromhex("0102")


@pytest.fixture
def province(tmp_path: Path) -> Province:
    return provision_province(
        tmp_path / "province",
        ca_name="Sohoa Province Test CA",
        token_label="province-test",
        unit="UBND xã Vạn Thắng",
        location="Vạn Ninh",
    )


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_a_province_has_its_ca_crl_token_server_identity_and_broker(province: Province) -> None:
    ca = CertificateAuthority.load(province.ca_file.parent)
    assert province.crl_path.is_file()
    assert province.softhsm.conf_path.is_file()
    server_cert = read_certificate(province.server_cert_file)
    assert _common_name(server_cert) == province.server_identity
    # Issued by the server-clients CA, never by the provincial CA that issues the devices':
    # only its certificates get into the broker's server listener.
    server_ca = CertificateAuthority.load(province.server_ca_dir)
    assert server_ca.issued(server_cert) and not ca.issued(server_cert)
    assert (
        province.broker_files.server_ca_file.read_bytes()
        == (province.server_ca_dir / "ca.pem").read_bytes()
    )
    assert province.server_key_file.stat().st_mode & 0o777 == 0o600
    assert province.broker_files.config_file.is_file()
    assert f"user {province.server_identity}" in province.broker_files.acl_file.read_text()


@pytest.fixture
def enrolled(
    province: Province, monkeypatch: pytest.MonkeyPatch
) -> tuple[ApplianceIdentity, x509.Certificate]:
    """An appliance enrolled on the province's token, and the certificate the token holds."""
    monkeypatch.setenv("SOFTHSM2_CONF", str(province.softhsm.conf_path))
    with Token.open(
        province.softhsm.module_path, label=province.token_label, pin=province.user_pin
    ) as token:
        device = province.enroll(token, DEVICE_ID, KEY_ID, province.workdir / "device")
        return device, token.certificate(KEY_ID)


@pytest.mark.parametrize("device_id", ["sohoa-server", "sohoa-ingest-x-0", "a+b", "$SYS", "x/y"])
def test_no_appliance_is_enrolled_under_a_reserved_identity(
    province: Province, monkeypatch: pytest.MonkeyPatch, device_id: str
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(province.softhsm.conf_path))
    with Token.open(
        province.softhsm.module_path, label=province.token_label, pin=province.user_pin
    ) as token:
        with pytest.raises(CertificateError, match="no certificate issued"):
            province.enroll(token, device_id, KEY_ID, province.workdir / "device")
        with pytest.raises(TokenError, match="0 public keys"):  # nothing made on the token
            token.public_key_der(KEY_ID)
    assert not (province.workdir / "device").exists()


def test_a_province_with_its_own_server_identity_refuses_it_as_a_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    province = provision_province(
        tmp_path / "p",
        ca_name="CA",
        token_label="own-identity",
        unit="UBND",
        location="Vạn Ninh",
        server_identity="province-server",
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(province.softhsm.conf_path))
    with (
        Token.open(
            province.softhsm.module_path, label=province.token_label, pin=province.user_pin
        ) as token,
        pytest.raises(CertificateError, match="this province's server identity"),
    ):
        province.enroll(token, "province-server", KEY_ID, tmp_path / "device")


def test_an_appliance_is_enrolled_with_its_key_on_the_token(
    province: Province, enrolled: tuple[ApplianceIdentity, x509.Certificate]
) -> None:
    device, on_token = enrolled
    ca = CertificateAuthority.load(province.ca_file.parent)
    signing = read_certificate(device.signing_cert_file)
    assert signing == on_token
    assert ca.issued(signing) and _common_name(signing) == DEVICE_ID
    assert device.signing_cert_sha256 == signing.fingerprint(hashes.SHA256()).hex()
    transport = read_certificate(device.cert_file)
    assert ca.issued(transport) and _common_name(transport) == DEVICE_ID
    assert device.key_file.stat().st_mode & 0o777 == 0o600


def test_the_server_and_the_appliance_accept_the_settings_it_gives(
    province: Province, enrolled: tuple[ApplianceIdentity, x509.Certificate]
) -> None:
    device, _ = enrolled
    server_dir = province.server_dir
    server = load_server_settings(
        write_config(
            server_dir / "server.toml",
            province.server_config(
                database_url=f"sqlite:///{server_dir / 'repository.db'}",
                data_dir=server_dir,
                broker_host="127.0.0.1",
                broker_port=8883,
                api_port=8080,
                ltv=False,
            ),
        )
    )
    assert server.crl_path == province.crl_path
    assert server.ltv is False
    edge = load_edge_settings(
        write_config(
            device.home / "edge.toml",
            province.edge_config(
                device, broker_host="127.0.0.1", broker_port=8883, ack_timeout_s=3.0
            ),
        )
    )
    assert edge.device_id == DEVICE_ID
    assert edge.signing_key_id_bytes == KEY_ID
    assert edge.organisation == "UBND xã Vạn Thắng"
    assert edge.ack_timeout_s == 3.0
