"""The sync agent against the real Mosquitto fixture (TLS, client-certificate identity, ACL).

The server side here is a small real MQTT peer with the server's identity: it reads the devices'
result topics, stores each result once, and publishes the application ack (ACCEPTED, DUPLICATE
for a result it already has, REJECTED for what is not a PDF). The server's own ingest is tested
with the server.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from edge.cli import app as edge_app
from edge.config import EdgeSettings
from edge.errors import SyncError
from edge.outbox import Outbox, State
from edge.sync_agent import SyncAgent
from protocol.encoding import decode, encode
from protocol.messages import Ack, AckStatus, RejectReason, ResultMessage
from protocol.topics import ack_topic, parse, result_topic
from provisioning.broker import Mosquitto, free_port
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity

CREATED = "2025-05-02T01:02:03+00:00"


def pdf(label: str) -> bytes:
    return b"%PDF-1.7\n" + label.encode() + os.urandom(16) + b"\n%%EOF\n"


def mqtt_client(broker: Mosquitto, identity: tuple[Path, Path] | None, name: str) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv5,
    )
    context = ssl.create_default_context(cafile=str(broker.ca_file))
    if identity is not None:
        context.load_cert_chain(*identity)
    client.tls_set_context(context)
    return client


class ServerPeer:
    """The server's side of the protocol, thin: a real MQTT client with the server identity."""

    def __init__(self, broker: Mosquitto, identity: tuple[Path, Path]) -> None:
        self.client = mqtt_client(broker, identity, "test-server")
        self.records: dict[str, str] = {}
        self.received: Counter[str] = Counter()
        self.holding = False
        self.held: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        connected = threading.Event()
        self.subscribed = threading.Event()
        self.client.on_connect = lambda *_: connected.set()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert connected.wait(5), "the test's server peer could not connect"

    def watch(self, device_id: str) -> None:
        """Read the results of `device_id` (only this test's devices, not the whole broker)."""
        self.subscribed.clear()
        self.client.subscribe(result_topic(device_id), qos=1)
        assert self.subscribed.wait(5)

    def release(self) -> None:
        """Send the acks held back while `holding`."""
        with self._lock:
            self.holding, held, self.held = False, self.held, []
        for device_id, result_id in held:
            self._ack(
                device_id, Ack(result_id, AckStatus.ACCEPTED, record_id=self.records[result_id])
            )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        device_id = parse(msg.topic).device_id
        message = decode(bytes(msg.payload))
        assert isinstance(message, ResultMessage)
        assert message.device_id == device_id
        with self._lock:
            self.received[message.result_id] += 1
            if not message.pdf.startswith(b"%PDF"):
                ack = Ack(message.result_id, AckStatus.REJECTED, RejectReason.SCHEMA, "not a PDF")
            elif message.result_id in self.records:
                ack = Ack(
                    message.result_id,
                    AckStatus.DUPLICATE,
                    record_id=self.records[message.result_id],
                )
            else:
                self.records[message.result_id] = f"rec-{len(self.records) + 1}"
                if self.holding:
                    self.held.append((device_id, message.result_id))
                    return
                ack = Ack(
                    message.result_id, AckStatus.ACCEPTED, record_id=self.records[message.result_id]
                )
        self._ack(device_id, ack)

    def _ack(self, device_id: str, ack: Ack) -> None:
        self.client.publish(ack_topic(device_id), encode(ack), qos=1)


@pytest.fixture(scope="module")
def peer(broker: Mosquitto, mqtt_identity: MqttIdentity) -> Iterator[ServerPeer]:
    server = ServerPeer(broker, mqtt_identity(SERVER_IDENTITY))
    yield server
    server.close()


def settings_for(
    device_id: str,
    broker: Mosquitto,
    identity: tuple[Path, Path],
    tmp_path: Path,
    **overrides: Any,
) -> EdgeSettings:
    values: dict[str, Any] = {
        "device_id": device_id,
        "data_dir": tmp_path / device_id,
        "broker_host": broker.host,
        "broker_port": broker.port,
        "ca_file": broker.ca_file,
        "cert_file": identity[0],
        "key_file": identity[1],
        **overrides,
    }
    return EdgeSettings(**values)


