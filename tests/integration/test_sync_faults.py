"""Sync under faults, with real processes: `sohoa edge sync` agents, Mosquitto, `sohoa server
run|ingest`, SoftHSM-signed results, SQLite and PostgreSQL.

Each test provisions its own fleet (`harness.fleet`), breaks something for real (SIGKILL of the
agent or of the server, a broker restart or crash, the same result sent twice, a week without a
broker, two ingest processes racing on SQLite and on PostgreSQL) and ends with the same checks:
every result is in the repository exactly once, every signature verifies again here (with the
registered signer), every stored PDF is intact, and no outbox holds a result still waiting.

A kill proves that it hit the window it is about: the tests hold a database's write lock (the
server's repository, or the appliance's outbox) to stop one side exactly there, and assert what
only that window leads to after the restart (a DUPLICATE answer, a redelivery, a resumed transfer).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import shutil
import signal
import sqlite3
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
from protocol.messages import Ack, AckStatus, ResultMessage
from protocol.topics import Kind, ack_topic, all_devices_filter, result_topic
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
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
        self.observer = _observer(self.fleet)
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
            self.broker.server_port,
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

    def stored(self) -> set[str]:
        """The result ids the repository holds now."""
        with Session(self._engine) as session:
            return set(session.exec(select(Record.result_id)).all())

    def states(self, index: int) -> dict[str, str]:
        """Result id -> state in the outbox of appliance `index` (read-only: a reader never
        waits for a writer in WAL mode, even one that holds the write lock)."""
        return _outbox_states(self.fleet.appliances[index].outbox_dir / "outbox.db")

    def repository_file(self) -> Path:
        """The SQLite file of the repository."""
        url = self.fleet.database_url
        assert url.startswith("sqlite:///"), url
        return Path(url.removeprefix("sqlite:///"))

    def outbox_file(self, index: int) -> Path:
        """The SQLite file of appliance `index`'s outbox."""
        return self.fleet.appliances[index].outbox_dir / "outbox.db"

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


class WriteLock:
    """SQLite's write lock on one database file, held between `acquire` and `release`: every
    writer of the file (the server's workers, or the appliance's agent) waits at its next write,
    with the message or the ack it is handling in hand (their busy timeout is 30 s); readers go
    on (WAL)."""

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(database, timeout=30.0, isolation_level=None)
        self.held = False

    def acquire(self) -> None:
        """Take the lock (waiting for a writer that has it)."""
        self._conn.execute("BEGIN IMMEDIATE")
        self.held = True

    def release(self) -> None:
        """Let the writers go on; safe to call twice."""
        if self.held:
            self._conn.execute("ROLLBACK")
            self.held = False

    def close(self) -> None:
        """Release and close."""
        self.release()
        self._conn.close()


def _outbox_states(database: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30.0)
    try:
        return dict(db.execute("SELECT result_id, state FROM result").fetchall())
    finally:
        db.close()


def _summary(log: str, what: str) -> int:
    """A count from the agent's last summary line ("sent 3, accepted 0, duplicates 3, ...")."""
    found = re.findall(rf"\b{what} (\d+)", log)
    assert found, f"no '{what}' in the agent's log:\n{log[-2000:]}"
    return int(found[-1])


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
    # The kill cut a result short: after the restart the agent either sent the chunks the server
    # still lacked (a resume, counted as resent) or heard the server already had it (duplicate).
    log = again.log_text()
    assert _summary(log, "resent") + _summary(log, "duplicates") >= 1, log
    rig.check(sent)


