"""An appliance enrolled as a newcomer does it from the README, against real processes: `sohoa
server run` serving HTTPS with its CA, Mosquitto, a SoftHSM token. The admin runs `sohoa
provision device add`, the appliance `sohoa edge enroll`; then the appliance signs a result
with the key enrollment made on its token and syncs it, and the server accepts it as that
device's. Refusals on the appliance's side: a server whose key is not the code's, a used code
(nothing is left on the token either way), an appliance enrolled already.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from edge import server_link
from edge.config import EdgeSettings, load_edge_settings
from edge.enroll import TokenChoice, enroll
from edge.errors import EnrollError
from edge.renew import store_renewed_signing_certificate
from edge.signing.pades import DocumentSigner
from edge.signing.token import Token
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox
from harness.broker import loopback_settings
from protocol import topics
from protocol.enrollment import parse_code
from provisioning.broker import Mosquitto
from provisioning.broker_folder import write_broker_folder
from provisioning.ca import CertificateAuthority, Profile, write_certificate, write_private_key
from provisioning.province import Province, provision_province, write_config
from server.catalogue_files import KHANH_HOA_UNITS, PROCEDURES
from server.db import make_engine, session_scope
from server.models import Record
from server.process import ServerProcess
from support.mqtt import MqttClient
from support.mqtt_types import Incoming, MqttError, Puback
from support.sockets import free_port
from tests.fixtures.token import BlankToken, make_pdf, with_fields
from tests.server.peers import FIELDS

pytestmark = pytest.mark.slow

UNIT = "22516"
NOT_AUTHORIZED = 0x87
_CODE = re.compile(r"enrollment code: (\S+)")


@dataclass(frozen=True)
class Running:
    """A province's server (HTTPS, with its CA) and broker, running."""

    province: Province
    config: Path
    url: str
    database_url: str
    broker: Mosquitto


