"""Sync under faults, with real processes: `sohoa edge sync` agents, Mosquitto, `sohoa server
run|ingest`, SoftHSM-signed results, SQLite and PostgreSQL.

Each test provisions its own fleet (`harness.fleet`), breaks something for real (SIGKILL of the
agent or of the server, a broker restart or crash, the same result sent twice, a week without a
broker, two ingest processes racing on PostgreSQL) and ends with the same checks: every result is
in the repository exactly once, every signature verifies again here (with the registered signer),
every stored PDF is intact, and no outbox holds a result still waiting.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import Session, func, select

from edge.sync.outbox import Outbox, State
from harness.audit import Audit, audit_repository
from harness.broker import Broker
from harness.fleet import Fleet, provision_fleet
from harness.postgres import PostgresCluster
from harness.processes import AgentProcess, server_nodes, wait_for
from harness.results import ResultMaker, fill_in_parallel
from protocol.encoding import decode, encode
from protocol.messages import Ack, ResultMessage
from protocol.topics import ack_topic, result_topic
from server.db import make_engine
from server.models import Record, TransferChunk
from server.process import ServerProcess

pytestmark = pytest.mark.slow

EDGE = {
    "ack_timeout_s": 3.0,  # resend soon after a loss (the default 30 s would only slow the test)
    "ack_timeout_max_s": 10.0,
    "reconnect_max_s": 2.0,
    "heartbeat_s": 5.0,
}
"""Agent settings of every test: a field appliance's rules, on a test's time scale."""
_databases = itertools.count()


class Rig:
    """One test's fleet, its broker, and the processes the test starts (stopped at the end)."""

    def __init__(self, workdir: Path, devices: int, database_url: str | None = None) -> None:
        self.fleet: Fleet = provision_fleet(workdir, devices, database_url=database_url)
        self.broker = Broker(self.fleet.broker_files)
        self.broker.start()
        self.children: list[AgentProcess | ServerProcess] = []
        self._engine = make_engine(self.fleet.database_url)

    def configure(self, **edge: Any) -> None:
        """Write every appliance's edge.toml for the broker's port, with `EDGE` and `edge`."""
        for appliance in self.fleet.appliances:
            self.fleet.write_edge_config(
                appliance, self.broker.host, self.broker.port, **{**EDGE, **edge}
            )

    def fill(self, index: int, count: int, **kwargs: Any) -> list[str]:
        """Sign `count` realistic results of appliance `index` into its outbox."""
        with ResultMaker(self.fleet) as maker:
            return maker.fill(self.fleet.appliances[index], count, **kwargs)

    def servers(self, processes: int = 1, workers: int = 1, first_role: str = "run") -> list[Any]:
        """Start the server processes."""
        nodes = server_nodes(
            self.fleet,
            self.broker.port,
            processes=processes,
            workers=workers,
            first_role=first_role,
        )
        for node in nodes:
            node.start()
            self.children.append(node)
        return nodes

    def agent(self, index: int, *, once: bool = False, timeout: float = 120.0) -> AgentProcess:
        """Start `sohoa edge sync` for appliance `index`."""
        appliance = self.fleet.appliances[index]
        agent = AgentProcess(
            appliance.config_file, appliance.home / "sync.log", once=once, timeout=timeout
        )
        agent.start()
        self.children.append(agent)
        return agent

    def records(self) -> int:
        """Records in the repository now."""
        with Session(self._engine) as session:
            return session.exec(select(func.count()).select_from(Record)).one()

    def staged_chunks(self) -> int:
        """Chunks of unfinished transfers staged in the repository now."""
        with Session(self._engine) as session:
            return session.exec(select(func.count()).select_from(TransferChunk)).one()

    def wait_records(self, count: int, timeout: float) -> None:
        """Wait until the repository holds `count` records."""
        wait_for(lambda: self.records() >= count, timeout, f"{count} records in the repository")

    def waiting(self, index: int) -> int:
        """Results of appliance `index` still waiting for the server's answer."""
        with Outbox(self.fleet.appliances[index].outbox_dir) as outbox:
            counts = outbox.counts()
        return counts[State.QUEUED] + counts[State.SENT]

    def check(self, sent: list[str], *, reverify: int | None = None) -> Audit:
        """The checks every test ends with."""
        audit = audit_repository(self.fleet, sent, reverify=reverify)
        assert audit.missing == ()
        assert audit.duplicates == 0
        assert audit.unexpected == 0
        assert audit.invalid_signatures == 0
        assert audit.damaged_blobs == 0
        assert audit.reverify_failures == 0
        assert audit.exactly_once
        for index in range(len(self.fleet.appliances)):
            assert self.waiting(index) == 0, f"appliance {index} still has results waiting"
        return audit

    def close(self) -> None:
        """Stop every process (by its own PID) and the broker."""
        for child in reversed(self.children):
            child.stop()
        self.broker.stop()
        self._engine.dispose()

    def logs(self) -> str:
        """The ends of every child's log (for a failing assertion)."""
        return "\n".join(f"--- {c.name}\n{c.log_tail(10)}" for c in self.children)