def test_agent_killed_after_the_server_committed_before_it_recorded_the_ack(
    rig_factory: Any,
) -> None:
    """The window "server committed, appliance not yet recorded the ack": the restarted
    appliance sends those results again and the server answers DUPLICATE."""
    rig = rig_factory(1)
    rig.configure()
    sent = rig.fill(0, 12)
    rig.servers()
    repository, outbox = WriteLock(rig.repository_file()), WriteLock(rig.outbox_file(0))
    window: list[str] = []

    def committed_not_recorded() -> bool:
        states = rig.states(0)
        window[:] = sorted(r for r in rig.stored() if states.get(r) == "sent")
        return bool(window)

    try:
        repository.acquire()  # the server stores nothing: what the agent sends waits as SENT
        agent = rig.agent(0)
        wait_for(lambda: "sent" in rig.states(0).values(), 30, "results sent, unanswered")
        time.sleep(0.5)  # the broker hands them to the server, which waits at its database
        outbox.acquire()  # from here the agent can record no answer
        repository.release()  # the server commits and acks what it was sent
        wait_for(committed_not_recorded, 25, "a result stored but not recorded as acked")
        agent.kill(signal.SIGKILL)
    finally:
        outbox.close()
        repository.close()
    again = rig.agent(0, once=True)
    assert again.wait(120) == 0, rig.logs()
    # Each result of the window is answered once the appliance is back: by the ack that waited
    # at the broker for its persistent session, or, when that ack was lost with the kill, by a
    # DUPLICATE to its resend (which of the two comes first is the broker's timing). Either
    # way it ends acked in the outbox and stored once.
    states = rig.states(0)
    assert all(states.get(r) == "acked" for r in window), (window, states)
    answered = _summary(again.log_text(), "duplicates") + _summary(again.log_text(), "accepted")
    assert answered >= len(window), (window, again.log_text())
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
    """The server dies with results in hand (taken from the broker, not yet stored or acked):
    after its restart the broker delivers them again, and nothing else could have, since the
    appliances would resend only after their long ack timeout."""
    rig = rig_factory(2)
    rig.configure(ack_timeout_s=120.0, ack_timeout_max_s=120.0)
    sent = rig.fill(0, 10) + rig.fill(1, 10)
    (server,) = rig.servers(workers=2)
    agents = [rig.agent(0), rig.agent(1)]
    rig.wait_records(4, 60)
    repository = WriteLock(rig.repository_file())
    try:
        repository.acquire()  # both workers stop at their next write, a message in hand
        wait_for(
            lambda: any("sent" in rig.states(i).values() for i in range(2)),
            20,
            "results sent and unanswered",
        )
        time.sleep(1.0)  # the broker hands them to the waiting workers
        sent_now = {r for i in range(2) for r, state in rig.states(i).items() if state == "sent"}
        in_hand = sent_now - rig.stored()
        server.kill(signal.SIGKILL)
    finally:
        repository.close()
    assert in_hand, "nothing was in the server's hands when it was killed"
    killed_at = time.monotonic()
    time.sleep(1.0)
    server.start()  # same client ids: it takes back its broker sessions

    rig.wait_records(len(sent), 90)
    wait_for(lambda: rig.waiting(0) + rig.waiting(1) == 0, 60, "every ack back in the outboxes")
    assert time.monotonic() - killed_at < 100, "too slow to tell a redelivery from a resend"
    for agent in agents:
        agent.stop()
        assert _summary(agent.log_text(), "resent") == 0, agent.log_text()
    rig.check(sent)
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

    # A field week: about a hundred small results a day for seven days, signed while offline.
    # (The backlog's size is not the point, its age and its draining in order are: at 2,000 it
    # took over three minutes of a CI run and timed out once on a loaded machine.)
    count = 700
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
    rig.wait_records(count, 240)
    wait_for(lambda: rig.waiting(0) == 0, 60, "every ack back in the outbox")
    agent.stop()
    rig.check(sent, reverify=50)


