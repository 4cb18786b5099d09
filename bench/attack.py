"""Attack benchmark (issue 14): one appliance sends the object-stream PDF bomb every second while
the others send signed results; their p95 from publish to application ack, beside the same run
without the attacker, and the server's and the broker's peak memory beside their limits.

    .venv/bin/python -m bench.attack [--seconds 30] [--honest 4] [--rate 1.0] [--workers N]
                                     [--bomb objstm|plain]

One throw-away province (`harness.fleet`: CA, SoftHSM token, appliances, broker files, SQLite
repository), one Mosquitto with the generated configuration's limits (`BrokerLimits`), one
`sohoa server ingest` process with `--workers` ingest workers (default: the server's own,
`ingest_workers`) and the default verifier pool (`server.sandbox`). Two phases of `--seconds`
each, on the same server:

- quiet: `--honest` appliances each publish a realistic signed result (200-500 KB, PAdES on the
  token) `--rate` times a second, whole, on their result topic;
- attack: the same, while one more appliance publishes a new bomb (a fresh result id each time:
  0.9 MB on the wire, 60 MiB of /Fields references decoded) every second.

A result's latency is from its publish to its application ack (the appliances here are plain
MQTT clients, so this is the outbox's enqueue-to-ack minus the agent's own queueing). Memory is
the resident set, sampled every 0.2 s, of the server process, of its children (the verifier
processes), of both together, and of the Mosquitto process; each peak is reported beside its
limit: the broker's `memory_limit` (a cap on Mosquitto's heap, which its resident set exceeds by
its code and libraries, a few MiB), the verifier processes' `verify_processes` x
`verify_memory_mb` (each an address-space limit, which its resident set cannot pass). The
server process itself has no configured memory limit; its peak is reported alone. The targets
(issue 14): honest p95 under 2 s under attack, and the peaks under their limits.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from PIL import Image

from edge.signing.pades import DocumentSigner
from harness.bombs import fields_bomb, plain_fields_bomb
from harness.broker import Broker
from harness.fleet import Appliance, Fleet, provision_fleet
from harness.processes import default_ingest_workers, server_nodes
from harness.results import ResultMaker
from protocol import topics
from protocol.encoding import decode, encode
from protocol.messages import Ack, ResultMessage, sha256_hex
from provisioning.broker import BrokerLimits
from provisioning.ca import read_certificate
from server.config import ServerSettings, load_server_settings
from server.sandbox import SandboxLimits, VerifierPool
from server.verify import Verifier
from support.mqtt import MqttClient
from support.mqtt_types import Incoming, TlsIdentity

log = logging.getLogger("bench.attack")

TARGET_P95_S = 2.0
LARGEST_PAGES = 40
BOMB_EVERY_S = 1.0
DRAIN_S = 30.0
"""How long a phase waits for the last answers after its last publish."""
MiB = 1024 * 1024


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Peer:
    """An appliance as a plain MQTT client: publishes whole results, times their acks."""

    def __init__(self, fleet: Fleet, appliance: Appliance, host: str, port: int) -> None:
        self.device_id = appliance.device_id
        self.sent: dict[str, float] = {}
        self.answers: dict[str, tuple[float, Ack]] = {}
        self._lock = threading.Lock()
        self._client = MqttClient(
            host=host,
            port=port,
            identity=TlsIdentity(fleet.ca_file, appliance.cert_file, appliance.key_file),
            client_id=appliance.device_id,  # the broker makes any other its device id anyway
            on_message=self._on_message,
        )
        self._client.connect()
        self._client.subscribe(topics.device_subscriptions(appliance.device_id))

    def send(self, result_id: str, payload: bytes) -> None:
        """Publish one result (QoS 1) and note when."""
        with self._lock:
            self.sent[result_id] = time.monotonic()
        self._client.publish(topics.result_topic(self.device_id), payload)

    def latencies(self) -> list[float]:
        """Publish-to-ack seconds of the answered results."""
        with self._lock:
            return [t - self.sent[r] for r, (t, _a) in self.answers.items() if r in self.sent]

    def unanswered(self) -> int:
        """Results published and not answered."""
        with self._lock:
            return len(set(self.sent) - set(self.answers))

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()

    def _on_message(self, message: Incoming) -> None:
        if topics.parse(message.topic).kind is not topics.Kind.ACK:
            return
        ack = decode(message.payload)
        if isinstance(ack, Ack) and ack.final:
            with self._lock:
                self.answers.setdefault(ack.result_id, (time.monotonic(), ack))


class Memory:
    """Samples the resident memory of a process and of its descendants every 0.2 s; keeps the
    peaks of the process alone (`own_peak`), of its descendants together (`children_peak`)
    and of all of them at once (`peak`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = self.own_peak = self.children_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Start new peaks."""
        self.peak = self.own_peak = self.children_peak = 0

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def figures(self, prefix: str) -> dict[str, float]:
        """The peaks in MiB, named `<prefix>_peak_rss_mb` (all), `..._process_...` (the process
        alone) and `..._children_...` (its descendants)."""
        return {
            f"{prefix}_peak_rss_mb": round(self.peak / MiB, 1),
            f"{prefix}_process_peak_rss_mb": round(self.own_peak / MiB, 1),
            f"{prefix}_children_peak_rss_mb": round(self.children_peak / MiB, 1),
        }

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            own = _rss(self.pid)
            children = sum(_rss(p) for p in _tree(self.pid) if p != self.pid)
            self.own_peak = max(self.own_peak, own)
            self.children_peak = max(self.children_peak, children)
            self.peak = max(self.peak, own + children)


def _tree(pid: int) -> Iterator[int]:
    yield pid
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        children = [
            int(c) for t in tasks for c in (t / "children").read_text().split() if c.isdigit()
        ]
    except (OSError, ValueError):
        return
    for child in children:
        yield from _tree(child)


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _phase(
    honest: list[Peer],
    payloads: dict[str, list[tuple[str, bytes]]],
    seconds: float,
    rate: float,
    attacker: Peer | None,
    bombs: list[bytes],
) -> dict[str, Any]:
    """Publish for `seconds`, then wait for the answers; the phase's figures."""
    start = time.monotonic()
    step = 1.0 / rate
    ticks = int(seconds * rate)
    next_bomb = start
    bomb_ids: list[str] = []
    for tick in range(ticks):
        at = start + tick * step
        while True:
            now = time.monotonic()
            if attacker is not None and now >= next_bomb and bombs:
                bomb = bombs.pop()
                rid = sha256_hex(bomb)
                message = ResultMessage.for_pdf(attacker.device_id, bomb, {}, _now())
                attacker.send(rid, encode(message))
                bomb_ids.append(rid)
                next_bomb += BOMB_EVERY_S
                continue
            if now >= at:
                break
            time.sleep(min(at - now, 0.02))
        for peer in honest:
            rid, payload = payloads[peer.device_id].pop()
            peer.send(rid, payload)
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and any(p.unanswered() for p in honest):
        time.sleep(0.1)
    latencies = sorted(x for p in honest for x in p.latencies())
    refused: dict[str, int] = {}
    bomb_s: list[float] = []
    if attacker is not None:
        while time.monotonic() < deadline and attacker.unanswered():
            time.sleep(0.1)
        for _rid, (_t, ack) in attacker.answers.items():
            key = ack.reason.value if ack.reason else ack.status.value
            refused[key] = refused.get(key, 0) + 1
        bomb_s = [t - attacker.sent[r] for r, (t, _a) in attacker.answers.items()]
    statuses: dict[str, int] = {}
    for peer in honest:
        for _t, ack in peer.answers.values():
            statuses[ack.status.value] = statuses.get(ack.status.value, 0) + 1
    return {
        "sent": sum(len(p.sent) for p in honest),
        "answered": len(latencies),
        "statuses": statuses,
        "p50_s": _quantile(latencies, 0.5),
        "p95_s": _quantile(latencies, 0.95),
        "max_s": round(latencies[-1], 3) if latencies else None,
        "bombs_sent": len(bomb_ids),
        "bombs_answered": refused,
        "bomb_answer_p95_s": _quantile(sorted(bomb_s), 0.95),
    }


def _large_result(fleet: Fleet, appliance: Appliance, pages: int) -> bytes:
    """A signed result of `pages` pages of noise (JPEG barely compresses it): about 0.8 MB a
    page, so 40 pages are the protocol's largest result (32 MiB)."""
    rnd = random.Random(7)
    images = [
        Image.frombytes("RGB", (1100, 1100), rnd.randbytes(1100 * 1100 * 3)) for _ in range(pages)
    ]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=100.0, save_all=True, append_images=images[1:])
    with fleet.token.open() as token:
        signer = DocumentSigner(token, appliance.key_id, organisation=fleet.province.unit)
        return signer.sign(out.getvalue())