@pytest.fixture
def rig_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # provision_fleet points SOFTHSM2_CONF at the fleet's token: restore it for other tests.
    monkeypatch.setenv("SOFTHSM2_CONF", os.environ.get("SOFTHSM2_CONF", ""))
    rigs: list[Rig] = []

    def make(devices: int, database_url: str | None = None) -> Rig:
        rig = Rig(tmp_path / f"fleet-{len(rigs)}", devices, database_url)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_agent_killed_mid_transfer_then_restarted(rig_factory: Any) -> None:
    rig = rig_factory(1)
    # Chunked (64 KiB) and slowed to 1 MB/s, so that the kill lands inside a result's chunks.
    rig.configure(whole_max_bytes=128 * 1024, chunk_size=64 * 1024, max_bytes_per_s=1_000_000)
    sent = rig.fill(0, 12)
    rig.servers()
    agent = rig.agent(0)
    # Kill it while a result is half-sent: some of its chunks are staged at the server.
    wait_for(lambda: rig.records() >= 3 and rig.staged_chunks() > 0, 60, "a half-sent result")
    before = rig.records()
    agent.kill(signal.SIGKILL)
    assert before < len(sent), "the agent finished before it could be killed mid-transfer"

    again = rig.agent(0, once=True)
    assert again.wait(120) == 0, rig.logs()
    rig.check(sent)


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash"])
def test_broker_restart_mid_transfer(rig_factory: Any, crash: bool) -> None:
    rig = rig_factory(2)
    rig.configure(max_bytes_per_s=500_000)  # ~6 s of transfer per appliance
    sent = rig.fill(0, 8) + rig.fill(1, 8)
    rig.servers()
    agents = [rig.agent(0), rig.agent(1)]
    rig.wait_records(3, 60)
    # SIGKILL loses what the broker had not saved (sessions, queued messages): the agents'
    # application-level resend must make up for it; SIGTERM keeps them.
    before = rig.records()
    rig.broker.restart(crash=crash, down_s=1.0)
    assert before < len(sent), "the transfer ended before the broker went down"

    rig.wait_records(len(sent), 90)
    wait_for(lambda: rig.waiting(0) + rig.waiting(1) == 0, 60, "every ack back in the outboxes")
    for agent in agents:
        assert agent.running, rig.logs()
        agent.stop()
    rig.check(sent)


def test_server_killed_mid_merge_then_restarted(rig_factory: Any) -> None:
    rig = rig_factory(2)
    rig.configure()
    sent = rig.fill(0, 10) + rig.fill(1, 10)
    (server,) = rig.servers(workers=2)
    agents = [rig.agent(0), rig.agent(1)]
    rig.wait_records(4, 60)
    before = rig.records()
    server.kill(signal.SIGKILL)  # busy: results keep coming, so it dies inside one's handling
    assert before < len(sent), "the server merged everything before it was killed"
    time.sleep(1.0)
    server.start()  # same client ids: it takes back its broker sessions

    rig.wait_records(len(sent), 90)
    wait_for(lambda: rig.waiting(0) + rig.waiting(1) == 0, 60, "every ack back in the outboxes")
    for agent in agents:
        agent.stop()
    rig.check(sent)
    if rig.fleet.database_url.startswith("sqlite"):
        with sa.create_engine(rig.fleet.database_url).connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_same_result_sent_twice(rig_factory: Any) -> None:
    rig = rig_factory(1)
    rig.configure()
    sent = rig.fill(0, 3)
    appliance = rig.fleet.appliances[0]
    backup = appliance.home / "outbox-backup"
    shutil.copytree(appliance.outbox_dir, backup)
    rig.servers()
    first = rig.agent(0, once=True)
    assert first.wait(60) == 0, rig.logs()
    assert "accepted 3," in first.log_text()

    # The appliance is restored from a backup taken before the acks came: it sends them again.
    shutil.rmtree(appliance.outbox_dir)
    shutil.copytree(backup, appliance.outbox_dir)
    second = rig.agent(0, once=True)
    assert second.wait(60) == 0, rig.logs()
    assert "accepted 0, duplicates 3," in second.log_text()
    rig.check(sent)