def _sohoa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def _https_identity(ca: CertificateAuthority, folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(key.public_key(), "127.0.0.1", Profile.TLS_SERVER, ip_addresses=["127.0.0.1"])
    write_certificate(cert, folder / "https.pem")
    write_private_key(key, folder / "https-key.pem")
    return folder / "https.pem", folder / "https-key.pem"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The province's server and its production broker folder (`sohoa provision
    broker-config`), as an operator runs them; shared by this module's tests, each of which
    adds appliances of its own."""
    tmp_path = tmp_path_factory.mktemp("province")
    province = provision_province(
        tmp_path / "province",
        ca_name="Enrollment Test CA",
        token_label="unused",
        unit="UBND xã Vạn Thắng",
        location="Vạn Thắng",
    )
    ca_dir = province.ca_file.parent
    cert, key = _https_identity(CertificateAuthority.load(ca_dir), province.server_dir)
    folder = write_broker_folder(
        tmp_path / "broker", loopback_settings(ca_dir, province.server_ca_dir)
    )
    database_url = f"sqlite:///{province.server_dir / 'repository.db'}"
    api_port = free_port()
    with Mosquitto(folder.files, ports=folder.ports) as broker:
        config = write_config(
            province.server_dir / "server.toml",
            province.server_config(
                database_url=database_url,
                data_dir=province.server_dir,
                broker_host=broker.host,
                broker_port=broker.server_port,
                api_port=api_port,
                api_tls_cert_file=cert,
                api_tls_key_file=key,
                ca_dir=ca_dir,
                broker_dir=folder.files.directory,
                device_broker_host=broker.host,
                device_broker_port=broker.port,
                ltv=False,
            ),
        )
        for kind, data in (("units", KHANH_HOA_UNITS), ("procedures", PROCEDURES)):
            done = _sohoa("server", kind, "import", str(data), "--config", str(config))
            assert done.returncode == 0, done.stderr
        log = tmp_path / "server.log"
        with ServerProcess(config, log, api_port=api_port, https=True) as server:
            yield Running(province, config, server.api_url, database_url, broker)


def _add_device(running: Running, device_id: str) -> str:
    added = _sohoa(
        "provision", "device", "add", device_id, "--unit", UNIT, "--config", str(running.config)
    )
    assert added.returncode == 0, added.stderr
    found = _CODE.search(added.stdout)
    assert found is not None, added.stdout
    return found.group(1)


def _enroll(
    token: BlankToken, config: Path, server: str, code: str
) -> subprocess.CompletedProcess[str]:
    return _sohoa(
        "edge", "enroll", "--server", server, "--code", code, "--config", str(config),
        env={**token.setup.env(), "SOHOA_TOKEN_PIN": token.user_pin},
    )  # fmt: skip


def test_an_appliance_enrolls_signs_and_syncs_as_the_device_it_was_added_as(
    running: Running, blank_token: BlankToken, tmp_path: Path
) -> None:
    appliance = tmp_path / "appliance"
    config = write_config(
        appliance / "edge.toml",
        {
            "pkcs11_module": blank_token.module_path,
            "token_label": blank_token.label,
            "data_dir": appliance / "data",
            "ack_timeout_s": 5.0,
        },
    )
    code = _add_device(running, "vt-01.kiosk")

    enrolled = _enroll(blank_token, config, running.url, code)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled as vt-01.kiosk" in enrolled.stdout
    settings = load_edge_settings(config)
    assert settings.device_id == "vt-01.kiosk"
    assert settings.key_file is not None and settings.key_file.stat().st_mode & 0o077 == 0
    assert settings.procedures_file is not None and settings.procedures_file.stat().st_size > 0

    # The same code again: refused, and the token keeps only what the first use made.
    kept = _count_objects(blank_token)
    other = write_config(
        tmp_path / "other.toml",
        {"pkcs11_module": blank_token.module_path, "token_label": blank_token.label},
    )
    again = _enroll(blank_token, other, running.url, code)
    assert again.returncode == 3 and "used" in again.stderr, again.stderr
    assert _count_objects(blank_token) == kept
    # An appliance enrolled already is refused before anything is asked of the server.
    twice = _enroll(blank_token, config, running.url, _add_device(running, "vt-02.kiosk"))
    assert twice.returncode == 3 and "enrolled already" in twice.stderr, twice.stderr

    with blank_token.open() as token:
        signer = DocumentSigner(
            token, bytes.fromhex(settings.signing_key_id or ""), organisation="UBND xã Vạn Thắng"
        )
        signed = signer.sign(with_fields(make_pdf(), FIELDS))
    with Outbox(settings.outbox_dir) as outbox:
        outbox.add(signed, FIELDS, dt.datetime.now(dt.UTC).isoformat())
        report = SyncAgent(settings, outbox).run_until_drained(timeout=60.0)
    assert report.accepted == 1, report.summary()
    engine = make_engine(running.database_url)
    try:
        with session_scope(engine) as s:
            (record,) = s.exec(select(Record)).all()
            assert record.device_id == "vt-01.kiosk"
    finally:
        engine.dispose()


def test_a_server_that_is_not_the_codes_is_never_sent_the_code(
    running: Running, blank_token: BlankToken, tmp_path: Path
) -> None:
    code = _add_device(running, "vt-03.kiosk")
    # Another server's key in the code's place: as if the address led elsewhere.
    letters = code.replace("-", "")
    forged = letters[:20] + ("A" if letters[20] != "A" else "B") + letters[21:]
    before = _count_objects(blank_token)
    config = write_config(
        tmp_path / "edge.toml",
        {"pkcs11_module": blank_token.module_path, "token_label": blank_token.label},
    )
    refused = _enroll(blank_token, config, running.url, forged)
    assert refused.returncode == 3, refused.stderr
    assert "is not the province's" in refused.stderr
    assert _count_objects(blank_token) == before
    assert "device_id" not in config.read_text()
    # The code itself was never sent, so it still works.
    assert _enroll(blank_token, config, running.url, code).returncode == 0


def _count_objects(token: BlankToken) -> int:
    with token.open() as opened:
        session = opened._session
        assert session is not None
        return len(list(session.get_objects({})))


def test_a_revoked_appliance_is_cut_off_everywhere_within_seconds(
    running: Running, blank_token: BlankToken, tmp_path: Path
) -> None:
    """`sohoa provision device revoke`: the appliance, connected, gets the revoke command; the
    broker refuses its results on that connection and any new connection; the repository and
    the CRL refuse it. The times from the command to each are printed (target: 10 s)."""
    config = write_config(
        tmp_path / "edge.toml",
        {"pkcs11_module": blank_token.module_path, "token_label": blank_token.label},
    )
    assert (
        _enroll(blank_token, config, running.url, _add_device(running, "vt-04.kiosk")).returncode
        == 0
    )
    settings = load_edge_settings(config)
    identity = settings.tls_identity()
    messages: queue.Queue[Incoming] = queue.Queue()
    pubacks: queue.Queue[Puback] = queue.Queue()
    device = MqttClient(
        host=running.broker.host,
        port=running.broker.port,
        identity=identity,
        client_id="vt-04.kiosk",
        on_message=messages.put,
        on_puback=pubacks.put,
    )
    device.connect(timeout=10.0)
    try:
        device.subscribe(topics.device_subscriptions("vt-04.kiosk"), timeout=5.0)
        device.publish_and_wait(topics.status_topic("vt-04.kiosk"), b"{}", timeout=5.0)
        started = time.monotonic()
        revoked = _sohoa(
            "provision", "device", "revoke", "vt-04.kiosk", "--reason", "key-compromise",
            "--note", "máy bị mất", "--config", str(running.config),
        )  # fmt: skip
        done = time.monotonic()
        assert revoked.returncode == 0, revoked.stderr
        assert "broker reloaded" in revoked.stdout and "still to do" not in revoked.stderr

        # The broker: a result on the open connection is refused, and so is a new connection.
        denied = device.publish(topics.result_topic("vt-04.kiosk"), b"{}")
        answer = pubacks.get(timeout=5.0)
        while answer.mid != denied.mid:
            answer = pubacks.get(timeout=5.0)
        assert answer.code == NOT_AUTHORIZED
        again = MqttClient(
            host=running.broker.host,
            port=running.broker.port,
            identity=identity,
            client_id="vt-04.kiosk",
            on_message=lambda _m: None,
        )
        with pytest.raises(MqttError):
            again.connect(timeout=5.0)
        broker_refused = time.monotonic()
        # The appliance: the revoke command, with the reason for its kiosk.
        command = messages.get(timeout=10.0)
        while command.topic != topics.cmd_topic("vt-04.kiosk"):
            command = messages.get(timeout=10.0)
        told = time.monotonic()
        body = json.loads(command.payload)
        assert (body["name"], body["args"]["reason"]) == ("revoke", "máy bị mất")
    finally:
        device.disconnect()
    # The CA: both of its certificates in the published CRL, which the server reads.
    crl = x509.load_pem_x509_crl(running.province.crl_path.read_bytes())
    listed = {entry.serial_number for entry in crl}
    signing = x509.load_pem_x509_certificate(Path(str(settings.cert_file)).read_bytes())
    assert signing.serial_number in listed
    assert len(listed) == 2
    print(
        f"\nrevoke command {done - started:.2f} s; broker refuses (open and new connection) "
        f"{broker_refused - started:.2f} s; appliance told {told - started:.2f} s"
    )
    assert told - started < 10.0 and broker_refused - started < 10.0


def test_a_renewed_appliance_keeps_its_identity_and_what_it_signed_before(
    running: Running, blank_token: BlankToken, tmp_path: Path
) -> None:
    """`sohoa edge renew` (the daily timer's command): not due, it does nothing; forced, both
    certificates are issued again for the same keys. A result signed before the renewal and
    sent after it is still the device's; the kiosk's next unlock puts the new signing
    certificate on the token, and what it signs then is accepted too."""
    config = write_config(
        tmp_path / "edge.toml",
        {
            "pkcs11_module": blank_token.module_path,
            "token_label": blank_token.label,
            "data_dir": tmp_path / "data",
            "ack_timeout_s": 5.0,
        },
    )
    code = _add_device(running, "vt-05.kiosk")
    assert _enroll(blank_token, config, running.url, code).returncode == 0
    before = load_edge_settings(config)
    assert before.cert_file is not None and before.signing_cert_file is not None
    old_transport = before.cert_file.read_bytes()

    not_due = _sohoa("edge", "renew", "--config", str(config))
    assert not_due.returncode == 0 and not_due.stdout.startswith("not due"), not_due.stderr
    with blank_token.open() as token:
        signed_before = _sign(token, before, "so 01/QD-UBND")
    renewed = _sohoa("edge", "renew", "--config", str(config), "--force")
    assert renewed.returncode == 0 and renewed.stdout.startswith("renewed"), renewed.stderr
    settings = load_edge_settings(config)
    assert settings.cert_file is not None and settings.cert_file.read_bytes() != old_transport

    assert _sync(settings, signed_before) == 1  # signed with the certificate before
    with blank_token.open() as token:
        key_id = bytes.fromhex(settings.signing_key_id or "")
        assert store_renewed_signing_certificate(token, settings)
        assert token.certificate(key_id).public_bytes(serialization.Encoding.PEM) == (
            Path(str(settings.signing_cert_file)).read_bytes()
        )
        assert not store_renewed_signing_certificate(token, settings)  # once is enough
        signed_after = _sign(token, settings, "so 02/QD-UBND")
    assert _sync(settings, signed_after) == 1


def _sign(token: Token, settings: EdgeSettings, number: str) -> bytes:
    key_id = bytes.fromhex(settings.signing_key_id or "")
    signer = DocumentSigner(token, key_id, organisation="UBND xã Vạn Thắng")
    return signer.sign(with_fields(make_pdf(f"QUYET DINH {number}"), FIELDS))


def _sync(settings: EdgeSettings, signed: bytes) -> int:
    """Queue `signed` and sync; how many results the server accepted."""
    with Outbox(settings.outbox_dir) as outbox:
        outbox.add(signed, FIELDS, dt.datetime.now(dt.UTC).isoformat())
        report = SyncAgent(settings, outbox).run_until_drained(timeout=60.0)
    return report.accepted


def test_an_appliance_whose_clock_is_years_off_is_told_and_its_code_kept(
    running: Running, blank_token: BlankToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = parse_code(_add_device(running, "vt-06.kiosk"))
    config = tmp_path / "edge.toml"
    before = _count_objects(blank_token)
    years_ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)
    token = TokenChoice(blank_token.module_path, blank_token.label)
    monkeypatch.setattr(server_link, "now", lambda: years_ahead)
    with pytest.raises(EnrollError, match="clock is 1095 days ahead of the server's"):
        enroll(running.url, code, config, blank_token.user_pin, token=token)
    assert _count_objects(blank_token) == before and not config.exists()
    monkeypatch.undo()  # the clock set right: the same code works, it was never sent
    done = enroll(running.url, code, config, blank_token.user_pin, token=token)
    assert done.device_id == "vt-06.kiosk"
