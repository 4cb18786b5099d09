"""`sohoa server bench-sync`: the command line of the sync benchmark (`harness.bench_sync`),
which `cli.main` registers in the server's command group.

Its options make a `BenchConfig`; it prints a short summary, then one JSON line with every
figure (`sent`, `acked`, `in_repository`, `duplicates`, `results_per_s`, `p95_s`, ...: a stable
interface, shared/DESIGN.md), and exits non-zero when a result was lost, duplicated or badly
signed.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.bench_sync import BenchConfig, run_bench
from harness.errors import HarnessError


class Database(StrEnum):
    """The repositories the benchmark runs on."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def _parse_size(text: str) -> tuple[int, int]:
    try:
        low, _, high = text.partition("-")
        pair = (int(low), int(high or low))
    except ValueError:
        raise typer.BadParameter(f"give a range in KB like 200-500, not {text!r}") from None
    if not 0 < pair[0] <= pair[1]:
        raise typer.BadParameter(f"give a range in KB like 200-500, not {text!r}")
    return pair


def bench_sync(
    devices: Annotated[int, typer.Option(min=1, max=1000, help="Simulated appliances.")] = 10,
    results: Annotated[int, typer.Option(min=1, help="Results per appliance.")] = 10,
    database: Annotated[
        Database, typer.Option(help="The repository: SQLite, or a throw-away PostgreSQL cluster.")
    ] = Database.SQLITE,
    size_kb: Annotated[str, typer.Option(help="Size range of the signed PDFs, in KB.")] = "200-500",
    rate: Annotated[
        float | None,
        typer.Option(
            help="Offer results at this rate (results/s over the fleet) instead of "
            "flushing full outboxes; latency is then from each result's enqueue."
        ),
    ] = None,
    agents_per_process: Annotated[
        int, typer.Option(min=1, help="Appliances per agents process.")
    ] = 25,
    ingest_processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes: one `server run`, the rest `server ingest` (default 2).",
        ),
    ] = None,
    ingest_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ingest workers per server process (default: the server's `ingest_workers`).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds the sync phase may take.")] = 900.0,
    workdir: Annotated[Path | None, typer.Option(help="Keep everything in this folder.")] = None,
) -> None:
    """Measure sync: N appliances flush M signed results through Mosquitto into the server."""
    # Raises HarnessError (a process failed or was late; results lost, duplicated or badly
    # signed) or the error of the package whose provisioning failed; cli.main maps them.
    config = BenchConfig(
        devices=devices,
        results=results,
        database=database.value,
        size_kb=_parse_size(size_kb),
        rate=rate,
        agents_per_process=agents_per_process,
        ingest_processes=ingest_processes,
        ingest_workers=ingest_workers,
        timeout=timeout,
        workdir=workdir.resolve() if workdir else None,
    )
    figures = run_bench(config)
    _print_summary(figures)
    typer.echo(json.dumps(figures, ensure_ascii=False))
    if figures["lost"] or figures["duplicates"] or figures["invalid_signatures"]:
        raise HarnessError(
            f"{figures['lost']} result(s) lost, {figures['duplicates']} duplicated, "
            f"{figures['invalid_signatures']} with an invalid signature; see the figures above"
        )


def _print_summary(f: dict[str, Any]) -> None:
    lines = [
        f"{f['devices']} appliances x {f['results_per_device']} results ({f['mean_result_kb']} KB "
        f"mean), {f['database']}, {f['mode']}"
        + (f" at {f['offered_rate']}/s" if f["offered_rate"] else ""),
        f"acked {f['acked']}/{f['sent']}, in repository {f['in_repository']}, duplicates "
        f"{f['duplicates']}, lost {f['lost']}, invalid signatures {f['invalid_signatures']}, "
        f"rejected {f['rejected']} {f['rejections']} (of them valid: {f['rejected_but_valid']})",
        f"ours:   {f['results_per_s']} results/s ({f['mb_per_s']} MB/s) verified and merged; "
        f"latency p50 {f['p50_s']} s, p95 {f['p95_s']} s (from {f['latency_from']})",
        f"anchor: {f['raw_results_per_s']} results/s ({f['raw_mb_per_s']} MB/s) paho -> Mosquitto "
        f"-> plain subscriber ({f['raw_received']} of {f['raw_sent']} received); ratio "
        f"{f['ratio']}",
        f"memory: broker {f['broker_peak_rss_mb']} MB, server {f['server_peak_rss_mb']} MB, "
        f"agents {f['agents_peak_rss_mb']} MB (peak RSS)",
        f"CPU s during sync: {f['cpu_s']} (server {f['server_cpu_ms_per_result']} ms/result)",
    ]
    for line in lines:
        typer.echo(line)
