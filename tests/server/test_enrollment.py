"""Enrollment on the server: `sohoa provision device add` / `server.enrollment.issue_code`
issue a one-time code, and `POST /api/enroll` turns it into certificates once, refusing what
must be refused (unknown, used, expired and other units' codes, tampered CSRs, one key for
both, guessing) with a reason, and writing nothing when it refuses.

The appliance's side, with a real token and a real HTTPS server, is `tests/integration/
test_enroll_appliance.py`; here the CSRs are made with software keys.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from protocol.enrollment import (
    EnrollmentCode,
    decode_renew_request,
    parse_code,
    parse_enrollment_uri,
)
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    RevocationReason,
    load_revocations,
    write_certificate,
)
from provisioning.enrollment_qr import read_qr
from provisioning.province import write_config
from server.api.main import create_app
from server.catalogue_files import PROCEDURES, read_procedures
from server.config import ServerSettings
from server.db import session_scope
from server.enrollment import IssuedCode, issue_code
from server.errors import EnrollmentError
from server.models import Device, DeviceStatus, Enrollment, EnrollmentFailure, Role
from server.renewal import renew
from server.repository import commands, device_certificates, devices, procedures
from tests.server.peers import api_settings_for
from tests.server.signin import bearer, sign_in

UNIT, OTHER_UNIT = "22516", "22528"
SERVER_KEY = b"the server's SubjectPublicKeyInfo stands here"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    authority = CertificateAuthority.create("Test Provincial CA")
    authority.save(tmp_path / "ca")
    return authority


@pytest.fixture
def enroll_settings(db_url: str, tmp_path: Path, ca: CertificateAuthority) -> ServerSettings:
    return api_settings_for(
        db_url,
        tmp_path / "data",
        ca_dir=tmp_path / "ca",
        device_broker_host="broker.khanhhoa.example",
        device_broker_port=8883,
        enroll_max_failures=3,
    )


@pytest.fixture
def enroll_app(
    enroll_settings: ServerSettings, db_engine: Engine, khanh_hoa_units: None
) -> FastAPI:
    with session_scope(db_engine) as s:
        procedures.import_procedures(s, read_procedures(PROCEDURES))
    return create_app(enroll_settings, db_engine)


def _issue(
    engine: Engine, settings: ServerSettings, device_id: str = "vt-01.kiosk", **kw: Any
) -> IssuedCode:
    with session_scope(engine) as s:
        return issue_code(
            s,
            settings,
            device_id,
            kw.pop("unit", UNIT),
            server_key=SERVER_KEY,
            created_by="t",
            **kw,
        )


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "appliance")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def _body(code: EnrollmentCode, signing: Any, transport: Any, **kw: Any) -> dict[str, Any]:
    return {
        "schema": "sohoa.enroll/1",
        "code": code.secret,
        "signing_csr": _csr(signing),
        "transport_csr": _csr(transport),
        **kw,
    }


def _spki(key: Any) -> bytes:
    spki: bytes = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki


def test_a_code_enrolls_its_appliance_once_with_certificates_for_its_keys(
    enroll_app: FastAPI,
    enroll_settings: ServerSettings,
    db_engine: Engine,
    ca: CertificateAuthority,
) -> None:
    issued = _issue(db_engine, enroll_settings)
    assert parse_enrollment_uri(issued.uri) == (enroll_settings.enrollment_url, issued.code)
    signing, transport = _keys()
    with TestClient(enroll_app) as client:
        answer = client.post("/api/enroll", json=_body(issued.code, signing, transport))
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["schema"] == "sohoa.enrolled/1"
        assert (got["device_id"], got["unit_code"]) == ("vt-01.kiosk", UNIT)
        assert (got["broker_host"], got["broker_port"]) == ("broker.khanhhoa.example", 8883)
        signing_cert = x509.load_pem_x509_certificate(got["signing_cert"].encode())
        transport_cert = x509.load_pem_x509_certificate(got["transport_cert"].encode())
        for cert, key in ((signing_cert, signing), (transport_cert, transport)):
            assert _spki(cert) == _spki(key)
            cert.verify_directly_issued_by(ca.cert)
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            assert cn == "vt-01.kiosk"
        # Only the commune-level procedures, for a commune's appliance.
        rows = list(csv.DictReader(io.StringIO(got["procedures_csv"])))
        assert len(rows) > 5 and {r["level"] for r in rows} == {"xa"}

        again = client.post("/api/enroll", json=_body(issued.code, *_keys()))
        assert again.status_code == 403, again.text
        assert "used" in again.json()["detail"]
    with session_scope(db_engine) as s:
        device = devices.get_device(s, "vt-01.kiosk")
        assert device is not None and device.unit_code == UNIT
        assert device.signing_cert_sha256 == signing_cert.fingerprint(hashes.SHA256()).hex()
        row = s.exec(select(Enrollment)).one()
        assert row.used_at is not None
        certs = {(c.purpose, c.serial) for c in device_certificates.of_device(s, "vt-01.kiosk")}
        assert certs == {
            ("signing", f"{signing_cert.serial_number:x}"),
            ("transport", f"{transport_cert.serial_number:x}"),
        }
        # Only a hash of the secret is kept.
        assert issued.code.secret not in json.dumps(row.model_dump(), default=str)


def test_the_same_appliance_asking_again_gets_the_same_certificates(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    issued = _issue(db_engine, enroll_settings)
    signing, transport = _keys()
    with TestClient(enroll_app) as client:
        first = client.post("/api/enroll", json=_body(issued.code, signing, transport))
        second = client.post("/api/enroll", json=_body(issued.code, signing, transport))
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown", "no such enrollment code"),
        ("expired", "expired"),
        ("other unit", "unit 22516"),
    ],
)
def test_a_code_that_does_not_fit_is_refused_and_nothing_is_registered(
    enroll_app: FastAPI,
    enroll_settings: ServerSettings,
    db_engine: Engine,
    case: str,
    reason: str,
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    issued = _issue(db_engine, enroll_settings, now=past if case == "expired" else None)
    code = issued.code
    extra = {"unit": OTHER_UNIT} if case == "other unit" else {}
    if case == "unknown":
        code = EnrollmentCode("A" * 20, code.pin)
    with TestClient(enroll_app) as client:
        answer = client.post("/api/enroll", json=_body(code, *_keys(), **extra))
    assert answer.status_code == 403, answer.text
    assert reason in answer.json()["detail"]
    with session_scope(db_engine) as s:
        assert s.exec(select(Device)).all() == []
        assert s.exec(select(Enrollment)).one().used_at is None


def test_csrs_that_cannot_be_trusted_are_refused_without_using_the_code(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    issued = _issue(db_engine, enroll_settings)
    signing, transport = _keys()
    tampered = _body(issued.code, signing, transport)
    # Another key put in the CSR's body: its signature no longer verifies.
    other = _csr(ec.generate_private_key(ec.SECP256R1()))
    der = x509.load_pem_x509_csr(tampered["signing_csr"].encode()).public_bytes(
        serialization.Encoding.DER
    )
    other_der = x509.load_pem_x509_csr(other.encode()).public_bytes(serialization.Encoding.DER)
    old_key, new_key = _spki(signing), _spki(ec.generate_private_key(ec.SECP256R1()))
    assert old_key in der and old_key not in other_der
    forged = x509.load_der_x509_csr(der.replace(old_key, new_key))
    tampered["signing_csr"] = forged.public_bytes(serialization.Encoding.PEM).decode()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    cases = {
        "its signature does not verify": tampered,
        "the same key": _body(issued.code, signing, signing),
        "2048 bits": _body(issued.code, weak, transport),
        "not a readable CSR": {
            **_body(issued.code, signing, transport),
            "transport_csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
            "-----END CERTIFICATE REQUEST-----\n",
        },
    }
    with TestClient(enroll_app) as client:
        for reason, body in cases.items():
            answer = client.post("/api/enroll", json=body)
            assert answer.status_code == 400, (reason, answer.text)
            assert reason in answer.json()["detail"]
        # The code still works: a bad CSR did not use it up.
        assert client.post("/api/enroll", json=_body(issued.code, *_keys())).status_code == 200


def test_guessing_codes_locks_the_address_out_even_for_a_right_code(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    issued = _issue(db_engine, enroll_settings)
    with TestClient(enroll_app) as client:
        for _ in range(enroll_settings.enroll_max_failures - 1):
            wrong = EnrollmentCode(os.urandom(10).hex().upper()[:20].translate(_B32), "")
            assert client.post("/api/enroll", json=_body(wrong, *_keys())).status_code == 403
        last = client.post("/api/enroll", json=_body(EnrollmentCode("B" * 20, ""), *_keys()))
        assert last.status_code == 429, last.text
        assert int(last.headers["Retry-After"]) > 0
        right = client.post("/api/enroll", json=_body(issued.code, *_keys()))
        assert right.status_code == 429
    with session_scope(db_engine) as s:
        assert s.exec(select(Device)).all() == []
        assert s.exec(select(EnrollmentFailure)).one().locked_until is not None


_B32 = str.maketrans("0189", "QRST")


def _device_add(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", "provision", "device", "add", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_a_server_without_a_ca_refuses_to_enroll(
    db_url: str, tmp_path: Path, db_engine: Engine, khanh_hoa_units: None
) -> None:
    settings = api_settings_for(db_url, tmp_path / "data")
    issued = _issue(db_engine, settings)
    with TestClient(create_app(settings, db_engine)) as client:
        answer = client.post("/api/enroll", json=_body(issued.code, *_keys()))
    assert answer.status_code == 503
    assert "ca_dir" in answer.json()["detail"]


def test_no_code_for_an_enrolled_or_revoked_device_or_an_unknown_unit(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    with session_scope(db_engine) as s:
        devices.register_device(s, "vt-02.kiosk", "UBND xã Vạn Thắng", "ab" * 32, unit_code=UNIT)
    with pytest.raises(EnrollmentError, match="enrolled already"):
        _issue(db_engine, enroll_settings, "vt-02.kiosk")
    with pytest.raises(EnrollmentError, match="reserved"):
        _issue(db_engine, enroll_settings, "sohoa-server")
    with pytest.raises(EnrollmentError):
        _issue(db_engine, enroll_settings, "vt-03.kiosk", unit="99999")


def test_a_new_code_replaces_the_devices_unused_one(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    first = _issue(db_engine, enroll_settings)
    second = _issue(db_engine, enroll_settings)
    with TestClient(enroll_app) as client:
        old = client.post("/api/enroll", json=_body(first.code, *_keys()))
        assert old.status_code == 403
        assert client.post("/api/enroll", json=_body(second.code, *_keys())).status_code == 200


def test_device_add_prints_the_code_and_writes_a_qr_code_that_reads_back(
    db_url: str, tmp_path: Path, db_engine: Engine, khanh_hoa_units: None, ca: CertificateAuthority
) -> None:
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(
        server_key.public_key(), "sohoa.example", Profile.TLS_SERVER, dns_names=["sohoa.example"]
    )
    write_certificate(cert, tmp_path / "https.pem")
    config = write_config(
        tmp_path / "server.toml",
        {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "public_url": "https://sohoa.example:8443",
            "api_tls_cert_file": tmp_path / "https.pem",
            "api_tls_key_file": tmp_path / "ca" / "ca-key.pem",  # any 0600 key file will do here
        },
    )
    png = str(tmp_path / "code.png")
    run = _device_add("vt-09.kiosk", "--unit", UNIT, "--config", str(config), "--qr-png", png)
    assert run.returncode == 0, run.stderr
    assert "enrollment code: " in run.stdout
    printed = run.stdout.split("enrollment code: ")[1].split()[0]
    server_url, code = parse_enrollment_uri(read_qr(tmp_path / "code.png"))
    assert (server_url, code.text()) == ("https://sohoa.example:8443", printed)
    assert code.matches_key(_spki(server_key))
    assert "sohoa edge enroll --server https://sohoa.example:8443 --code" in run.stdout

    again = _device_add("vt-09.kiosk", "--unit", UNIT, "--config", str(config), "--no-qr")
    assert again.returncode == 0, again.stderr  # a new code: the first stops working
    no_cert = write_config(tmp_path / "plain.toml", {"database_url": db_url})
    refused = _device_add("vt-10.kiosk", "--unit", UNIT, "--config", str(no_cert))
    assert refused.returncode == 4
    assert "api_tls_cert_file" in refused.stderr


def test_revoking_an_enrolled_device_revokes_its_certificates_and_publishes_the_crl(
    enroll_app: FastAPI,
    enroll_settings: ServerSettings,
    db_engine: Engine,
    tmp_path: Path,
) -> None:
    issued = _issue(db_engine, enroll_settings)
    with TestClient(enroll_app) as client:
        got = client.post("/api/enroll", json=_body(issued.code, *_keys())).json()
        token = sign_in(client, db_engine, Role.PROVINCE_ADMIN)
        wrong = client.post(
            "/api/devices/vt-01.kiosk/commands",
            json={"name": "revoke", "args": {"reason": "lost", "crl_reason": "lost"}},
            headers=bearer(token),
        )
        assert wrong.status_code == 422 and "crl_reason" in wrong.text
        answer = client.post(
            "/api/devices/vt-01.kiosk/commands",
            json={
                "name": "revoke",
                "args": {"reason": "máy bị mất", "crl_reason": "keyCompromise"},
            },
            headers=bearer(token),
        )
    assert answer.status_code == 202, answer.text
    serials = {
        x509.load_pem_x509_certificate(got[name].encode()).serial_number
        for name in ("signing_cert", "transport_cert")
    }
    crl = x509.load_pem_x509_crl((tmp_path / "ca" / "crl.pem").read_bytes())
    assert {entry.serial_number for entry in crl} == serials
    assert {r.reason for r in load_revocations(tmp_path / "ca")} == {
        RevocationReason.KEY_COMPROMISE
    }
    with session_scope(db_engine) as s:
        device = devices.get_device(s, "vt-01.kiosk")
        assert device is not None and device.status is DeviceStatus.REVOKED
    # And the code's device id can never be enrolled again.
    with pytest.raises(EnrollmentError, match="revoked"):
        _issue(db_engine, enroll_settings)


def _renew_body(device_id: str, transport: Any) -> dict[str, Any]:
    return {"schema": "sohoa.renew/1", "device_id": device_id, "transport_csr": _csr(transport)}


def test_an_enrolled_device_renews_both_certificates_for_the_same_keys(
    enroll_app: FastAPI,
    enroll_settings: ServerSettings,
    db_engine: Engine,
    ca: CertificateAuthority,
) -> None:
    issued = _issue(db_engine, enroll_settings)
    signing, transport = _keys()
    with TestClient(enroll_app) as client:
        first = client.post("/api/enroll", json=_body(issued.code, signing, transport)).json()
        answer = client.post("/api/renew", json=_renew_body("vt-01.kiosk", transport))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    for name, key in (("signing_cert", signing), ("transport_cert", transport)):
        old = x509.load_pem_x509_certificate(first[name].encode())
        new = x509.load_pem_x509_certificate(got[name].encode())
        assert _spki(new) == _spki(key) and new.serial_number != old.serial_number
        assert new.subject == old.subject  # the same identity
        new.verify_directly_issued_by(ca.cert)
    new_signing = x509.load_pem_x509_certificate(got["signing_cert"].encode())
    old_signing = x509.load_pem_x509_certificate(first["signing_cert"].encode())
    now = dt.datetime.now(dt.UTC)
    with session_scope(db_engine) as s:
        device = devices.get_device(s, "vt-01.kiosk")
        assert device is not None
        assert device.signing_cert_sha256 == new_signing.fingerprint(hashes.SHA256()).hex()
        assert len(device_certificates.of_device(s, "vt-01.kiosk")) == 4
        # Results signed before the renewal, received after it, are still the device's.
        for cert in (old_signing, new_signing):
            sha = cert.fingerprint(hashes.SHA256()).hex()
            assert device_certificates.signs_for(s, "vt-01.kiosk", sha, now)
        assert not device_certificates.signs_for(s, "vt-02.kiosk", sha, now)


def test_a_renewal_is_refused_to_what_cannot_prove_or_keep_its_identity(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    # More refusals than the fixture's lock-out allows: each counts, as a guessed code does.
    enroll_app.state.settings = enroll_settings.model_copy(update={"enroll_max_failures": 10})
    issued = _issue(db_engine, enroll_settings)
    signing, transport = _keys()
    with session_scope(db_engine) as s:
        devices.register_device(s, "old-01.kiosk", "UBND xã Vạn Thắng", "ab" * 32, unit_code=UNIT)
    with TestClient(enroll_app) as client:
        assert client.post("/api/enroll", json=_body(issued.code, signing, transport)).is_success
        cases = [
            (_renew_body("vt-01.kiosk", signing), 403, "not the transport key"),
            (_renew_body("vt-01.kiosk", ec.generate_private_key(ec.SECP256R1())), 403, "not the"),
            (_renew_body("vt-99.kiosk", transport), 403, "no device vt-99.kiosk"),
            (_renew_body("old-01.kiosk", transport), 409, "not enrolled"),
        ]
        for body, code, reason in cases:
            answer = client.post("/api/renew", json=body)
            assert answer.status_code == code, answer.text
            assert reason in answer.json()["detail"]
        token = sign_in(client, db_engine, Role.PROVINCE_ADMIN)
        client.post(
            "/api/devices/vt-01.kiosk/commands",
            json={"name": "revoke", "args": {"reason": "mất máy"}},
            headers=bearer(token),
        )
        revoked = client.post("/api/renew", json=_renew_body("vt-01.kiosk", transport))
    assert revoked.status_code == 403 and "revoked" in revoked.json()["detail"]


def test_an_expired_certificate_cannot_renew(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    issued = _issue(db_engine, enroll_settings)
    signing, transport = _keys()
    with TestClient(enroll_app) as client:
        assert client.post("/api/enroll", json=_body(issued.code, signing, transport)).is_success
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=enroll_settings.device_cert_days + 1)
    request = decode_renew_request(_renew_body("vt-01.kiosk", transport))
    with session_scope(db_engine) as s, pytest.raises(EnrollmentError, match="expired"):
        renew(s, enroll_settings, request, source="test", now=later)


def test_an_admin_adds_an_appliance_from_the_api_and_gets_its_code_and_qr_code(
    db_url: str, tmp_path: Path, db_engine: Engine, khanh_hoa_units: None, ca: CertificateAuthority
) -> None:
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(
        server_key.public_key(), "127.0.0.1", Profile.TLS_SERVER, ip_addresses=["127.0.0.1"]
    )
    write_certificate(cert, tmp_path / "https.pem")
    settings = api_settings_for(
        db_url,
        tmp_path / "data",
        ca_dir=tmp_path / "ca",
        enroll_server_cert_file=tmp_path / "https.pem",
    )
    body = {"device_id": "vt-07.kiosk", "unit": UNIT}
    with TestClient(create_app(settings, db_engine)) as client:
        officer = sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
        refused = client.post("/api/devices/enrollments", json=body, headers=bearer(officer))
        assert refused.status_code == 403
        admin = sign_in(client, db_engine, Role.PROVINCE_ADMIN)
        added = client.post("/api/devices/enrollments", json=body, headers=bearer(admin))
        assert added.status_code == 201, added.text
        got = added.json()
        assert parse_enrollment_uri(got["uri"]) == (got["server_url"], parse_code(got["code"]))
        assert parse_code(got["code"]).matches_key(_spki(server_key))
        assert got["qr_svg"].startswith("<svg") and got["unit_code"] == UNIT
        bad = client.post(
            "/api/devices/enrollments",
            json={"device_id": "a b", "unit": UNIT},
            headers=bearer(admin),
        )
        assert bad.status_code == 422
        # The code works.
        enrolled = client.post("/api/enroll", json=_body(parse_code(got["code"]), *_keys()))
        assert enrolled.status_code == 200, enrolled.text
        again = client.post("/api/devices/enrollments", json=body, headers=bearer(admin))
        assert again.status_code == 409 and "enrolled already" in again.json()["detail"]


def test_a_device_revoked_already_is_not_revoked_again(
    enroll_app: FastAPI, enroll_settings: ServerSettings, db_engine: Engine
) -> None:
    issued = _issue(db_engine, enroll_settings)
    revoke = {"name": "revoke", "args": {"reason": "mất máy"}}
    with TestClient(enroll_app) as client:
        assert client.post("/api/enroll", json=_body(issued.code, *_keys())).is_success
        token = sign_in(client, db_engine, Role.PROVINCE_ADMIN)
        url = "/api/devices/vt-01.kiosk/commands"
        assert client.post(url, json=revoke, headers=bearer(token)).status_code == 202
        again = client.post(url, json=revoke, headers=bearer(token))
    assert again.status_code == 409 and "revoked already" in again.json()["detail"]
    with session_scope(db_engine) as s:
        assert len(commands.list_commands(s, "vt-01.kiosk", 10)) == 1
