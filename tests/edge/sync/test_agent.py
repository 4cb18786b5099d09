"""The sync agent in this process against the real Mosquitto fixture (TLS, client-certificate
identity, ACL), with the server's side played by `IngestPeer`: a real MQTT client with the
server's identity running the protocol's receiver rules (staging, reassembly, duplicates,
acks). The faults with real processes (kill -9, broker crash, SIGTERM, revoke across restarts)
are in test_sync_faults.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import ExitCode
from cli.main import app as sohoa
from edge.config import EdgeSettings
from edge.errors import SyncError
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox, State
from protocol.status import LinkState
from protocol.topics import result_topic
from provisioning.broker import Mosquitto
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
from support.sockets import free_port
from tests.edge.sync.peer import IngestPeer, mqtt_client, wait_until
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity

CREATED = "2025-05-02T01:02:03+00:00"


def pdf(label: str, size: int = 16) -> bytes:
    return b"%PDF-1.7\n" + label.encode() + os.urandom(size) + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def peer(broker: Mosquitto, mqtt_identity: MqttIdentity) -> Iterator[IngestPeer]:
    server = IngestPeer.on(broker, mqtt_identity(SERVER_IDENTITY))
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
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-1"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        ids = [outbox.add(pdf(f"r{i}"), {"so_ky_hieu": f"{i}/QĐ-UBND"}, CREATED) for i in range(3)]
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.duplicates, report.rejected) == (3, 3, 0, 0)
        assert (report.waiting, report.resent, report.failed) == (0, 0, 0)
        assert outbox.counts()[State.ACKED] == 3
        assert {outbox.get(i).record_id for i in ids} == {peer.store.records[i] for i in ids}
        assert all(peer.store.merged[i] == 1 for i in ids)
        assert [a.kind for a in peer.received_for(device)] == ["result"] * 3

        # Nothing left: a second run returns at once without connecting.
        again = SyncAgent(settings, outbox).run_until_drained(timeout=5)
        assert (again.sent, again.accepted, again.waiting) == (0, 0, 0)


def test_a_large_result_goes_in_chunks_and_is_acked(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-chunks"
    peer.watch(device)
    settings = settings_for(
        device,
        broker,
        mqtt_identity(device),
        tmp_path,
        chunk_size=64 * 1024,
        whole_max_bytes=128 * 1024,
    )
    big = pdf("big", 600 * 1024)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(big, {"so_ky_hieu": "9/QĐ-UBND"}, CREATED, {"pages": "4"})
        assert outbox.get(result_id).size == len(big)
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.resent, report.waiting) == (1, 1, 0, 0)
        assert outbox.get(result_id).state is State.ACKED
    kinds = [a.kind for a in peer.received_for(device)]
    assert kinds == ["manifest"] + ["chunk"] * 10  # 600 KiB + 22 bytes in 64 KiB chunks
    assert hashlib.sha256(peer.store.pdfs[result_id]).hexdigest() == result_id
    assert peer.store.merged[result_id] == 1
    assert result_id not in peer.store.chunks  # staging dropped after the merge


def test_duplicates_and_rejections_reach_the_outbox(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-2"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    known = pdf("known")
    with Outbox(tmp_path / "first") as first:
        first.add(known, {}, CREATED)
        assert SyncAgent(settings, first).run_until_drained(timeout=20).accepted == 1
    with Outbox(settings.outbox_dir) as outbox:
        dup = outbox.add(known, {}, CREATED)  # the same result from a restored appliance
        bad = outbox.add(b"GIF89a not a pdf", {}, CREATED)
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.duplicates, report.rejected) == (2, 0, 1, 1)
        assert outbox.get(dup).state is State.ACKED
        assert outbox.get(dup).record_id == peer.store.records[dup]
        assert outbox.get(bad).state is State.REJECTED
        assert outbox.get(bad).last_error == "signature: not a signed PDF"
        assert "rejected (signature)" in (outbox.status().last_error or "")


def test_a_duplicate_ack_changes_nothing(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-dupack"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    peer.double_acks = True  # every answer travels twice
    try:
        with Outbox(settings.outbox_dir) as outbox:
            ids = [outbox.add(pdf(f"d{i}"), {}, CREATED) for i in range(3)]
            agent = SyncAgent(settings, outbox)
            stop = threading.Event()
            reports = []
            worker = threading.Thread(target=lambda: reports.append(agent.run_forever(stop)))
            worker.start()
            try:
                wait_until(
                    lambda: all(outbox.get(i).state is State.ACKED for i in ids), 15, "the acks"
                )
                time.sleep(0.5)  # let the second copies arrive
            finally:
                stop.set()
                worker.join(15)
            (report,) = reports
            assert (report.sent, report.accepted, report.duplicates) == (3, 3, 0)
            assert report.duplicate_acks == 3
            assert {outbox.get(i).record_id for i in ids} == {peer.store.records[i] for i in ids}
            assert all(peer.store.merged[i] == 1 for i in ids)
    finally:
        peer.double_acks = False


def test_an_ack_sent_while_the_appliance_is_offline_waits_in_its_session(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-3"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("late"), {}, CREATED)
        peer.hold = True  # the server stores it but answers late
        try:
            first = SyncAgent(settings, outbox).run_until_drained(timeout=1.5)
            assert (first.sent, first.waiting) == (1, 1)
            assert outbox.get(result_id).state is State.SENT
        finally:
            peer.release()  # the ack goes to the broker while the appliance is offline
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        # ACCEPTED could only come from the broker's session: sent again, the peer says DUPLICATE.
        assert report.accepted == 1
        assert outbox.get(result_id).state is State.ACKED
        assert peer.store.merged[result_id] == 1


def test_the_heartbeat_says_what_waits(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-beat"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        outbox.add(pdf("a"), {}, "2025-05-01T00:00:00+00:00")
        peer.hold = True
        try:
            SyncAgent(settings, outbox, token_probe=lambda: True).run_until_drained(timeout=1.0)
        finally:
            peer.release()
    beats = [h for d, _, h in peer.heartbeats if d == device]
    online, offline = beats[0], beats[-1]
    assert online.state is LinkState.ONLINE and online.queue_depth == 1
    assert online.oldest_pending_age_s is not None and online.oldest_pending_age_s > 3600
    assert online.token_present is True and (online.disk_free_bytes or 0) > 0
    assert online.versions["protocol"] == "1" and "sohoa" in online.versions
    # A clean end says OFFLINE itself (the broker discards the last will).
    assert offline.state is LinkState.OFFLINE and offline.at is not None


def test_heartbeats_come_every_period_while_nothing_changes(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-period"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path, heartbeat_s=1.0)
    with Outbox(settings.outbox_dir) as outbox:
        stop = threading.Event()
        worker = threading.Thread(target=SyncAgent(settings, outbox).run_forever, args=(stop,))
        worker.start()
        time.sleep(2.6)
        stop.set()
        worker.join(10)
    states = [h.state for d, _, h in peer.heartbeats if d == device]
    assert states[:3] == [LinkState.ONLINE] * 3 and states[-1] is LinkState.OFFLINE


def test_a_device_cannot_publish_on_another_devices_topic(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    # Straight through paho: the broker answers the PUBACK with 0x87 Not authorized (MQTT v5).
    client = mqtt_client(
        broker.host, broker.port, broker.ca_file, mqtt_identity("sync-dev-a"), "sync-dev-a"
    )
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
    peer.watch("sync-dev-b")
    settings = settings_for("sync-dev-b", broker, mqtt_identity("sync-dev-a"), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("stolen"), {}, CREATED)
        with pytest.raises(SyncError, match=r"refused result .* Not authorized"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)
        assert outbox.get(result_id).state is State.SENT
        assert "Not authorized" in (outbox.get(result_id).last_error or "")
    assert not peer.received_for("sync-dev-b")


def test_a_client_without_a_certificate_cannot_connect(broker: Mosquitto) -> None:
    client = mqtt_client(broker.host, broker.port, broker.ca_file, None, "anonymous")
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
    with Outbox(settings.outbox_dir) as outbox:
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
    with Outbox(settings.outbox_dir) as outbox:
        outbox.add(pdf("y"), {}, CREATED)
        with pytest.raises(SyncError, match=r"TLS with .* certificate is not trusted"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)


def test_nothing_listening_is_a_sync_error(
    broker: Mosquitto, mqtt_identity: MqttIdentity, tmp_path: Path
) -> None:
    settings = settings_for(
        "sync-dev-z", broker, mqtt_identity("sync-dev-z"), tmp_path, broker_port=free_port()
    )
    with Outbox(settings.outbox_dir) as outbox:
        outbox.add(pdf("z"), {}, CREATED)
        start = time.monotonic()
        with pytest.raises(SyncError, match="refused the connection"):
            SyncAgent(settings, outbox).run_until_drained(timeout=10)
        assert time.monotonic() - start < 5


def test_run_forever_sends_what_arrives_until_stopped(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-4"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        stop = threading.Event()
        agent = SyncAgent(settings, outbox)
        worker = threading.Thread(target=agent.run_forever, args=(stop,))
        worker.start()
        try:
            result_id = outbox.add(pdf("kiosk"), {}, CREATED)  # signed while the agent runs
            wait_until(lambda: outbox.get(result_id).state is State.ACKED, 15, "the ack")
        finally:
            stop.set()
            worker.join(10)
        assert not worker.is_alive()


def test_a_damaged_pdf_is_reported_and_does_not_block_the_others(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-dev-5"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        damaged = outbox.add(pdf("damaged"), {}, CREATED)
        good = outbox.add(pdf("good"), {}, CREATED)
        outbox.blob_path(damaged).write_bytes(b"%PDF-1.7 bit rot")
        report = SyncAgent(settings, outbox).run_until_drained(timeout=20)

        assert (report.sent, report.accepted, report.failed, report.waiting) == (1, 1, 1, 1)
        assert outbox.get(good).state is State.ACKED
        assert outbox.get(damaged).state is State.QUEUED
        assert "damaged" in (outbox.get(damaged).last_error or "")
        assert "damaged" in (outbox.status().last_error or "")


def _toml(settings: EdgeSettings, path: Path, **extra: Any) -> Path:
    keys = ("device_id", "data_dir", "broker_host", "broker_port", "ca_file", "cert_file")
    values = {key: getattr(settings, key) for key in (*keys, "key_file")} | extra
    path.write_text(
        "".join(
            f"{key} = {json.dumps(v if isinstance(v, int | float) else str(v))}\n"
            for key, v in values.items()
        )
    )
    return path


def test_sync_command_once_delivers_the_outbox(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-cli-1"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("cli"), {"so_ky_hieu": "7/QĐ-UBND"}, CREATED)
    config = _toml(settings, tmp_path / "edge.toml")
    result = CliRunner().invoke(sohoa, ["edge", "sync", "--config", str(config), "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1, accepted 1" in result.output
    with Outbox(settings.outbox_dir) as outbox:
        assert outbox.get(result_id).state is State.ACKED


def test_sync_command_once_fails_when_results_are_left(
    broker: Mosquitto, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "sync-cli-3"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("unanswered"), {}, CREATED)
    config = _toml(settings, tmp_path / "edge.toml")
    peer.hold = True
    try:
        args = ["edge", "sync", "--config", str(config), "--once", "--timeout", "1"]
        result = CliRunner().invoke(sohoa, args)
    finally:
        peer.release()
    assert result.exit_code == ExitCode.INCOMPLETE, result.output
    assert "sent 1, accepted 0" in result.output
    assert "1 result(s) still wait" in result.output
    with Outbox(settings.outbox_dir) as outbox:
        assert outbox.get(result_id).state is State.SENT


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
    result = CliRunner().invoke(sohoa, ["edge", "sync", "--config", str(config), "--once"])
    assert result.exit_code == ExitCode.EDGE
    assert "sohoa: error:" in result.output and str(settings.broker_port) in result.output
    with Outbox(settings.outbox_dir) as outbox:
        assert outbox.get(result_id).state is State.QUEUED  # kept for the next sync
