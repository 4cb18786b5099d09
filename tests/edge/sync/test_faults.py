"""The sync agent under faults, with real processes: `sohoa edge sync` killed with SIGKILL (or
stopped with SIGTERM) mid-transfer and restarted, the broker crashed and restarted mid-transfer,
the byte-rate cap measured on the receiving side, the retained heartbeat and the last will, and
the server's commands (ping, config, catalog, revoke) with a revocation that survives restarts.

The broker is a private Mosquitto of the test CA, restartable on its port, whose ACL also lets
devices publish command replies; the server's side is `IngestPeer` (the protocol's receiver
rules in the test process).
"""

from __future__ import annotations

import json
import os
import signal
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
from edge.sync.agent import REFRESH_S, SyncAgent, SyncReport
from edge.sync.outbox import Outbox, State
from harness.broker import Broker
from harness.processes import AgentProcess
from protocol.commands import CommandName, ReplyStatus
from protocol.status import LinkState
from provisioning.ca import CertificateAuthority
from tests.edge.sync.peer import IngestPeer, private_broker, retained_status, wait_until
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity

CREATED = "2025-05-02T01:02:03+00:00"
KIB = 1024


def pdf(label: str, size: int = 16) -> bytes:
    return b"%PDF-1.7\n" + label.encode() + os.urandom(size) + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def fault_broker(
    mqtt_ca: CertificateAuthority,
    mqtt_server_ca: CertificateAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Broker]:
    broker = private_broker(
        tmp_path_factory.mktemp("fault-broker"), mqtt_ca, mqtt_server_ca, SERVER_IDENTITY
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def peer(fault_broker: Broker, mqtt_identity: MqttIdentity) -> Iterator[IngestPeer]:
    server = IngestPeer.on(fault_broker, mqtt_identity(SERVER_IDENTITY))
    yield server
    server.close()


def edge_values(
    device: str, broker: Broker, mqtt_identity: MqttIdentity, tmp_path: Path, **extra: Any
) -> dict[str, Any]:
    cert, key = mqtt_identity(device)
    return {
        "device_id": device,
        "data_dir": tmp_path / device,
        "broker_host": broker.host,
        "broker_port": broker.port,
        "ca_file": broker.ca_file,
        "cert_file": cert,
        "key_file": key,
        **extra,
    }


def write_toml(values: dict[str, Any], path: Path) -> Path:
    path.write_text(
        "".join(
            f"{k} = {json.dumps(v if isinstance(v, int | float) else str(v), ensure_ascii=False)}\n"
            for k, v in values.items()
        )
    )
    return path


def chunk_indexes(peer: IngestPeer, device: str, result_id: str) -> list[int]:
    return [
        a.index
        for a in peer.received_for(device)
        if a.result_id == result_id and a.index is not None
    ]


class AgentThread:
    """`SyncAgent.run_forever` in a thread of this process, stopped like SIGTERM stops it."""

    def __init__(self, settings: EdgeSettings, outbox: Outbox) -> None:
        self.agent = SyncAgent(settings, outbox)
        self.stop_event = threading.Event()
        self.reports: list[SyncReport] = []
        self.thread = threading.Thread(
            target=lambda: self.reports.append(self.agent.run_forever(self.stop_event))
        )
        self.thread.start()

    def stop(self) -> SyncReport:
        self.stop_event.set()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the agent did not stop"
        return self.reports[0]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_an_agent_stopped_mid_transfer_resumes_after_a_restart(
    fault_broker: Broker,
    mqtt_identity: MqttIdentity,
    peer: IngestPeer,
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    device = f"fault-stop-{sig.name.lower()}"
    peer.watch(device)
    values = edge_values(
        device,
        fault_broker,
        mqtt_identity,
        tmp_path,
        chunk_size=64 * KIB,
        whole_max_bytes=64 * KIB,
        max_bytes_per_s=100_000,  # ~7 s for 10 chunks: time to stop it midway
    )
    big = pdf("resume", 600 * KIB)
    with Outbox(EdgeSettings(**values).outbox_dir) as outbox:
        result_id = outbox.add(big, {"so_ky_hieu": "15/QĐ-UBND"}, CREATED)
    config = write_toml(values, tmp_path / "edge.toml")

    first = AgentProcess(config, tmp_path / "agent.log")
    first.start()
    try:
        wait_until(lambda: len(chunk_indexes(peer, device, result_id)) >= 4, 60, "4 chunks")
    finally:
        first.kill(sig)
    assert first.returncode == (-signal.SIGKILL if sig is signal.SIGKILL else 0), first.log_tail()
    time.sleep(0.5)  # what the broker already took still reaches the server
    before = set(chunk_indexes(peer, device, result_id))
    seen = len(peer.received_for(device))
    assert not peer.merged(result_id) and len(before) < 10
    with Outbox(EdgeSettings(**values).outbox_dir) as outbox:
        assert outbox.get(result_id).state is State.SENT  # marked before its first message

    second = AgentProcess(config, tmp_path / "agent.log", once=True, timeout=60)
    second.start()
    assert second.wait(90) == 0, second.log_tail()

    assert peer.store.merged[result_id] == 1
    assert peer.store.pdfs[result_id] == big
    after = peer.received_for(device)[seen:]
    again = [a.index for a in after if a.kind == "chunk"]
    # It asked which chunks were missing and sent only those.
    assert after[0].kind == "manifest"
    assert set(again) == set(range(10)) - before, (sorted(before), again)
    with Outbox(EdgeSettings(**values).outbox_dir) as outbox:
        assert outbox.pending() == []
        assert outbox.get(result_id).state is State.ACKED


@pytest.mark.slow
def test_a_broker_crash_mid_transfer_is_survived(
    fault_broker: Broker, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "fault-broker-crash"
    peer.watch(device)
    settings = EdgeSettings(
        **edge_values(
            device,
            fault_broker,
            mqtt_identity,
            tmp_path,
            chunk_size=64 * KIB,
            whole_max_bytes=64 * KIB,
            max_bytes_per_s=150_000,
            ack_timeout_s=2.0,
        )
    )
    big = pdf("crash", 600 * KIB)
    small = [pdf(f"s{i}") for i in range(3)]
    with Outbox(settings.outbox_dir) as outbox:
        ids = [outbox.add(data, {}, CREATED) for data in (big, *small)]
        agent = AgentThread(settings, outbox)
        try:
            wait_until(lambda: len(chunk_indexes(peer, device, ids[0])) >= 3, 30, "3 chunks")
            fault_broker.restart(crash=True)  # SIGKILL: what it had not saved is lost
            wait_until(
                lambda: all(outbox.get(i).state is State.ACKED for i in ids), 60, "every ack"
            )
        finally:
            report = agent.stop()
    assert all(peer.store.merged[i] == 1 for i in ids)
    assert peer.store.pdfs[ids[0]] == big
    assert report.accepted + report.duplicates == 4
    assert report.resent >= 1  # the cut transfer was taken up again


@pytest.mark.slow
def test_the_byte_rate_cap_holds(
    fault_broker: Broker, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "fault-cap"
    peer.watch(device)
    cap = 200_000
    settings = EdgeSettings(
        **edge_values(
            device,
            fault_broker,
            mqtt_identity,
            tmp_path,
            chunk_size=32 * KIB,
            whole_max_bytes=32 * KIB,
            max_bytes_per_s=cap,
        )
    )
    with Outbox(settings.outbox_dir) as outbox:
        result_id = outbox.add(pdf("cap", 1000 * KIB), {}, CREATED)
        start = time.monotonic()
        report = SyncAgent(settings, outbox).run_until_drained(timeout=30)
    assert report.accepted == 1
    got = [a for a in peer.received_for(device) if a.result_id == result_id]
    total = sum(a.size for a in got)
    overall = total / (got[-1].at - start)
    # Past the first bucketful, each message goes when the previous ones are paid for.
    steady = sum(a.size for a in got[5:]) / (got[-1].at - got[4].at)
    print(
        f"\ncap {cap} B/s: {total} bytes in {len(got)} messages; steady {steady:.0f} B/s "
        f"({steady / cap:.1%}), overall incl. connect and first burst {overall:.0f} B/s "
        f"({overall / cap:.1%})"
    )
    assert 0.8 * cap <= steady <= 1.2 * cap
    assert overall <= 1.2 * cap


def test_a_chunked_flush_through_the_broker(
    fault_broker: Broker, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "fault-flush"
    peer.watch(device)
    settings = EdgeSettings(
        **edge_values(
            device,
            fault_broker,
            mqtt_identity,
            tmp_path,
            chunk_size=64 * KIB,
            whole_max_bytes=128 * KIB,
        )
    )
    with Outbox(settings.outbox_dir) as outbox:
        ids = [outbox.add(pdf(f"f{i}", 600 * KIB), {}, CREATED) for i in range(10)]
        report = SyncAgent(settings, outbox).run_until_drained(timeout=60)
    assert (report.sent, report.accepted, report.resent, report.waiting) == (10, 10, 0, 0)
    assert all(peer.store.merged[i] == 1 for i in ids)
    print(
        f"\n10 x 600 KiB in 64 KiB chunks: {report.seconds:.2f} s, "
        f"{report.bytes_sent / report.seconds / 1e6:.1f} MB/s, "
        f"{10 / report.seconds:.1f} results/s (receiver in the same process)"
    )


@pytest.mark.slow
def test_the_heartbeat_is_retained_and_the_last_will_says_offline(
    fault_broker: Broker, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "fault-beat"
    peer.watch(device)
    server = mqtt_identity(SERVER_IDENTITY)
    values = edge_values(device, fault_broker, mqtt_identity, tmp_path)
    with Outbox(EdgeSettings(**values).outbox_dir) as outbox:
        outbox.add(pdf("waits"), {}, CREATED)
    config = write_toml(values, tmp_path / "edge.toml")

    def retained() -> Any:
        return retained_status(
            fault_broker.host, fault_broker.server_port, fault_broker.ca_file, server, device
        )

    def beats() -> list[Any]:
        with peer.lock:
            return [h for d, _, h in peer.heartbeats if d == device]

    peer.hold = True  # the result stays waiting: the heartbeat shows it
    try:
        agent = AgentProcess(config, tmp_path / "agent.log")
        agent.start()
        wait_until(lambda: any(b.state is LinkState.ONLINE for b in beats()), 30, "online")
        beat = retained()
        assert beat is not None and beat.state is LinkState.ONLINE
        assert beat.queue_depth == 1 and beat.at is not None
        assert beat.versions["protocol"] == "1"

        agent.kill()  # kill -9: the broker publishes the last will
        wait_until(lambda: beats()[-1].state is LinkState.OFFLINE, 10, "the last will")
        will = retained()
        assert will is not None and will.state is LinkState.OFFLINE
        assert will.at is None and will.queue_depth is None  # the will, written at connect

        again = AgentProcess(config, tmp_path / "agent.log")
        again.start()
        wait_until(lambda: beats()[-1].state is LinkState.ONLINE, 30, "online again")
        again.stop()  # SIGTERM: a clean stop
        assert again.returncode == 0, again.log_tail()
        wait_until(lambda: beats()[-1].state is LinkState.OFFLINE, 10, "offline")
        count = len(beats())
        time.sleep(1.0)
        assert len(beats()) == count, "the broker published the last will after a clean stop"
        clean = retained()
        assert clean is not None and clean.state is LinkState.OFFLINE
        assert clean.at is not None and clean.queue_depth == 1  # ours, not the will
    finally:
        peer.release()


@pytest.mark.slow
def test_commands_are_answered_and_a_revocation_survives_restarts(
    fault_broker: Broker, mqtt_identity: MqttIdentity, peer: IngestPeer, tmp_path: Path
) -> None:
    device = "fault-revoke"
    peer.watch(device)
    values = edge_values(device, fault_broker, mqtt_identity, tmp_path)
    settings = EdgeSettings(**values)
    reason = "máy bị mất ngày 2/5"

    def beats() -> list[Any]:
        with peer.lock:
            return [h for d, _, h in peer.heartbeats if d == device]

    peer.hold = True
    try:
        with Outbox(settings.outbox_dir) as outbox:
            first = outbox.add(pdf("before"), {}, CREATED)
            agent = AgentThread(settings, outbox)
            try:
                wait_until(lambda: bool(peer.received_for(device)), 15, "the first result")

                ping = peer.reply(peer.command(device, CommandName.PING))
                assert ping.status is ReplyStatus.OK
                assert ping.data["queue_depth"] == 1 and ping.data["state"] == "online"

                config = peer.reply(peer.command(device, CommandName.CONFIG, settings={}))
                assert config.status is ReplyStatus.OK
                shown = config.data["settings"]
                assert isinstance(shown, dict) and shown["device_id"] == device
                assert "key_file" not in shown and shown["chunk_size"] == 256 * KIB
                change = peer.command(device, CommandName.CONFIG, settings={"broker_host": "x"})
                refused = peer.reply(change)
                assert refused.status is ReplyStatus.ERROR and "broker_host" in refused.detail

                catalog = peer.reply(peer.command(device, CommandName.CATALOG, version="2025.1"))
                assert catalog.status is ReplyStatus.OK
                assert catalog.data["waiting"] == [first] and catalog.data["waiting_total"] == 1
                assert catalog.data["counts"] == {"queued": 0, "sent": 1, "acked": 0, "rejected": 0}

                revoke = peer.reply(peer.command(device, CommandName.REVOKE, reason=reason))
                assert revoke.status is ReplyStatus.OK
                wait_until(lambda: beats()[-1].state is LinkState.STOPPED, 10, "stopped")
                assert reason in (beats()[-1].last_error or "")
                assert outbox.status().revoked == reason  # what the kiosk shows

                later = outbox.add(pdf("after"), {}, CREATED)
                time.sleep(REFRESH_S + 1.5)
                assert not [a for a in peer.received_for(device) if a.result_id == later]
            finally:
                report = agent.stop()
            assert report.revoked == reason

            # A restart does not resume sending: --once refuses at once, run_forever says STOPPED.
            again = SyncAgent(settings, outbox).run_until_drained(timeout=5)
            assert again.revoked == reason and (again.sent, again.waiting) == (0, 2)
        config_file = write_toml(values, tmp_path / "edge.toml")
        args = ["edge", "sync", "--config", str(config_file), "--once"]
        result = CliRunner().invoke(sohoa, args)
        assert result.exit_code == ExitCode.EDGE and "revoked" in result.stderr

        with Outbox(settings.outbox_dir) as outbox:
            count = len(beats())
            agent = AgentThread(settings, outbox)
            try:
                wait_until(lambda: len(beats()) > count, 15, "a heartbeat after the restart")
                assert beats()[count].state is LinkState.STOPPED
                time.sleep(REFRESH_S + 0.5)
            finally:
                agent.stop()
        assert not [a for a in peer.received_for(device) if a.result_id == later]
    finally:
        peer.release()