def test_pending_results_end_acked(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-dev-1"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.data_dir / "outbox") as outbox:
        ids = [outbox.add(pdf(f"r{i}"), {"so_ky_hieu": f"{i}/QĐ-UBND"}, CREATED) for i in range(3)]
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.duplicates, report.rejected) == (3, 3, 0, 0)
        assert outbox.counts()[State.ACKED] == 3
        assert {outbox.get(i).record_id for i in ids} == {peer.records[i] for i in ids}
        assert all(peer.received[i] == 1 for i in ids)

        # Nothing left: a second run returns at once without sending anything.
        again = SyncAgent(settings, outbox).run_until_drained(timeout=5)
        assert (again.sent, again.accepted) == (0, 0)


def test_duplicates_and_rejections_reach_the_outbox(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-dev-2"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    known = pdf("known")
    with Outbox(tmp_path / "first") as first:
        first.add(known, {}, CREATED)
        assert SyncAgent(settings, first).run_until_drained(timeout=20).accepted == 1
    with Outbox(settings.data_dir / "outbox") as outbox:
        dup = outbox.add(known, {}, CREATED)  # the same result from a restored appliance
        bad = outbox.add(b"GIF89a not a pdf", {}, CREATED)
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.duplicates, report.rejected) == (2, 0, 1, 1)
        assert outbox.get(dup).state is State.ACKED
        assert outbox.get(dup).record_id == peer.records[dup]
        assert outbox.get(bad).state is State.REJECTED
        assert outbox.get(bad).last_error == "schema: not a PDF"


