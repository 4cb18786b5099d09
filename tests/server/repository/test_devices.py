"""The device registry on real databases (SQLite and PostgreSQL): registration, a signer's
renewal, refusals, and revocation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from cli.main import ExitCode, app
from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.db import session_scope
from server.errors import RepositoryError
from server.models import DeviceStatus
from server.repository import devices

DEVICE = "commune-01.kiosk"
CERT_SHA = sha256_hex(b"a DER certificate")


def _register(engine: Engine, device_id: str = DEVICE) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", CERT_SHA)


def test_register_device_then_update_its_signer(db_engine: Engine) -> None:
    _register(db_engine)
    new_sha = sha256_hex(b"renewed certificate").upper()
    with session_scope(db_engine) as s:
        device = devices.register_device(s, DEVICE, "UBND xã Vạn Thắng", new_sha)
        assert device.signing_cert_sha256 == new_sha.lower()
        assert device.status is DeviceStatus.ACTIVE
        assert device.registered_at.tzinfo is not None


def test_register_device_refuses_a_bad_fingerprint_or_id(db_engine: Engine) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(RepositoryError, match="SHA-256"):
            devices.register_device(s, DEVICE, "unit", "abc")
        with pytest.raises(RepositoryError, match="invalid device id"):
            devices.register_device(s, "a/b", "unit", CERT_SHA)
        assert devices.get_device(s, DEVICE) is None


@pytest.mark.parametrize("device_id", ["sohoa-server", "SOHOA-SERVER", "a+b", "#", "$SYS"])
def test_register_device_refuses_a_reserved_identity(db_engine: Engine, device_id: str) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(RepositoryError, match=r"reserved|no MQTT wildcard"):
            devices.register_device(s, device_id, "unit", CERT_SHA)
        assert devices.get_device(s, device_id) is None


def test_the_register_device_command_refuses_the_servers_identity(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("Sohoa Test CA")
    cert = ca.issue(new_key().public_key(), "appliance-05", Profile.DOCUMENT_SIGNING)
    write_certificate(cert, tmp_path / "signing.pem")
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')

    signing = ["--signing-cert", str(tmp_path / "signing.pem"), "--config", str(config)]

    def register(device_id: str) -> Result:
        args = ["server", "register-device", "--device-id", device_id, "--unit", "UBND"]
        return CliRunner().invoke(app, [*args, *signing])

    done = register("sohoa-server")
    assert done.exit_code == ExitCode.SERVER
    assert "device id 'sohoa-server' is reserved" in done.stderr
    assert register("appliance-05").exit_code == ExitCode.OK


def test_a_revoked_device_is_not_silently_reactivated(db_engine: Engine) -> None:
    _register(db_engine)
    with session_scope(db_engine) as s:
        devices.set_device_status(s, DEVICE, DeviceStatus.REVOKED)
    with session_scope(db_engine) as s, pytest.raises(RepositoryError, match="revoked"):
        devices.register_device(s, DEVICE, "unit", CERT_SHA)
    with session_scope(db_engine) as s:
        device = devices.get_device(s, DEVICE)
        assert device is not None and device.status is DeviceStatus.REVOKED