def _database(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A fresh repository database on `backend` (None: the fleet's own SQLite file)."""
    if backend == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = f"sohoa_faults_{os.getpid()}_{next(_databases)}"
    admin = sa.create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return cluster.url(name)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_ingest_processes_race_on_one_result(
    rig_factory: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    """Two ingest processes merge copies of one result at once: one record, one ACCEPTED and
    one DUPLICATE (the repository's existing-record lookup and unique key decide)."""
    rig = rig_factory(4, _database(request, backend))
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


@pytest.mark.postgres
def test_a_server_killed_on_its_ack_loses_no_acknowledged_result(
    rig_factory: Any, request: pytest.FixtureRequest
) -> None:
    """Kill the server on its ack, crash the broker (so that no redelivery can cover for a lost
    commit), restart both: every result acknowledged on the wire has a record.

    The test holds a SHARE lock on the record table, which lets the server read but stops its
    INSERT: the server is held inside its merge, before the commit. A server that acks only
    after its commit sends nothing there; one that acks first is seen acking a result that has
    no record, and is killed on that ack.
    """
    url = _database(request, "postgresql")
    assert url is not None
    rig = rig_factory(1, url)
    rig.configure()
    sent = rig.fill(0, 4)
    (server,) = rig.servers()
    pid = server.pid
    assert pid is not None

    def kill_server() -> None:
        os.kill(pid, signal.SIGKILL)  # at once, from the watcher's network thread

    watcher = AckWatcher(rig, 0, on_accepted=kill_server)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as lock, engine.connect() as probe:
            lock.execute(sa.text("LOCK TABLE record IN SHARE MODE"))
            agent = rig.agent(0)
            waiting_merge = sa.text(
                "SELECT count(*) FROM pg_locks WHERE relation = 'record'::regclass AND NOT granted"
            )
            wait_for(
                lambda: watcher.accepted or probe.execute(waiting_merge).scalar(),
                60,
                "the server's merge waiting at the record table (or an ack)",
            )
            time.sleep(1.0)  # an ack sent before the commit reaches the watcher meanwhile
            watcher.disarm()
            accepted_in_window = list(watcher.accepted)
            server.kill(signal.SIGKILL)
            rig.broker.down(crash=True)  # what the broker had not saved (the in-flight result)
            lock.rollback()
    finally:
        engine.dispose()
    rig.broker.up(rig.broker.port)
    server.start()
    wait_for(lambda: rig.waiting(0) == 0, 90, "every result answered")
    agent.stop()
    watcher.close()
    stored = rig.stored()
    lost = [r for r in watcher.accepted if r not in stored]
    assert lost == [], f"{len(lost)} result(s) acknowledged on the wire have no record"
    assert accepted_in_window == [], "a result was acknowledged while its merge could not commit"
    rig.check(sent)


OBSERVER = "sohoa-test-observer"
"""The test's own identity on the broker's server listener, allowed by the ACL to read acks."""


def _observer(fleet: Fleet) -> tuple[Path, Path]:
    """Issue the OBSERVER identity from the server-clients CA and let it read every device's ack
    topic (before the broker starts: Mosquitto reads its ACL then). An appliance's own identity
    cannot watch beside its running agent: the broker makes a device's client id its device id,
    and the two connections would take each other over."""
    cert, key = fleet.workdir / "observer.pem", fleet.workdir / "observer-key.pem"
    server_ca = CertificateAuthority.load(fleet.province.server_ca_dir)
    private = new_key()
    write_private_key(private, key)
    write_certificate(server_ca.issue(private.public_key(), OBSERVER, Profile.TLS_CLIENT), cert)
    acl = fleet.broker_files.acl_file
    acl.write_text(
        acl.read_text() + f"\nuser {OBSERVER}\ntopic read {all_devices_filter(Kind.ACK)}\n"
    )
    return cert, key


class AckWatcher:
    """A plain paho client of the test's OBSERVER identity on an appliance's ack topic: notes
    every result acknowledged ACCEPTED on the wire, and calls `on_accepted` at the first one
    while armed."""

    def __init__(self, rig: Rig, index: int, on_accepted: Any) -> None:
        appliance = rig.fleet.appliances[index]
        self.accepted: list[str] = []
        self._on_accepted = on_accepted
        self._armed = True
        subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{OBSERVER}-{appliance.device_id}",
            protocol=paho.MQTTv5,
        )
        context = ssl.create_default_context(cafile=str(rig.fleet.ca_file))
        context.load_cert_chain(*map(str, rig.observer))
        self._client.tls_set_context(context)
        topic = ack_topic(appliance.device_id)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: subscribed.set()
        # Subscribed again at every connection: the broker may come back without the session.
        self._client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self._client.connect(rig.broker.host, rig.broker.server_port)
        self._client.loop_start()
        assert subscribed.wait(10), "the ack watcher could not subscribe"

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        ack = decode(msg.payload)
        if isinstance(ack, Ack) and ack.status is AckStatus.ACCEPTED:
            self.accepted.append(ack.result_id)
            if self._armed:
                self._armed = False
                self._on_accepted()

    def disarm(self) -> None:
        """Call `on_accepted` no more."""
        self._armed = False

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


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
