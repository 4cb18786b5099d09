"""Sync benchmark (issue 6): results through Mosquitto into the server, beside the raw broker path.

    .venv/bin/python -m bench.sync [--only flush-sqlite,flush-postgresql,rate-10] [--quick]

Runs the standard configurations of `sohoa server bench-sync` (`harness.bench_sync.run_bench`), each
in its own throw-away folder, and prints for each our figure, its anchor's and their ratio:

- flush-sqlite: 100 appliances x 100 realistic results (200-500 KB, PAdES on SoftHSM) flushed
  into SQLite; targets >= 50 verified results/s, 0 lost, 0 duplicated;
- flush-postgresql: 50 appliances x 40 results into a throw-away PostgreSQL cluster; target
  >= 50 verified results/s;
- rate-10: 20 appliances offering 600 results at 10 results/s; target p95 latency (enqueue to
  application ack) < 2 s.

The server runs as two processes (`server run` + `server ingest`), each with the server's default
ingest workers (`ingest_workers`).
The anchor is the same payloads published by plain paho clients (the appliances' identities,
QoS 1) through a Mosquitto with the same configuration to one plain subscriber: the physical
limit of this path on this machine. `--quick` divides the results per appliance by 10. The
last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from typing import Any

from harness.bench_sync import BenchConfig, run_bench

log = logging.getLogger("bench.sync")

TARGET_RESULTS_PER_S = 50.0
TARGET_P95_S = 2.0

CONFIGS: dict[str, BenchConfig] = {
    "flush-sqlite": BenchConfig(devices=100, results=100, database="sqlite"),
    "flush-postgresql": BenchConfig(devices=50, results=40, database="postgresql"),
    "rate-10": BenchConfig(devices=20, results=30, database="sqlite", rate=10.0),
}


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def verdict(name: str, figures: dict[str, Any]) -> dict[str, Any]:
    """The targets of configuration `name` and whether this run met them."""
    clean = figures["lost"] == 0 and figures["duplicates"] == 0
    clean = clean and figures["invalid_signatures"] == 0 and figures["pending_left"] == 0
    clean = clean and figures["rejected_but_valid"] == 0
    if name.startswith("rate"):
        p95 = figures["p95_s"]
        return {"target": f"p95 < {TARGET_P95_S} s", "met": clean and p95 is not None and p95 < 2}
    return {
        "target": f">= {TARGET_RESULTS_PER_S:.0f} results/s, 0 lost, 0 duplicated",
        "met": clean and figures["results_per_s"] >= TARGET_RESULTS_PER_S,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen configurations; print the summary and, last, one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__)
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument("--quick", action="store_true", help="a tenth of the results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)  # our progress lines, not a line per key and certificate
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")

    result: dict[str, Any] = {}
    started = time.perf_counter()
    for name in names:
        config = CONFIGS[name]
        if args.quick:
            config = dataclasses.replace(config, results=max(1, config.results // 10))
        log.info("%s: %d appliances x %d results ...", name, config.devices, config.results)
        figures = run_bench(config)
        figures.update(verdict(name, figures))
        result[name] = figures
        out(
            f"{name}: ours {figures['results_per_s']} results/s verified+merged "
            f"(p50 {figures['p50_s']} s, p95 {figures['p95_s']} s from {figures['latency_from']}); "
            f"anchor raw paho->Mosquitto->subscriber {figures['raw_results_per_s']} results/s; "
            f"ratio {figures['ratio']}"
        )
        out(
            f"  {figures['acked']}/{figures['sent']} acked, {figures['in_repository']} in the "
            f"repository, {figures['duplicates']} duplicated, {figures['lost']} lost, "
            f"{figures['rejected']} rejected {figures['rejections']} (of them valid: "
            f"{figures['rejected_but_valid']}); memory: "
            f"broker {figures['broker_peak_rss_mb']} MB, server {figures['server_peak_rss_mb']} "
            f"MB; target {figures['target']}: {'met' if figures['met'] else 'NOT met'}"
        )
    result["seconds"] = round(time.perf_counter() - started, 1)
    out(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