def test_an_ack_sent_while_the_appliance_is_offline_waits_in_its_session(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-dev-3"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.data_dir / "outbox") as outbox:
        result_id = outbox.add(pdf("late"), {}, CREATED)
        peer.holding = True  # the server stores it but answers late
        with pytest.raises(SyncError, match="still wait for the server's answer"):
            SyncAgent(settings, outbox).run_until_drained(timeout=1.5)
        assert outbox.get(result_id).state is State.SENT

        peer.release()  # the ack goes to the broker while the appliance is offline
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        # ACCEPTED could only come from the broker's session: sent again, the peer says DUPLICATE.
        assert report.accepted == 1
        assert outbox.get(result_id).state is State.ACKED
        assert peer.received[result_id] >= 1


def test_a_device_cannot_publish_on_another_devices_topic(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    # Straight through paho: the broker answers the PUBACK with 0x87 Not authorized (MQTT v5).
    client = mqtt_client(broker, mqtt_identity("sync-dev-a"), "sync-dev-a")
    pubacks: list[int] = []
    acked = threading.Event()

    def on_publish(*args: Any) -> None:
        pubacks.append(args[3].value)
        acked.set()

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(result_topic("sync-dev-b"), b"{}", qos=1)
        assert acked.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    assert pubacks == [0x87]

    # Through the agent: an appliance configured as another device's id is refused with reason.
    settings = settings_for("sync-dev-b", broker, mqtt_identity("sync-dev-a"), tmp_path)
    with Outbox(settings.data_dir / "outbox") as outbox:
        result_id = outbox.add(pdf("stolen"), {}, CREATED)
        with pytest.raises(SyncError, match=r"refused result .* Not authorized"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)
        assert outbox.get(result_id).state is State.SENT
        assert "Not authorized" in (outbox.get(result_id).last_error or "")
    assert peer.received[result_id] == 0


def test_a_client_without_a_certificate_cannot_connect(broker: Mosquitto) -> None:
    client = mqtt_client(broker, None, "anonymous")
    outcome: list[str] = []
    done = threading.Event()

    def on_connect(*args: Any) -> None:
        outcome.append(f"connack {args[3]}")
        done.set()

    def on_disconnect(*args: Any) -> None:
        outcome.append("disconnected")
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect(broker.host, broker.port)  # does not raise: the refusal comes later
    client.loop_start()
    try:
        assert done.wait(5)
    finally:
        client.loop_stop()
    assert outcome == ["disconnected"]


def test_a_certificate_from_another_ca_is_a_sync_error(broker: Mosquitto, tmp_path: Path) -> None:
    stranger = CertificateAuthority.create("Not the provincial CA")
    key = new_key()
    write_private_key(key, tmp_path / "key.pem")
    write_certificate(
        stranger.issue(key.public_key(), "sync-dev-x", Profile.TLS_CLIENT), tmp_path / "cert.pem"
    )
    settings = settings_for(
        "sync-dev-x", broker, (tmp_path / "cert.pem", tmp_path / "key.pem"), tmp_path
    )
    with Outbox(settings.data_dir / "outbox") as outbox:
        outbox.add(pdf("x"), {}, CREATED)
        with pytest.raises(SyncError, match="refused this appliance's certificate"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)


def test_a_broker_certificate_from_another_ca_is_a_tls_error(
    broker: Mosquitto, mqtt_identity: MqttIdentity, tmp_path: Path
) -> None:
    stranger = CertificateAuthority.create("Not the provincial CA")
    settings = settings_for(
        "sync-dev-y",
        broker,
        mqtt_identity("sync-dev-y"),
        tmp_path,
        ca_file=stranger.save(tmp_path / "stranger"),
    )
    with Outbox(settings.data_dir / "outbox") as outbox:
        outbox.add(pdf("y"), {}, CREATED)
        with pytest.raises(SyncError, match=r"TLS with .* certificate is not trusted"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)


def test_nothing_listening_is_a_sync_error(
    broker: Mosquitto, mqtt_identity: MqttIdentity, tmp_path: Path
) -> None:
    settings = settings_for(
        "sync-dev-z", broker, mqtt_identity("sync-dev-z"), tmp_path, broker_port=free_port()
    )
    with Outbox(settings.data_dir / "outbox") as outbox:
        outbox.add(pdf("z"), {}, CREATED)
        start = time.monotonic()
        with pytest.raises(SyncError, match="refused the connection"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)
        assert time.monotonic() - start < 5


def test_run_forever_sends_what_arrives_until_stopped(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-dev-4"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.data_dir / "outbox") as outbox:
        stop = threading.Event()
        agent = SyncAgent(settings, outbox)
        worker = threading.Thread(target=agent.run_forever, args=(stop,))
        worker.start()
        try:
            result_id = outbox.add(pdf("kiosk"), {}, CREATED)  # signed while the agent runs
            deadline = time.monotonic() + 15
            while outbox.get(result_id).state is not State.ACKED and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(10)
        assert not worker.is_alive()
        assert outbox.get(result_id).state is State.ACKED


def test_a_damaged_pdf_is_reported_and_does_not_block_the_others(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-dev-5"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.data_dir / "outbox") as outbox:
        damaged = outbox.add(pdf("damaged"), {}, CREATED)
        good = outbox.add(pdf("good"), {}, CREATED)
        outbox.blob_path(damaged).write_bytes(b"%PDF-1.7 bit rot")
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.failed) == (1, 1, 1)
        assert outbox.get(good).state is State.ACKED
        assert outbox.get(damaged).state is State.QUEUED
        assert "damaged" in (outbox.get(damaged).last_error or "")


def _toml(settings: EdgeSettings, path: Path) -> Path:
    keys = ("device_id", "data_dir", "broker_host", "broker_port", "ca_file", "cert_file")
    values = {key: getattr(settings, key) for key in (*keys, "key_file")}
    path.write_text(
        "".join(
            f"{key} = {json.dumps(v if isinstance(v, int) else str(v))}\n"
            for key, v in values.items()
        )
    )
    return path


def test_sync_command_once_delivers_the_outbox(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: ServerPeer, tmp_path: Path
) -> None:
    device = "sync-cli-1"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("cli"), {"so_ky_hieu": "7/QĐ-UBND"}, CREATED)
    config = _toml(settings, tmp_path / "edge.toml")
    result = CliRunner().invoke(edge_app, ["sync", "--config", str(config), "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1, accepted 1" in result.output
    with Outbox(settings.outbox_dir) as outbox:
        item = outbox.get(result_id)
        assert item is not None and item.state is State.ACKED


def test_sync_command_names_an_unreachable_broker(
    broker: Mosquitto, mqtt_identity: MqttIdentity, tmp_path: Path
) -> None:
    device = "sync-cli-2"
    settings = settings_for(
        device, broker, mqtt_identity(device), tmp_path, broker_port=free_port()
    )
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("unreachable"), {}, CREATED)
    config = _toml(settings, tmp_path / "edge.toml")
    result = CliRunner().invoke(edge_app, ["sync", "--config", str(config), "--once"])
    assert isinstance(result.exception, SyncError)
    assert str(settings.broker_port) in str(result.exception)
    with Outbox(settings.outbox_dir) as outbox:
        item = outbox.get(result_id)
        assert item is not None and item.state is State.QUEUED  # kept for the next sync
    with Outbox(settings.outbox_dir) as outbox:
        item = outbox.get(result_id)
        assert item is not None and item.state is State.QUEUED  # kept for the next sync