def verify_overhead(
    fleet: Fleet, results: list[bytes], large: bytes, device_id: str
) -> dict[str, Any]:
    """What the verifier processes add per result: the same signed results verified in this
    process and through a `VerifierPool` of the server's default limits (median of each), and
    the largest result's CPU time in a verifier process (what `verify_cpu_s` is sized by)."""
    verifier = Verifier([read_certificate(fleet.ca_file)], crl_path=fleet.crl_path)
    defaults = ServerSettings.model_fields
    limits = SandboxLimits(
        processes=1,
        cpu_s=defaults["verify_cpu_s"].default,
        memory_bytes=defaults["verify_memory_mb"].default * MiB,
    )

    def timed(verify: Any, pdf: bytes) -> float:
        started = time.perf_counter()
        verdict = verify(pdf, device_id=device_id)
        if not verdict.valid:
            raise RuntimeError(f"a signed result was refused: {verdict.detail}")
        return time.perf_counter() - started

    direct: list[float] = []
    sandboxed: list[float] = []
    with VerifierPool(verifier.spec, limits) as pool:
        for pdf in results[:3]:  # warm both
            timed(verifier.verify, pdf)
            timed(pool.verify, pdf)
        for _round in range(3):  # interleaved: the machine's load falls on both alike
            for pdf in results:
                direct.append(timed(verifier.verify, pdf))
                sandboxed.append(timed(pool.verify, pdf))
        large_direct = timed(verifier.verify, large)
        large_sandboxed = timed(pool.verify, large)
        child = pool.child_pids()[0]
        vm_peak, rss_peak = _vm(child, "VmPeak"), _vm(child, "VmHWM")
    return {
        "results": len(results),
        "in_process_ms": round(statistics.median(direct) * 1000, 1),
        "verifier_process_ms": round(statistics.median(sandboxed) * 1000, 1),
        "overhead_ms": round((statistics.median(sandboxed) - statistics.median(direct)) * 1000, 1),
        "largest_result_mb": round(len(large) / MiB, 1),
        "largest_in_process_s": round(large_direct, 3),
        "largest_verifier_process_s": round(large_sandboxed, 3),
        "verifier_vm_peak_mb": round(vm_peak / MiB, 1) if vm_peak else None,
        "verifier_rss_peak_mb": round(rss_peak / MiB, 1) if rss_peak else None,
    }


