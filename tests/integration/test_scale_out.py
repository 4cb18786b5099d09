"""The server scaled out, in one test: two `sohoa server run` processes (API and ingest) and two
`sohoa server ingest` processes against one PostgreSQL database, one Mosquitto and one blob
store, with four appliances sending realistic signed results (docs/scale-out.md describes the
deployment this stands for).

What it proves:
- every result sent is stored exactly once: none lost, none twice, nothing else, every
  signature valid and verified again here, every stored PDF intact (`harness.audit`);
- every result was handled by one server process only: the four processes' ingest workers are
  members of one MQTT v5 shared subscription (the same `ingest_group`: here the one derived
  from the server's MQTT key, which all four share), so each appliance got exactly one answer
  per result (no further ack, no resend), and the records the processes' logs say they stored
  add up to the results sent, each once;
- the load is spread: both `sohoa server ingest` processes stored results;
- the API processes are interchangeable behind a load balancer: an account made once with
  `sohoa server user add` signs in on either (`POST /api/auth/token`), a token one issued is
  accepted by the other (one `token_key_file`), and both find the same stored results through
  `GET /api/search`, each from a search index of its own caught up from the shared database.

Each process is configured as on a host of its own: its own `data_dir` (so its own search
index, `<data_dir>/search`), its own ingest client ids, the same database URL, MQTT identity and
token key. The blob store is one folder that every `<data_dir>/blobs` links to, standing in for
the shared mount (NFS) at that path that docs/scale-out.md describes.

One ingest process in a share group of its own (every result then handled twice: a second
answer to each), or pointed at another database (results lost), makes it fail.

About 20 s on the idle 2-core reference machine (provisioning, signing and the processes' start-up
are most of it).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from edge.sync.agent import SyncAgent, SyncReport
from edge.sync.outbox import Outbox, State
from harness.audit import audit_repository
from harness.broker import Broker
from harness.fleet import Fleet, provision_fleet
from harness.postgres import PostgresCluster
from harness.processes import wait_for
from harness.results import ResultMaker
from provisioning.province import write_config
from server.blobs import BLOB_DIR
from server.db import make_engine
from server.models import Record
from server.passwords import HashingCost
from server.process import ServerProcess
from support.files import PRIVATE_FILE, private_dir
from support.sockets import free_port
from tests.server.commands import sohoa_script

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

APPLIANCES = 4
RESULTS_EACH = 6
ADMIN = "scale-admin"
PASSWORD = "a long enough test password"
STORED = re.compile(r"result ([0-9a-f]{64}) of device \S+ stored as record")
"""What `server.repository.records.merge_result` logs for each new record."""
SETTLE_S = 2.0
"""How long the appliances keep listening after their last answer, for any further ack (a
result handled twice would be answered twice)."""


class Node:
    """One server process and the "host" it stands for: its data_dir, config and log.

    Args:
        fleet: the province (its MQTT identity, CA, CRL and server folder).
        name: the process's name (its folder, config, log and ingest client-id prefix).
        role: "run" (API and ingest) or "ingest".
        broker_port: the broker's server listener.
        database_url: the one repository.
        blobs: the shared blob folder that `<data_dir>/blobs` links to.
        token_key: the one token-signing secret of every API process.
        settings: further server settings for this process.
    """

    def __init__(
        self,
        fleet: Fleet,
        name: str,
        role: str,
        *,
        broker_port: int,
        database_url: str,
        blobs: Path,
        token_key: Path,
        **settings: Any,
    ) -> None:
        self.name = name
        self.data_dir = private_dir(fleet.server_dir / name)
        (self.data_dir / BLOB_DIR).symlink_to(blobs, target_is_directory=True)
        api_port = free_port()
        values = fleet.province.server_config(
            database_url=database_url,
            data_dir=self.data_dir,
            broker_host="127.0.0.1",
            broker_port=broker_port,
            api_port=api_port,
            ltv=False,  # long-term copies come after the ack and are no part of this
            ingest_workers=1,
            ingest_client_prefix=f"sohoa-{name}",
            token_key_file=token_key,
            password_hashing=HashingCost.TESTS_ONLY.value,
            verify_processes=1,  # 4 processes on 2 cores: one verifier each is plenty
            **settings,
        )
        self.config = write_config(fleet.server_dir / f"{name}.toml", values)
        self.process = ServerProcess(
            self.config, fleet.server_dir / f"{name}.log", role=role, api_port=api_port
        )

    def stored(self) -> list[str]:
        """The result ids this process's log says it stored as new records."""
        return STORED.findall(self.process.log_text())