def test_device_offline_for_a_week_then_flushing(rig_factory: Any) -> None:
    rig = rig_factory(1)
    rig.configure()
    port = rig.broker.port
    rig.broker.down()
    agent = rig.agent(0)  # keeps trying a broker that is not there

    # A field week: a few thousand small results signed over seven days, while offline.
    count = 2000
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    signed_at = [week_ago + dt.timedelta(seconds=i * 7 * 86400 / count) for i in range(count)]
    sent = fill_in_parallel(
        rig.fleet, rig.fleet.appliances[0], count, small=True, created_at=signed_at
    )
    assert len(set(sent)) == count
    assert agent.running, rig.logs()
    assert rig.waiting(0) == count

    rig.broker.up(port)
    rig.servers(workers=2)
    rig.wait_records(count, 180)
    wait_for(lambda: rig.waiting(0) == 0, 60, "every ack back in the outbox")
    agent.stop()
    rig.check(sent, reverify=50)


@pytest.mark.postgres
def test_two_ingest_workers_against_postgresql(
    rig_factory: Any, postgres_cluster: PostgresCluster
) -> None:
    name = f"sohoa_faults_{os.getpid()}_{next(_databases)}"
    admin = sa.create_engine(postgres_cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    rig = rig_factory(4, postgres_cluster.url(name))
    rig.configure()
    sent = [rid for index in range(4) for rid in rig.fill(index, 6)]
    nodes = rig.servers(processes=2, first_role="ingest")

    # The same result twice at once, one copy to each worker of the share group: one record.
    twin = _publish_twice(rig, 0)
    agents = [rig.agent(index, once=True) for index in range(4)]
    for agent in agents:
        assert agent.wait(120) == 0, rig.logs()
    rig.check([*sent, twin.result_id])

    stored = [node.log_text().count("stored as record") for node in nodes]
    assert all(stored), f"both ingest processes should have stored results: {stored}"
    assert sum(stored) == len(sent) + 1


def _publish_twice(rig: Rig, index: int) -> ResultMessage:
    """Publish one new result of appliance `index` twice back to back with plain paho (the
    appliance's identity) and wait for both application acks: one accepted, one duplicate."""
    appliance = rig.fleet.appliances[index]
    with ResultMaker(rig.fleet) as maker:
        made = maker.make(appliance, 999)
    message = ResultMessage.for_pdf(appliance.device_id, made.pdf, made.fields, made.created_at)
    acks: list[Ack] = []
    got_two = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        ack = decode(msg.payload)
        if isinstance(ack, Ack) and ack.final:
            acks.append(ack)
            if len(acks) == 2:
                got_two.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{appliance.device_id}-twice", protocol=paho.MQTTv5
    )
    context = ssl.create_default_context(cafile=str(rig.fleet.ca_file))
    context.load_cert_chain(str(appliance.cert_file), str(appliance.key_file))
    client.tls_set_context(context)
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(rig.broker.host, rig.broker.port)
    client.loop_start()
    try:
        client.subscribe(ack_topic(appliance.device_id), qos=1)
        assert subscribed.wait(10)
        payload = encode(message)
        for _ in range(2):
            client.publish(result_topic(appliance.device_id), payload, qos=1)
        assert got_two.wait(60), f"acks received: {acks}"
    finally:
        client.disconnect()
        client.loop_stop()
    assert sorted(a.status.value for a in acks) == ["accepted", "duplicate"]
    assert acks[0].record_id == acks[1].record_id
    return message
