"""Watching the appliances: heartbeats and last wills recorded from the real broker, the fleet in
the API, and commands sent to a device and answered (API, CLI), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from protocol import topics
from protocol.commands import Command, CommandName, CommandReply, ReplyStatus
from protocol.encoding import encode
from protocol.messages import sha256_hex
from protocol.status import Heartbeat, LinkState
from provisioning.broker import Mosquitto
from server.api.main import create_app
from server.cli import app as server_app
from server.config import ServerSettings
from server.db import session_scope
from server.ingest import IngestWorker
from server.models import CommandState, Device, DeviceStatus
from server.repository import commands, devices
from server.verify import Verifier
from server.watcher import DeviceWatcher
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.peers import DevicePeer, running, server_settings, wait_for
from tests.server.signin import sign_in

UNIT = "UBND phường Ninh Hiệp"
NOW = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)


def _register(engine: Engine, *device_ids: str, unit: str = UNIT) -> None:
    with session_scope(engine) as s:
        for device_id in device_ids:
            devices.register_device(s, device_id, unit, sha256_hex(device_id.encode()))


def _device(engine: Engine, device_id: str) -> Device:
    with session_scope(engine) as s:
        device = devices.get_device(s, device_id)
    assert device is not None
    return device


def _heartbeat(device_id: str, at: dt.datetime = NOW, **kw: object) -> Heartbeat:
    values: dict[str, object] = {
        "state": LinkState.ONLINE,
        "at": at.isoformat(),
        "queue_depth": 3,
        "oldest_pending_age_s": 120.5,
        "disk_free_bytes": 12 * 1024**3,
        "token_present": True,
        "versions": {"sohoa": "0.1.0", "protocol": "1"},
        **kw,
    }
    return Heartbeat(device_id=device_id, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_url: str, tmp_path: Path
) -> ServerSettings:
    return server_settings(broker, mqtt_identity, db_url, tmp_path / "data", command_poll_s=0.1)


@pytest.fixture
def client(settings: ServerSettings, db_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db_engine)) as c:
        sign_in(c, db_engine)  # a province admin: the only role that commands devices
        yield c


# --- heartbeats -----------------------------------------------------------------------------------


def test_heartbeats_and_the_last_will_are_recorded_and_shown(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
    client: TestClient,
) -> None:
    device_id = f"test-watch-{db_url[:6]}"
    _register(db_engine, device_id)
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id), will=True)
    with running(DeviceWatcher(settings, db_engine)) as watcher:
        peer.heartbeat(_heartbeat(device_id, last_error="máy quét không phản hồi"))
        wait_for(lambda: _device(db_engine, device_id).queue_depth == 3, "the heartbeat")
        body = client.get(f"/api/devices/{device_id}").json()
        assert body["link_state"] == "online" and body["queue_depth"] == 3
        assert body["oldest_pending_age_s"] == 120.5 and body["token_present"] is True
        assert body["disk_free_bytes"] == 12 * 1024**3
        assert body["versions"] == {"sohoa": "0.1.0", "protocol": "1"}
        assert body["last_error"] == "máy quét không phản hồi"
        assert body["heartbeat_age_s"] is not None and body["heartbeat_age_s"] < 60
        assert dt.datetime.fromisoformat(body["status_at"]) == NOW

        peer.vanish()  # power cut: the broker publishes the last will
        wait_for(
            lambda: _device(db_engine, device_id).link_state is LinkState.OFFLINE, "the last will"
        )
        # The watcher counts a heartbeat after committing it: wait for the count.
        wait_for(lambda: watcher.heartbeats == 2, "both heartbeats counted")
    device = _device(db_engine, device_id)
    assert device.queue_depth == 3  # the last measurements stay visible
    assert device.status_at == NOW

    # A restarted server learns each device's last word from the retained heartbeat at once.
    with session_scope(db_engine) as s:
        stored = devices.get_device(s, device_id)
        assert stored is not None
        stored.link_state = None
        s.add(stored)
        s.commit()
    with running(DeviceWatcher(settings, db_engine)):
        wait_for(
            lambda: _device(db_engine, device_id).link_state is LinkState.OFFLINE,
            "the retained last will",
        )


def test_a_late_heartbeat_never_overwrites_a_newer_one(db_engine: Engine) -> None:
    _register(db_engine, "test-order-01")
    with session_scope(db_engine) as s:
        newer = _heartbeat("test-order-01", NOW, queue_depth=1)
        assert devices.record_heartbeat(s, newer)
        older = _heartbeat("test-order-01", NOW - dt.timedelta(minutes=5), queue_depth=9)
        assert not devices.record_heartbeat(s, older)
        assert not devices.record_heartbeat(s, _heartbeat("test-unregistered"))
    assert _device(db_engine, "test-order-01").queue_depth == 1


def test_the_fleet_in_the_api_filters_and_summary(db_engine: Engine, client: TestClient) -> None:
    _register(db_engine, "fleet-a", "fleet-b", "fleet-c")
    _register(db_engine, "fleet-d", unit="UBND xã Vạn Thắng")
    with session_scope(db_engine) as s:
        devices.record_heartbeat(s, _heartbeat("fleet-a", queue_depth=5))
        devices.record_heartbeat(
            s, _heartbeat("fleet-b", queue_depth=2, oldest_pending_age_s=900.0, last_error="x")
        )
        devices.record_heartbeat(
            s, Heartbeat.last_will("fleet-c"), received_at=NOW - dt.timedelta(hours=1)
        )
        devices.set_device_status(s, "fleet-d", DeviceStatus.REVOKED)

    page = client.get("/api/devices", params={"limit": 2}).json()
    assert page["count"] == 4 and [d["device_id"] for d in page["data"]] == ["fleet-a", "fleet-b"]
    online = client.get("/api/devices", params={"link_state": "online"}).json()
    assert {d["device_id"] for d in online["data"]} == {"fleet-a", "fleet-b"}
    unit = client.get("/api/devices", params={"unit": "UBND xã Vạn Thắng"}).json()
    assert [d["device_id"] for d in unit["data"]] == ["fleet-d"]
    revoked = client.get("/api/devices", params={"status": "revoked"}).json()
    assert [d["device_id"] for d in revoked["data"]] == ["fleet-d"]

    summary = client.get("/api/devices/summary").json()
    assert summary["devices"] == 4 and summary["revoked"] == 1 and summary["active"] == 3
    assert (summary["online"], summary["offline"], summary["never_heard"]) == (2, 1, 1)
    assert summary["queued_results"] == 7 and summary["oldest_pending_age_s"] == 900.0
    assert summary["with_errors"] == 1 and summary["silent"] == 0
    assert client.get("/api/devices/nobody").status_code == 404


# --- commands -------------------------------------------------------------------------------------


def _answer_commands(peer: DevicePeer, stop: threading.Event) -> threading.Thread:
    """The device's side: answer every command with OK and a little data."""

    def run() -> None:
        while not stop.is_set():
            try:
                command: Command = peer.commands.get(timeout=0.1)
            except queue.Empty:
                continue
            reply = CommandReply(
                device_id=peer.device_id,
                command_id=command.command_id,
                status=ReplyStatus.OK,
                detail=f"{command.name.value} done",
                data={"queue_depth": 0},
            )
            peer.send(encode(reply), topics.reply_topic(peer.device_id))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_command_posted_to_the_api_is_sent_answered_and_recorded(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
    client: TestClient,
    ingest_signer: IngestSigner,
) -> None:
    device_id = f"test-cmd-{db_url[:6]}"
    _register(db_engine, device_id)
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id))
    stop = threading.Event()
    answering = _answer_commands(peer, stop)
    try:
        with (
            running(DeviceWatcher(settings, db_engine)),
            running(IngestWorker(settings, db_engine, Verifier([ingest_signer.ca.cert]))) as w,
        ):
            posted = client.post(f"/api/devices/{device_id}/commands", json={"name": "ping"})
            assert posted.status_code == 202, posted.text
            command_id = posted.json()["command_id"]
            # The response shows the row as committed and read back: the running watcher may
            # already have published it by then.
            assert posted.json()["state"] in {"queued", "sent"}

            def answered() -> bool:
                listed = client.get(f"/api/devices/{device_id}/commands").json()
                return bool(listed[0]["state"] == "answered")

            wait_for(answered, "the device's reply")
            # The worker counts a reply after committing it: wait for the count.
            wait_for(lambda: w.stats().replies == 1, "the reply counted")
        listed = client.get(f"/api/devices/{device_id}/commands").json()
        assert listed[0]["command_id"] == command_id
        assert listed[0]["reply_status"] == "ok" and listed[0]["reply_detail"] == "ping done"
        assert listed[0]["reply_data"] == {"queue_depth": 0}
        assert listed[0]["sent_at"] is not None
    finally:
        stop.set()
        answering.join()
        peer.close()