class Appliances:
    """The fleet's appliances syncing in this process, one `SyncAgent` thread each (as
    `harness.bench_agents` runs them), until `stop`."""

    def __init__(self, fleet: Fleet, broker: Broker) -> None:
        self.fleet = fleet
        self.reports: list[SyncReport] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index, broker), name=f"agent-{index}")
            for index in range(len(fleet.appliances))
        ]

    def start(self) -> None:
        """Every appliance starts sending its outbox."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop every agent; their reports are in `reports`."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def waiting(self) -> int:
        """Results still waiting for the server's answer, over every outbox."""
        total = 0
        for appliance in self.fleet.appliances:
            with Outbox(appliance.outbox_dir) as outbox:
                counts = outbox.counts()
            total += counts[State.QUEUED] + counts[State.SENT]
        return total

    def _run(self, index: int, broker: Broker) -> None:
        appliance = self.fleet.appliances[index]
        settings = self.fleet.edge_settings(appliance, broker.host, broker.port)
        try:
            with Outbox(appliance.outbox_dir) as outbox:
                self.reports.append(SyncAgent(settings, outbox).run_forever(self._stop))
        except Exception as e:  # reported by the test, not lost in a thread
            self.errors.append(f"{appliance.device_id}: {type(e).__name__}: {e}")


