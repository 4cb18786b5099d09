"""The appliances' side of the sync benchmark: one child process driving several simulated
appliances, each with its own outbox and its own `SyncAgent` (its own MQTT connection with its
own certificate), on threads.

The coordinator (`harness.bench_sync`) talks to each such process over a pipe, one step at a time:

    child -> ("filled", info)        outboxes filled (flush mode) or signers ready (rate mode)
    parent -> ("raw", plan)          the anchor: publish the same payloads with plain paho
    child -> ("raw_done", info)
    parent -> ("go", plan)           run the agents (flush, or results offered at a rate)
    child -> ("done", info)          what each outbox says: states, enqueue and answer times
    child -> ("error", text)         at any step, instead of the answer

Times are wall-clock (`time.time()`), comparable across the processes of one machine.
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import sqlite3
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox, State
from harness.fleet import Appliance, Fleet
from harness.results import ResultMaker
from protocol.encoding import encode
from protocol.messages import ResultMessage
from protocol.topics import result_topic

log = logging.getLogger(__name__)

RAW_INFLIGHT = 20
"""QoS 1 messages a raw publisher keeps in flight (paho's default, Mosquitto's default too)."""


@dataclass(frozen=True)
class WorkerPlan:
    """What one agents process does.

    Attributes:
        fleet: the fleet.
        appliances: the indexes (in `fleet.appliances`) of this process's appliances.
        results: results per appliance.
        size_kb: size range of the results.
        rate: offered results per second over the whole fleet, or None (flush mode: the
            outboxes are filled first, then flushed).
        broker_host, broker_port: where the broker listens.
        agent_settings: extra `EdgeSettings` keys for the agents.
        log_file: this process's log.
    """

    fleet: Fleet
    appliances: tuple[int, ...]
    results: int
    size_kb: tuple[int, int]
    rate: float | None
    broker_host: str
    broker_port: int
    agent_settings: dict[str, Any] = field(default_factory=dict)
    log_file: Path | None = None


def worker_main(conn: Connection, plan: WorkerPlan) -> None:
    """The child process's entry point (multiprocessing, spawn)."""
    logging.basicConfig(
        filename=str(plan.log_file) if plan.log_file else None,
        level=logging.INFO if os.environ.get("SOHOA_BENCH_VERBOSE") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    try:
        _Worker(conn, plan).run()
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class _Worker:
    def __init__(self, conn: Connection, plan: WorkerPlan) -> None:
        self.conn = conn
        self.plan = plan
        self.fleet = plan.fleet
        self.appliances = [plan.fleet.appliances[i] for i in plan.appliances]

    def run(self) -> None:
        with ResultMaker(self.fleet, size_kb=self.plan.size_kb) as maker:
            self.maker = maker
            self.conn.send(("filled", self._fill()))
            while True:
                step, args = self.conn.recv()
                if step == "raw":
                    self.conn.send(("raw_done", self._raw(args)))
                elif step == "go":
                    self.conn.send(("done", self._go(args)))
                    return
                else:
                    return

    # --- fill ---

    def _fill(self) -> dict[str, Any]:
        start = time.perf_counter()
        if self.plan.rate is not None:
            return {"results": 0, "bytes": 0, "seconds": 0.0}
        total = size = 0
        for appliance in self.appliances:
            ids = self.maker.fill(appliance, self.plan.results)
            total += len(ids)
            with Outbox(appliance.outbox_dir) as outbox:
                size += sum(item.size for item in outbox.pending())
        return {"results": total, "bytes": size, "seconds": time.perf_counter() - start}

    # --- the anchor: the same payloads through plain paho ---

    def _raw(self, args: dict[str, Any]) -> dict[str, Any]:
        per_appliance: list[int] = args["per_appliance"]
        pairs = zip(self.appliances, per_appliance, strict=True)
        payloads = {a.device_id: self._payloads(a, n) for a, n in pairs}
        start_at: float = args["start_at"]
        errors: list[str] = []
        threads = [
            threading.Thread(
                target=_guard(
                    errors,
                    partial(
                        self._publish_raw, a, payloads[a.device_id], start_at, args["broker_port"]
                    ),
                ),
                name=f"raw-{a.device_id}",
            )
            for a in self.appliances
            if payloads[a.device_id]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {
            "published": sum(len(p) for p in payloads.values()),
            "bytes": sum(len(m) for p in payloads.values() for m in p),
            "errors": errors,
        }

    def _payloads(self, appliance: Appliance, count: int) -> list[bytes]:
        """`count` messages as the agent sends a whole result (the outbox's own results in flush
        mode; freshly signed ones in rate mode), cycled if there are fewer."""
        if count <= 0:
            return []
        sources: list[bytes] = []
        if self.plan.rate is None:
            with Outbox(appliance.outbox_dir) as outbox:
                for item in outbox.pending()[:count]:
                    message = ResultMessage.for_pdf(
                        appliance.device_id,
                        outbox.load_pdf(item.result_id),
                        item.fields,
                        item.created_at,
                    )
                    sources.append(encode(message))
        else:
            for number in range(min(count, 4)):
                made = self.maker.make(appliance, 900_000 + number)
                message = ResultMessage.for_pdf(
                    appliance.device_id, made.pdf, made.fields, made.created_at
                )
                sources.append(encode(message))
        return [sources[i % len(sources)] for i in range(count)]

    def _publish_raw(
        self, appliance: Appliance, payloads: list[bytes], start_at: float, port: int
    ) -> None:
        settings = self.fleet.edge_settings(appliance, self.plan.broker_host, port)
        done = threading.Semaphore(0)
        room = threading.BoundedSemaphore(RAW_INFLIGHT)
        connected = threading.Event()

        def on_connect(*_a: Any) -> None:
            connected.set()

        def on_publish(*_a: Any) -> None:
            room.release()
            done.release()

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=appliance.device_id,  # the broker makes any other its device id anyway
            protocol=paho.MQTTv5,
        )
        context = ssl.create_default_context(cafile=str(settings.ca_file))
        context.load_cert_chain(str(appliance.cert_file), str(appliance.key_file))
        client.tls_set_context(context)
        client.max_inflight_messages_set(RAW_INFLIGHT)
        client.max_queued_messages_set(0)
        client.on_connect = on_connect
        client.on_publish = on_publish
        client.connect(settings.broker_host, settings.broker_port, keepalive=60)
        client.loop_start()
        try:
            if not connected.wait(15):
                raise RuntimeError(
                    f"{appliance.device_id}: the broker did not accept the raw client"
                )
            _sleep_until(start_at)
            topic = result_topic(appliance.device_id)
            for payload in payloads:
                room.acquire()
                client.publish(topic, payload, qos=1)
            for _ in payloads:
                if not done.acquire(timeout=120):
                    raise RuntimeError(f"{appliance.device_id}: PUBACKs missing after 120 s")
        finally:
            client.disconnect()
            client.loop_stop()

    # --- the agents ---

    def _go(self, args: dict[str, Any]) -> dict[str, Any]:
        start_at: float = args["start_at"]
        timeout: float = args["timeout"]
        outboxes = {a.device_id: Outbox(a.outbox_dir) for a in self.appliances}
        errors: list[str] = []
        reports: list[Any] = []
        enqueued: dict[str, float] = {}
        cpu = _cpu_now()
        try:
            _sleep_until(start_at)
            if self.plan.rate is None:
                self._flush(outboxes, timeout, reports, errors)
            else:
                self._offer(outboxes, args, timeout, enqueued, errors)
        finally:
            for outbox in outboxes.values():
                outbox.close()
        rows: list[OutboxRow] = []
        for appliance in self.appliances:
            rows += _outbox_rows(appliance.outbox_dir, appliance.device_id)
        return {
            "rows": rows,
            "enqueued": enqueued,
            "reports": [_report_dict(r) for r in reports],
            "errors": errors,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "cpu_s": _cpu_now() - cpu,
        }

    def _agent(self, appliance: Appliance, outbox: Outbox) -> SyncAgent:
        settings = self.fleet.edge_settings(
            appliance, self.plan.broker_host, self.plan.broker_port, **self.plan.agent_settings
        )
        return SyncAgent(settings, outbox)

    def _flush(
        self,
        outboxes: dict[str, Outbox],
        timeout: float,
        reports: list[Any],
        errors: list[str],
    ) -> None:
        def flush(appliance: Appliance) -> None:
            agent = self._agent(appliance, outboxes[appliance.device_id])
            reports.append(agent.run_until_drained(timeout=timeout))

        threads = [
            threading.Thread(target=_guard(errors, partial(flush, a)), name=f"agent-{a.device_id}")
            for a in self.appliances
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _offer(
        self,
        outboxes: dict[str, Outbox],
        args: dict[str, Any],
        timeout: float,
        enqueued: dict[str, float],
        errors: list[str],
    ) -> None:
        """Rate mode: agents run continuously; results are signed ahead and added to their
        outbox at their scheduled instant (`args["schedule"]`: (offset s, appliance index))."""
        stop = threading.Event()
        agents = [
            threading.Thread(
                target=_guard(
                    errors,
                    partial(self._agent(a, outboxes[a.device_id]).run_forever, stop),
                ),
                name=f"agent-{a.device_id}",
            )
            for a in self.appliances
        ]
        for t in agents:
            t.start()
        start = time.time()
        by_index = {i: a for i, a in zip(self.plan.appliances, self.appliances, strict=False)}
        ready: queue.Queue[tuple[float, Appliance, Any]] = queue.Queue(maxsize=4)

        def sign_ahead() -> None:
            for number, (offset, index) in enumerate(args["schedule"]):
                appliance = by_index[index]
                ready.put((offset, appliance, self.maker.make(appliance, number + 1)))

        # The kiosk adds through a connection of its own, as the kiosk process does on an
        # appliance: the agent notices it by the outbox's data_version.
        kiosks = {a.device_id: Outbox(a.outbox_dir) for a in self.appliances}
        signer = threading.Thread(target=_guard(errors, sign_ahead), name="sign-ahead")
        signer.start()
        try:
            for _ in args["schedule"]:
                offset, appliance, made = ready.get(timeout=60)
                _sleep_until(start + offset)
                kiosks[appliance.device_id].add(made.pdf, made.fields, made.created_at)
                enqueued[made.result_id] = time.time()
            deadline = time.time() + timeout
            while time.time() < deadline and any(
                sum(o.counts()[s] for s in (State.QUEUED, State.SENT)) for o in outboxes.values()
            ):
                time.sleep(0.1)
        finally:
            stop.set()
            signer.join()
            for t in agents:
                t.join(30)
            for kiosk in kiosks.values():
                kiosk.close()


OutboxRow = tuple[str, str, float | None, float | None, int, str | None, str]
"""(result_id, state, queued_ts, answered_ts, size, last_error, device_id) of one result."""


def _outbox_rows(outbox_dir: Path, device_id: str) -> list[OutboxRow]:
    """Every result in an outbox, as `OutboxRow`s.

    Read straight from `outbox.db` (read-only) once the agents have stopped: the outbox keeps
    when each result was queued and answered, to the microsecond, for the officer's ages, and
    why the server refused a rejected one (`last_error`: "reason: detail").
    """
    uri = f"file:{outbox_dir / 'outbox.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(result)")}
        queued = "queued_ts" if "queued_ts" in columns else "NULL"
        answered = "answered_ts" if "answered_ts" in columns else "NULL"
        size = "size" if "size" in columns else "0"
        rows = db.execute(
            f"SELECT result_id, state, {queued}, {answered}, {size}, last_error "  # noqa: S608
            "FROM result"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4], r[5], device_id) for r in rows]


def _report_dict(report: Any) -> dict[str, Any]:
    names = ("sent", "resent", "accepted", "duplicates", "rejected", "failed", "seconds")
    return {n: getattr(report, n, 0) for n in names}


def _guard(errors: list[str], target: Callable[[], object]) -> Callable[[], None]:
    """`target`, with any exception kept in `errors` (a thread's failure is reported, not lost)."""

    def run() -> None:
        try:
            target()
        except Exception as e:
            log.exception("%s failed", threading.current_thread().name)
            errors.append(f"{threading.current_thread().name}: {type(e).__name__}: {e}")

    return run


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sleep_until(instant: float) -> None:
    delay = instant - time.time()
    if delay > 0:
        time.sleep(delay)