def test_revoke_needs_a_reason_and_revokes_the_device(
    db_engine: Engine, client: TestClient
) -> None:
    _register(db_engine, "test-revoke-01")
    refused = client.post("/api/devices/test-revoke-01/commands", json={"name": "revoke"})
    assert refused.status_code == 422 and "reason" in refused.json()["detail"][0]["msg"]
    assert _device(db_engine, "test-revoke-01").status is DeviceStatus.ACTIVE
    done = client.post(
        "/api/devices/test-revoke-01/commands",
        json={"name": "revoke", "args": {"reason": "máy bị mất"}},
    )
    assert done.status_code == 202
    assert _device(db_engine, "test-revoke-01").status is DeviceStatus.REVOKED
    assert client.post("/api/devices/nobody/commands", json={"name": "ping"}).status_code == 404


def test_arguments_json_cannot_carry_are_refused_not_a_server_error(
    db_engine: Engine, client: TestClient
) -> None:
    _register(db_engine, "test-args-01")
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(100):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    for settings in ('{"x": NaN}', '{"x": Infinity}'):
        body = '{"name": "config", "args": {"settings": ' + settings + "}}"
        answer = client.post(
            "/api/devices/test-args-01/commands",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
    nested = client.post(
        "/api/devices/test-args-01/commands",
        json={"name": "config", "args": {"settings": deep}},
    )
    assert nested.status_code == 422, nested.text
    with session_scope(db_engine) as s:
        assert commands.list_commands(s, "test-args-01", 10) == []


def test_commands_are_claimed_once(db_engine: Engine) -> None:
    _register(db_engine, "test-claim-01")
    with session_scope(db_engine) as s:
        command = commands.issue_command(s, "test-claim-01", CommandName.PING)
        assert [c.command_id for c in commands.claim_queued_commands(s)] == [command.command_id]
        assert commands.claim_queued_commands(s) == []
        assert not commands.claim_command(s, command.command_id)
        commands.requeue_command(s, command.command_id)
        assert commands.claim_command(s, command.command_id)
        stored = commands.get_command(s, command.command_id)
        assert stored is not None and stored.state is CommandState.SENT


def test_the_command_cli_sends_and_waits_for_the_reply(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
    tmp_path: Path,
    ingest_signer: IngestSigner,
) -> None:
    device_id = f"test-cli-{db_url[:6]}"
    _register(db_engine, device_id)
    config = tmp_path / "server.toml"
    config.write_text(
        "".join(
            f'{key} = "{getattr(settings, key)}"\n'
            for key in (
                "database_url",
                "data_dir",
                "broker_host",
                "ca_file",
                "cert_file",
                "key_file",
                "ingest_group",
            )
        )
        + f"broker_port = {settings.broker_port}\n"
    )
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id))
    stop = threading.Event()
    answering = _answer_commands(peer, stop)
    try:
        with running(IngestWorker(settings, db_engine, Verifier([ingest_signer.ca.cert]))):
            result = CliRunner().invoke(
                server_app,
                [
                    *("command", device_id, "config", "--args", '{"settings": {"x": 1}}'),
                    *("--wait", "15", "--config", str(config)),
                ],
            )
        assert result.exit_code == 0, result.output
        assert "sent to" in result.output and "reply: ok config done" in result.output
        refused = CliRunner().invoke(
            server_app, ["command", device_id, "revoke", "--config", str(config)]
        )
        assert refused.exit_code == 2 and "--reason" in refused.output  # a usage error
    finally:
        stop.set()
        answering.join()
        peer.close()
