"""The sync benchmark: N simulated appliances flush M signed results each through Mosquitto into
the server, measured, beside the raw throughput of the same payloads through the same broker.
`run_bench` runs it once; `sohoa server bench-sync` (`harness.bench_command`) and `bench.sync`
call it.

One run, in a throw-away folder (kept with `--workdir`):

1. provisions a fleet (`harness.fleet`): a CA and its CRL, one SoftHSM token holding N document-
   signing keys, N appliances each with its own transport certificate, the broker's files, the
   repository (SQLite, or a throw-away PostgreSQL cluster) with every appliance registered;
2. starts Mosquitto, then the agents' processes (several appliances each, on threads), which sign
   M realistic results per appliance (PDF/A, 200-500 KB, PAdES on the token) into each outbox;
3. the anchor: the same payloads published by plain paho clients (the appliances' identities,
   QoS 1) to one plain subscriber with the server's identity, before any ingest worker exists;
4. starts the server (`sohoa server run`, plus `sohoa server ingest` processes), then every
   appliance's `SyncAgent` at once: results/s acked with verification and merge, latency from
   the flush's start (or, with `--rate`, from each result's enqueue) to its application ack;
5. reads the broker's and the server's peak memory, audits the repository (every result once,
   every signature valid, every stored PDF intact) and the outboxes (nothing left waiting).

Its figures (the command's last line, one JSON object): `sent`, `acked`, `in_repository`,
`duplicates`, `results_per_s`, `p50_s`, `p95_s`, `raw_results_per_s`, `ratio`, memory figures
and more; `rejected` with `rejections` (reason -> count), `rejection_details` (what the server
said) and `rejected_but_valid` (rejected results whose signature verifies when checked again
here: valid results lost).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import shutil
import ssl
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from harness.audit import audit_repository, valid_among_rejected
from harness.bench_agents import WorkerPlan, worker_main
from harness.broker import Broker
from harness.errors import HarnessError
from harness.fleet import Fleet, provision_fleet
from harness.postgres import PostgresCluster
from harness.processes import cpu_seconds, default_ingest_workers, peak_rss_bytes, server_nodes
from protocol.topics import Kind, all_devices_filter
from provisioning.broker import prepare_broker
from provisioning.ca import CertificateAuthority

log = logging.getLogger(__name__)

MB = 1024 * 1024
RAW_MESSAGES = 600
"""Messages the anchor sends (the fleet's own payloads, cycled when it has fewer): enough for a
steady rate, a few seconds at the raw path's speed."""
REVERIFY = 50
"""Stored PDFs verified again by the audit (the server verified every one already)."""
REJECTION_DETAILS = 10
"""Distinct rejection details kept in the figures (each says why, never personal data)."""


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run.

    Attributes:
        devices: simulated appliances.
        results: results per appliance.
        database: "sqlite" or "postgresql".
        size_kb: size range of the signed PDFs.
        rate: offered results/s over the fleet (None: fill the outboxes, then flush).
        agents_per_process: appliances per agents process.
        ingest_processes: server processes (one `server run`, the others `server ingest`);
            None: 2, one per core (a server process's ingest is bound by its GIL at about one
            core: ~27 ms of CPU per 400 KB result, of which verification is ~9 ms).
        ingest_workers: ingest workers (threads) in each server process (None: the server's
            default, `ServerSettings.ingest_workers`, so that the benchmark measures the server
            as shipped).
        timeout: seconds the flush (or the offered run and its drain) may take.
        workdir: keep everything here (default: a temp folder, removed).
        agent_settings: extra `EdgeSettings` keys for the agents.
    """

    devices: int = 10
    results: int = 10
    database: str = "sqlite"
    size_kb: tuple[int, int] = (200, 500)
    rate: float | None = None
    agents_per_process: int = 25
    ingest_processes: int | None = None
    ingest_workers: int | None = None
    timeout: float = 900.0
    workdir: Path | None = None
    agent_settings: tuple[tuple[str, Any], ...] = ()

    @property
    def processes(self) -> int:
        """Server processes, resolved."""
        return self.ingest_processes if self.ingest_processes is not None else 2

    @property
    def workers(self) -> int:
        """Ingest workers per server process, resolved."""
        return self.ingest_workers if self.ingest_workers is not None else default_ingest_workers()


class _Agents:
    """The agents' child processes and their pipes."""

    def __init__(self, plans: Sequence[WorkerPlan]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for number, plan in enumerate(plans):
            parent, child = context.Pipe()
            proc = context.Process(
                target=worker_main, args=(child, plan), name=f"agents-{number}", daemon=True
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def send(self, step: str, args_for: Any) -> None:
        """Send `step` to every process (`args_for(i)` gives process i's arguments)."""
        for number, conn in enumerate(self.conns):
            conn.send((step, args_for(number)))

    def gather(self, expected: str, timeout: float) -> list[dict[str, Any]]:
        """Every process's answer to the last step.

        Raises:
            HarnessError: a process failed (with its traceback), died or was late.
        """
        answers = []
        deadline = time.monotonic() + timeout
        for number, conn in enumerate(self.conns):
            while not conn.poll(1.0):
                if not self.procs[number].is_alive():
                    raise HarnessError(
                        f"agents process {number} died (exit {self.procs[number].exitcode})"
                    )
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"agents process {number} did not answer '{expected}' in time"
                    )
            step, value = conn.recv()
            if step == "error":
                raise HarnessError(f"agents process {number} failed:\n{value}")
            if step != expected:
                raise HarnessError(f"agents process {number} answered {step!r}, not {expected!r}")
            answers.append(value)
        return answers

    def stop(self) -> None:
        """End the processes (they end by themselves after "go"; this is for failures)."""
        for conn in self.conns:
            with suppress(OSError, ValueError):
                conn.send(("stop", None))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


class RawSubscriber:
    """A plain MQTT subscriber with the server's identity on every result topic: the end of the
    anchor's path. Counts messages and bytes and notes the last arrival."""

    def __init__(self, fleet: Fleet, host: str, port: int) -> None:
        self.count = 0
        self.bytes = 0
        self.last = 0.0
        self.expected = 0
        self.all_in = threading.Event()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id="sohoa-bench-raw-subscriber",
            protocol=paho.MQTTv5,
        )
        context = ssl.create_default_context(cafile=str(fleet.ca_file))
        context.load_cert_chain(
            str(fleet.province.server_cert_file), str(fleet.province.server_key_file)
        )
        self._client.tls_set_context(context)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.connect(host, port, keepalive=60)
        self._client.loop_start()
        self._client.subscribe(all_devices_filter(Kind.RESULT), qos=1)
        if not self._subscribed.wait(15):
            raise HarnessError("the raw subscriber (server identity) could not subscribe")

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self.count += 1
        self.bytes += len(message.payload)
        self.last = time.time()
        if self.count >= self.expected > 0:
            self.all_in.set()

    def wait_done(self, timeout: float, quiet: float = 2.0) -> None:
        """Until every expected message is in, or none came for `quiet` seconds (the broker may
        drop QoS 1 messages a slow subscriber's queue has no room for: waiting the whole
        `timeout` for them only made every run a minute longer), or `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.all_in.wait(0.2) and time.monotonic() < deadline:
            if self.last and time.time() - self.last > quiet:
                return

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark once; return the figures (the final JSON object).

    Raises:
        HarnessError: a process failed or a phase did not finish in time.
        ProvisioningError, ServerError, EdgeError: provisioning failed.
    """
    keep = config.workdir is not None
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="sohoa-bench-sync-"))
    seconds: dict[str, float] = {}
    try:
        with ExitStack() as stack:
            return _run(config, workdir, stack, seconds)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    config: BenchConfig, workdir: Path, stack: ExitStack, seconds: dict[str, float]
) -> dict[str, Any]:
    clock = time.perf_counter()
    database_url = None
    if config.database == "postgresql":
        cluster = stack.enter_context(PostgresCluster())
        database_url = cluster.create_database("sohoa_bench")
    elif config.database != "sqlite":
        raise HarnessError(f"--database must be sqlite or postgresql, not {config.database!r}")
    fleet = provision_fleet(workdir, config.devices, database_url=database_url, prefix="bench")
    broker = stack.enter_context(Broker(fleet.broker_files))
    seconds["provision"] = time.perf_counter() - clock

    clock = time.perf_counter()
    groups = _split(config.devices, config.agents_per_process)
    plans = [
        WorkerPlan(
            fleet=fleet,
            appliances=tuple(group),
            results=config.results,
            size_kb=config.size_kb,
            rate=config.rate,
            broker_host=broker.host,
            broker_port=broker.port,
            agent_settings=dict(config.agent_settings),
            log_file=workdir / f"agents-{number}.log",
        )
        for number, group in enumerate(groups)
    ]
    agents = _Agents(plans)
    stack.callback(agents.stop)
    agents.gather("filled", timeout=60 + config.devices * config.results * 0.5)
    seconds["fill"] = time.perf_counter() - clock

    clock = time.perf_counter()
    raw = _anchor(config, fleet, agents, groups)
    seconds["anchor"] = time.perf_counter() - clock

    clock = time.perf_counter()
    nodes = server_nodes(
        fleet, broker.server_port, processes=config.processes, workers=config.workers
    )
    for node in nodes:
        stack.enter_context(node)
    seconds["server_start"] = time.perf_counter() - clock
    clock = time.perf_counter()
    start_at = time.time() + 1.0
    schedule = _schedule(config) if config.rate else []
    agents.send(
        "go",
        lambda n: {
            "start_at": start_at,
            "timeout": config.timeout,
            "schedule": [(t, i) for t, i in schedule if i in set(groups[n])],
        },
    )
    cpu_before = [cpu_seconds(broker.pid), *(cpu_seconds(n.pid) for n in nodes)]
    done = agents.gather("done", timeout=config.timeout + 120)
    seconds["sync"] = time.perf_counter() - clock
    cpu_after = [cpu_seconds(broker.pid), *(cpu_seconds(n.pid) for n in nodes)]
    broker_rss = peak_rss_bytes(broker.pid)
    server_rss = [peak_rss_bytes(node.pid) for node in nodes]
    for node in nodes:
        node.stop()

    clock = time.perf_counter()
    figures = _figures(config, done, start_at)
    audit = audit_repository(fleet, figures.pop("ids"), reverify=REVERIFY)
    figures["rejected_but_valid"] = len(valid_among_rejected(fleet, figures.pop("rejected_ids")))
    seconds["audit"] = time.perf_counter() - clock
    return {
        "devices": config.devices,
        "results_per_device": config.results,
        "database": config.database,
        "mode": "rate" if config.rate else "flush",
        "offered_rate": config.rate,
        **figures,
        "in_repository": audit.in_repository,
        "duplicates": audit.duplicates,
        "lost": audit.expected - audit.in_repository,
        "unexpected": audit.unexpected,
        "invalid_signatures": audit.invalid_signatures + audit.reverify_failures,
        "reverified": audit.reverified,
        "damaged_blobs": audit.damaged_blobs,
        "raw_results_per_s": raw["results_per_s"],
        "raw_mb_per_s": raw["mb_per_s"],
        "raw_received": raw["received"],
        "raw_sent": RAW_MESSAGES,
        "ratio": _ratio(figures["results_per_s"], raw["results_per_s"]),
        "broker_peak_rss_mb": _mb(broker_rss),
        "server_peak_rss_mb": [_mb(r) for r in server_rss],
        "agents_peak_rss_mb": [_mb(d["peak_rss"]) for d in done],
        "cpu_s": {
            "broker": _delta(cpu_before[0], cpu_after[0]),
            "server": [_delta(b, a) for b, a in zip(cpu_before[1:], cpu_after[1:], strict=True)],
            "agents": [round(d["cpu_s"], 1) for d in done],
        },
        "server_cpu_ms_per_result": _per_result(cpu_before[1:], cpu_after[1:], figures["acked"]),
        "ingest": f"{config.processes} process(es) x {config.workers} worker(s)",
        "errors": [e for d in done for e in d["errors"]][:10],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def _anchor(
    config: BenchConfig, fleet: Fleet, agents: _Agents, groups: list[list[int]]
) -> dict[str, float]:
    """The same payloads from paho through the same broker to a plain subscriber.

    The anchor gets its own Mosquitto, made by the same `prepare_broker` with the same CA (so
    the same configuration, certificates and ACL) and stopped before the sync phase: the
    broker's memory figure is then the sync's own, and no ingest session of the measured run
    exists yet to receive the anchor's messages.
    """
    files = prepare_broker(
        fleet.workdir / "anchor-broker",
        CertificateAuthority.load(fleet.ca_file.parent),
        server_ca=CertificateAuthority.load(fleet.province.server_ca_dir),
        server_identity=fleet.province.server_identity,
    )
    with Broker(files) as broker:
        return _raw_through(config, fleet, broker, agents, groups)


def _raw_through(
    config: BenchConfig, fleet: Fleet, broker: Broker, agents: _Agents, groups: list[list[int]]
) -> dict[str, float]:
    total = RAW_MESSAGES
    per_device = [
        total // config.devices + (i < total % config.devices) for i in range(config.devices)
    ]
    subscriber = RawSubscriber(fleet, broker.host, broker.server_port)
    try:
        subscriber.expected = total
        start_at = time.time() + 2.0
        agents.send(
            "raw",
            lambda n: {
                "start_at": start_at,
                "per_appliance": [per_device[i] for i in groups[n]],
                "broker_port": broker.port,
            },
        )
        answers = agents.gather("raw_done", timeout=300)
        subscriber.wait_done(60)
    finally:
        subscriber.close()
    errors = [e for a in answers for e in a["errors"]]
    if errors:
        raise HarnessError(f"the raw anchor failed: {errors[:3]}")
    elapsed = max(1e-6, subscriber.last - start_at)
    return {
        "results_per_s": round(subscriber.count / elapsed, 1),
        "mb_per_s": round(subscriber.bytes / MB / elapsed, 1),
        "received": subscriber.count,
    }


def _schedule(config: BenchConfig) -> list[tuple[float, int]]:
    """(offset s, appliance index) of every result offered at `config.rate`, round robin."""
    assert config.rate
    total = config.devices * config.results
    return [(k / config.rate, k % config.devices) for k in range(total)]


def _figures(config: BenchConfig, done: list[dict[str, Any]], start_at: float) -> dict[str, Any]:
    rows = [row for d in done for row in d["rows"]]
    enqueued = {k: v for d in done for k, v in d["enqueued"].items()}
    acked = [r for r in rows if r[1] == "acked"]
    answered = [r[3] for r in acked if r[3] is not None]
    if config.rate:
        latencies = [r[3] - enqueued.get(r[0], r[2] or r[3]) for r in acked if r[3] is not None]
    else:
        latencies = [t - start_at for t in answered]
    span = (max(answered) - start_at) if answered else 0.0
    reports = [r for d in done for r in d["reports"]]
    rejected = [r for r in rows if r[1] == "rejected"]
    return {
        "ids": [r[0] for r in rows],
        "rejected_ids": [(r[6], r[0]) for r in rejected],
        "sent": len(rows),
        "acked": len(acked),
        "rejected": len(rejected),
        "rejections": dict(Counter(_reason(r[5]) for r in rejected)),
        "rejection_details": sorted({r[5] or "" for r in rejected})[:REJECTION_DETAILS],
        "pending_left": sum(1 for r in rows if r[1] in ("queued", "sent")),
        "duplicate_acks": sum(r["duplicates"] for r in reports),
        "resent": sum(r["resent"] for r in reports),
        "results_per_s": round(len(answered) / span, 1) if span > 0 else 0.0,
        "mb_per_s": round(sum(r[4] for r in acked) / MB / span, 1) if span > 0 else 0.0,
        "p50_s": _quantile(latencies, 0.50),
        "p95_s": _quantile(latencies, 0.95),
        "latency_from": "enqueue" if config.rate else "flush start",
        "sync_seconds": round(span, 2),
        "mean_result_kb": round(statistics.fmean(r[4] for r in rows) / 1024, 1) if rows else None,
    }


def _reason(last_error: str | None) -> str:
    """The reason of a rejection as the outbox keeps it ("reason: detail")."""
    return (last_error or "unknown").split(":", 1)[0].strip() or "unknown"


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 3)


def _split(devices: int, per_process: int) -> list[list[int]]:
    processes = max(1, math.ceil(devices / max(1, per_process)))
    return [list(range(devices))[i::processes] for i in range(processes)]


def _ratio(ours: float, anchor: float) -> float | None:
    return round(ours / anchor, 3) if anchor else None


def _per_result(before: list[float | None], after: list[float | None], count: int) -> float | None:
    deltas = [_delta(b, a) for b, a in zip(before, after, strict=True)]
    if not count or any(d is None for d in deltas):
        return None
    return round(sum(d or 0.0 for d in deltas) * 1000 / count, 1)


def _delta(before: float | None, after: float | None) -> float | None:
    return round(after - before, 1) if before is not None and after is not None else None


def _mb(value: int | None) -> float | None:
    return round(value / MB, 1) if value else None