@pytest.fixture
def fleet(
    tmp_path: Path, postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> Fleet:
    """Four appliances enrolled on one token, registered in a fresh PostgreSQL repository."""
    # The fleet's token points SOFTHSM2_CONF at itself: give other tests theirs back.
    monkeypatch.setenv("SOFTHSM2_CONF", os.environ.get("SOFTHSM2_CONF", ""))
    database_url = postgres_cluster.create_database(f"sohoa_scale_{os.getpid()}_{time.time_ns()}")
    return provision_fleet(tmp_path / "province", APPLIANCES, database_url=database_url)


def test_two_api_and_two_ingest_processes_share_one_repository(fleet: Fleet) -> None:
    blobs = private_dir(fleet.server_data_dir / BLOB_DIR)
    token_key = fleet.server_dir / "token-key"
    token_key.write_bytes(secrets.token_bytes(32))
    token_key.chmod(PRIVATE_FILE)
    with ExitStack() as stack:
        broker = stack.enter_context(Broker(fleet.broker_files))
        common: dict[str, Any] = {
            "broker_port": broker.server_port,
            "database_url": fleet.database_url,
            "blobs": blobs,
            "token_key": token_key,
        }
        api = [Node(fleet, f"api-{n}", "run", **common) for n in "ab"]
        ingest = [Node(fleet, f"ingest-{n}", "ingest", **common) for n in "ab"]
        nodes = [*api, *ingest]
        for node in nodes:
            stack.callback(node.process.stop)
        engine = make_engine(fleet.database_url)
        stack.callback(engine.dispose)

        # The four processes start (and an operator adds an account) while the appliances sign.
        with ThreadPoolExecutor(len(nodes) + 1) as pool:
            started = [pool.submit(node.process.start, 60.0) for node in nodes]
            account = pool.submit(
                sohoa_script,
                {"SOHOA_PASSWORD": PASSWORD},
                *("server", "user", "add", ADMIN, "--role", "province_admin"),
                *("--config", str(api[0].config)),
            )
            sent = _sign(fleet)
            for future in started:
                future.result()
            added = account.result()
        assert added.returncode == 0, added.stderr

        # Every appliance flushes its outbox at once into the four processes' shared group.
        appliances = Appliances(fleet, broker)
        stack.callback(appliances.stop)
        appliances.start()
        wait_for(lambda: appliances.waiting() == 0, 60, "an answer to every result", 0.2)
        time.sleep(SETTLE_S)
        appliances.stop()
        assert not appliances.errors, appliances.errors

        # Stored exactly once: none lost, none twice, every signature and PDF sound.
        audit = audit_repository(fleet, sent)
        assert audit.missing == ()
        assert (audit.duplicates, audit.unexpected, audit.invalid_signatures) == (0, 0, 0)
        assert (audit.damaged_blobs, audit.reverify_failures) == (0, 0)
        assert audit.exactly_once, audit

        # Handled once: one answer per result, and the processes' stored records add up.
        answers = {
            what: sum(getattr(r, what) for r in appliances.reports)
            for what in ("accepted", "duplicates", "rejected", "duplicate_acks", "resent")
        }
        assert answers == {
            "accepted": len(sent),
            "duplicates": 0,
            "rejected": 0,
            "duplicate_acks": 0,
            "resent": 0,
        }, (answers, _logs(nodes))
        stored = {node.name: node.stored() for node in nodes}
        by_result = Counter(rid for ids in stored.values() for rid in ids)
        assert sorted(by_result) == sorted(sent), _logs(nodes)
        assert set(by_result.values()) == {1}, by_result.most_common(3)

        # Spread: both ingest processes took their share from the group.
        shares = {name: len(ids) for name, ids in stored.items()}
        assert all(shares[node.name] > 0 for node in ingest), shares

        # Either API process answers: one account, one token key, each its own search index.
        one_each = [stored[node.name][0] for node in ingest]
        tokens = [_sign_in(node) for node in api]
        for node, token in zip(api, reversed(tokens), strict=True):  # the other's token
            for result_id in one_each:
                assert _search(engine, node, token, result_id) == _record_id(engine, result_id)
        for node in api:
            assert (node.data_dir / "search" / "current").is_file(), node.name


def _sign(fleet: Fleet) -> list[str]:
    """Sign `RESULTS_EACH` realistic results per appliance into its outbox; their ids."""
    with ResultMaker(fleet) as maker:
        return [rid for a in fleet.appliances for rid in maker.fill(a, RESULTS_EACH)]


def _record_id(engine: Engine, result_id: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Record.id).where(Record.result_id == result_id)).one()


def _sign_in(node: Node) -> str:
    """Sign in as the admin on `node`'s API; its access token."""
    response = httpx.post(
        f"{node.process.api_url}/api/auth/token",
        data={"username": ADMIN, "password": PASSWORD},
        timeout=10.0,
    )
    assert response.status_code == 200, (node.name, response.text)
    token: str = response.json()["access_token"]
    return token


def _search(engine: Engine, node: Node, token: str, result_id: str, timeout: float = 15.0) -> str:
    """Search `node`'s API by the số ký hiệu of result `result_id` until it is found (its index
    catches up with the database before a search, at most every `search_refresh_s`); the
    record id it answers."""
    with Session(engine) as session:
        so_ky_hieu = session.exec(
            select(Record.so_ky_hieu).where(Record.result_id == result_id)
        ).one()
    assert so_ky_hieu, result_id
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(
            f"{node.process.api_url}/api/search",
            params={"so_ky_hieu": so_ky_hieu},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
        assert response.status_code == 200, (node.name, response.text)
        page = response.json()
        if page["total"]:
            assert page["total"] == 1, (node.name, page["total"])
            (item,) = page["items"]
            assert item["result_id"] == result_id, node.name
            found: str = item["id"]
            return found
        assert time.monotonic() < deadline, f"{node.name} never found result {result_id}"
        time.sleep(0.2)


def _logs(nodes: list[Node]) -> str:
    """The ends of the server processes' logs (for a failing assertion)."""
    return "\n".join(f"--- {n.name}\n{n.process.log_tail(15)}" for n in nodes)
