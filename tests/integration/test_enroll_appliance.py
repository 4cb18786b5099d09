"""An appliance enrolled as a newcomer does it from the README, against real processes: `sohoa
server run` serving HTTPS with its CA, Mosquitto, a SoftHSM token. The admin runs `sohoa
provision device add`, the appliance `sohoa edge enroll`; then the appliance signs a result
with the key enrollment made on its token and syncs it, and the server accepts it as that
device's. Refusals on the appliance's side: a server whose key is not the code's, a used code
(nothing is left on the token either way), an appliance enrolled already.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from edge.config import load_edge_settings
from edge.signing.pades import DocumentSigner
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox
from provisioning.broker import Mosquitto
from provisioning.ca import CertificateAuthority, Profile, write_certificate, write_private_key
from provisioning.province import Province, provision_province, write_config
from server.catalogue_files import KHANH_HOA_UNITS, PROCEDURES
from server.db import make_engine, session_scope
from server.models import Record
from server.process import ServerProcess
from support.sockets import free_port
from tests.fixtures.token import BlankToken, make_pdf, with_fields
from tests.server.peers import FIELDS

pytestmark = pytest.mark.slow

UNIT = "22516"
_CODE = re.compile(r"enrollment code: (\S+)")


@dataclass(frozen=True)
class Running:
    """A province's server (HTTPS, with its CA) and broker, running."""

    province: Province
    config: Path
    url: str
    database_url: str


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


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    province = provision_province(
        tmp_path / "province",
        ca_name="Enrollment Test CA",
        token_label="unused",
        unit="UBND xã Vạn Thắng",
        location="Vạn Thắng",
    )
    ca = CertificateAuthority.load(province.ca_file.parent)
    cert, key = _https_identity(ca, province.server_dir)
    database_url = f"sqlite:///{province.server_dir / 'repository.db'}"
    api_port = free_port()
    with Mosquitto(province.broker_files) as broker:
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
                ca_dir=province.ca_file.parent,
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
            yield Running(province, config, server.api_url, database_url)


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
    assert "not the one this code was issued by" in refused.stderr
    assert _count_objects(blank_token) == before
    assert "device_id" not in config.read_text()
    # The code itself was never sent, so it still works.
    assert _enroll(blank_token, config, running.url, code).returncode == 0


def _count_objects(token: BlankToken) -> int:
    with token.open() as opened:
        session = opened._session  # noqa: SLF001 (the test counts what is on the token)
        assert session is not None
        return len(list(session.get_objects({})))