def _vm(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _pdfs(payloads: list[tuple[str, bytes]]) -> list[bytes]:
    """The PDFs of encoded whole results."""
    pdfs = []
    for _rid, payload in payloads:
        message = decode(payload)
        assert isinstance(message, ResultMessage)
        pdfs.append(message.pdf)
    return pdfs


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _memory(server: Memory, broker: Memory) -> dict[str, float]:
    """A phase's peaks: the server's (all, its process, its verifier processes) and the
    broker's."""
    figures = server.figures("server")
    figures["verifiers_peak_rss_mb"] = figures.pop("server_children_peak_rss_mb")
    figures["broker_peak_rss_mb"] = broker.figures("broker")["broker_peak_rss_mb"]
    return figures


def memory_limits(broker: BrokerLimits, server: ServerSettings) -> dict[str, float | None]:
    """The limits the peaks are compared with, in MiB (None: no limit is configured)."""
    return {
        "broker_memory_limit_mb": round(broker.memory_limit / MiB, 1),
        "verifiers_memory_limit_mb": float(server.verify_processes * server.verify_memory_mb),
        "verifier_process_memory_limit_mb": float(server.verify_memory_mb),
        "server_process_memory_limit_mb": None,
    }


def over_limits(phase: dict[str, Any], limits: dict[str, float | None]) -> list[str]:
    """Which of a phase's peaks passed their limits (empty: none)."""
    over = []
    for peak, limit in (
        ("broker_peak_rss_mb", "broker_memory_limit_mb"),
        ("verifiers_peak_rss_mb", "verifiers_memory_limit_mb"),
    ):
        bound = limits[limit]
        if bound is not None and phase[peak] >= bound:
            over.append(f"{peak} {phase[peak]} >= {limit} {bound}")
    return over


def run(
    seconds: float, honest_count: int, rate: float, workers: int | None, bomb: str = "objstm"
) -> dict[str, Any]:
    """Both phases in a throw-away folder; the figures."""
    workers = workers if workers is not None else default_ingest_workers()
    with tempfile.TemporaryDirectory(prefix="sohoa-attack-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        fleet = provision_fleet(workdir, honest_count + 1, prefix="attack")
        *good, bad = fleet.appliances
        per_phase = int(seconds * rate) + 1
        payloads: dict[str, list[tuple[str, bytes]]] = {a.device_id: [] for a in good}
        with ResultMaker(fleet) as maker:
            for appliance in good:
                for number in range(2 * per_phase):
                    made = maker.make(appliance, number)
                    message = ResultMessage.for_pdf(
                        appliance.device_id, made.pdf, made.fields, made.created_at
                    )
                    payloads[appliance.device_id].append((made.result_id, encode(message)))
        large = _large_result(fleet, good[0], LARGEST_PAGES)
        samples = _pdfs(payloads[good[0].device_id][:20])
        overhead = verify_overhead(fleet, samples, large, good[0].device_id)
        make_bomb = fields_bomb if bomb == "objstm" else plain_fields_bomb
        bombs = [make_bomb(seed=i) for i in range(int(seconds / BOMB_EVERY_S) + 2)]
        broker = stack.enter_context(Broker(fleet.broker_files))
        (server,) = server_nodes(fleet, broker.server_port, workers=workers, first_role="ingest")
        stack.enter_context(server)
        assert server.pid is not None and broker.pid is not None
        memory, broker_memory = Memory(server.pid), Memory(broker.pid)
        stack.callback(memory.stop)
        stack.callback(broker_memory.stop)
        limits = memory_limits(
            broker.files.limits, load_server_settings(fleet.server_dir / "server-0.toml")
        )
        honest = [Peer(fleet, a, broker.host, broker.port) for a in good]
        attacker = Peer(fleet, bad, broker.host, broker.port)
        for peer in [*honest, attacker]:
            stack.callback(peer.close)
        time.sleep(1.0)

        quiet = _phase(honest, payloads, seconds, rate, None, [])
        quiet.update(_memory(memory, broker_memory))
        for peer in honest:
            peer.sent.clear()
            peer.answers.clear()
        memory.reset()
        broker_memory.reset()
        attack = _phase(honest, payloads, seconds, rate, attacker, bombs)
        attack.update(_memory(memory, broker_memory))
        return {
            "seconds": seconds,
            "honest_appliances": honest_count,
            "rate_per_appliance": rate,
            "ingest_workers": workers,
            "bomb": bomb,
            "bomb_bytes": len(bombs[0]) if bombs else None,
            "verification": overhead,
            "memory_limits": limits,
            "quiet": quiet,
            "attack": attack,
        }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 if the target was missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.attack", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--honest", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1.0, help="results/s per honest appliance")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"ingest workers (default: the server's, {default_ingest_workers()})",
    )
    parser.add_argument(
        "--bomb",
        choices=["objstm", "plain"],
        default="objstm",
        help="objstm: the issue's object-stream bomb (0.9 MB, 60 MiB decoded); plain: a 4 MiB "
        "/Fields array written out plainly, which only the verifiers' CPU limit stops",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    figures = run(args.seconds, args.honest, args.rate, args.workers, args.bomb)
    quiet, attack = figures["quiet"], figures["attack"]
    ratio = (
        round(attack["p95_s"] / quiet["p95_s"], 2) if attack["p95_s"] and quiet["p95_s"] else None
    )
    figures["p95_ratio_attack_to_quiet"] = ratio
    met = attack["p95_s"] is not None and attack["p95_s"] < TARGET_P95_S
    met = met and attack["answered"] == attack["sent"]
    over = [o for phase in (quiet, attack) for o in over_limits(phase, figures["memory_limits"])]
    figures["target"] = {
        "honest p95 under attack": f"< {TARGET_P95_S} s",
        "peak memory": "under the broker's and the verifiers' limits",
        "over_limits": over,
        "met": met and not over,
    }
    out(
        f"honest p95 publish-to-ack: {quiet['p95_s']} s quiet, {attack['p95_s']} s under attack "
        f"(ratio {ratio}); answered {attack['answered']}/{attack['sent']}"
    )
    out(
        f"bombs: {attack['bombs_sent']} sent, answers {attack['bombs_answered']}, "
        f"p95 {attack['bomb_answer_p95_s']} s"
    )
    limits = figures["memory_limits"]
    for name, phase in (("quiet", quiet), ("under attack", attack)):
        out(
            f"peak memory {name}: server {phase['server_peak_rss_mb']} MiB (its process "
            f"{phase['server_process_peak_rss_mb']} MiB, no limit; verifiers "
            f"{phase['verifiers_peak_rss_mb']} MiB, limit {limits['verifiers_memory_limit_mb']} "
            f"MiB); broker {phase['broker_peak_rss_mb']} MiB, limit "
            f"{limits['broker_memory_limit_mb']} MiB"
        )
    v = figures["verification"]
    out(
        f"verification per result: {v['in_process_ms']} ms in process, "
        f"{v['verifier_process_ms']} ms in a verifier process (overhead {v['overhead_ms']} ms); "
        f"largest result ({v['largest_result_mb']} MB): {v['largest_verifier_process_s']} s; "
        f"verifier peak {v['verifier_vm_peak_mb']} MiB address space, "
        f"{v['verifier_rss_peak_mb']} MiB resident"
    )
    out(json.dumps(figures))
    return 0 if figures["target"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
