"""The real processes the sync benchmark and the sync fault tests run, and kill.

- `AgentProcess`: `sohoa edge sync --config ...` (forever, or `--once`); `kill(SIGKILL)` is the
  power cut, `stop()` the clean shutdown (SIGTERM, then SIGKILL).
- `server_nodes`: a fleet's `sohoa server run` and `sohoa server ingest` processes
  (`server.process.ServerProcess`, the one the demo runs too), restartable with the same settings.
- `wait_for`: poll a condition with a deadline.
- `peak_rss_bytes`, `cpu_seconds`: a process's peak resident memory (VmHWM) and CPU time, read
  from /proc.
- `default_ingest_workers`: the server's own default worker count, which the benchmarks use
  unless told otherwise, so that they measure the server as it is shipped.

The broker that restarts on its port is `harness.broker.Broker`; the throw-away PostgreSQL
cluster is `harness.postgres.PostgresCluster`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.fleet import Fleet
from server.config import ServerSettings
from server.process import ServerProcess
from support.process import ChildProcess
from support.sockets import free_port


def default_ingest_workers() -> int:
    """The ingest workers a server process starts by default (`ServerSettings.ingest_workers`:
    its declared default, not what this process's environment may set)."""
    default = ServerSettings.model_fields["ingest_workers"].default
    assert isinstance(default, int)
    return default


def peak_rss_bytes(pid: int | None) -> int | None:
    """The peak resident set size of process `pid` (VmHWM), or None if it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) process `pid` has used, or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class AgentProcess(ChildProcess):
    """`sohoa edge sync --config CONFIG` (forever, or `--once` with a timeout).

    Args:
        config: the appliance's edge TOML.
        log_file: its log.
        once: send what is queued, wait for every answer, exit.
        timeout: seconds a `--once` run may take.
    """

    error = HarnessError

    def __init__(
        self, config: Path, log_file: Path, *, once: bool = False, timeout: float = 120.0
    ) -> None:
        argv = [sys.executable, "-m", "cli", "edge", "sync", "--config", str(config)]
        if once:
            argv += ["--once", "--timeout", str(timeout)]
        super().__init__(argv, log_file, f"sync agent ({config.parent.name})")


def server_nodes(
    fleet: Fleet,
    broker_port: int,
    *,
    processes: int = 1,
    workers: int | None = None,
    first_role: str = "run",
    **settings: Any,
) -> list[ServerProcess]:
    """Server processes for `fleet` (not started): the first `first_role` ("run": API and
    ingest, or "ingest"), the others `sohoa server ingest`; each with its own config and log and
    its own ingest client ids, so that a restarted one takes back its broker session.

    Args:
        broker_port: the broker's server listener (`Broker.server_port`, on 127.0.0.1).
        processes: how many server processes.
        workers: ingest workers in each (None: the server's default, `default_ingest_workers`).
        settings: further server settings for all of them.
    """
    workers = workers if workers is not None else default_ingest_workers()
    nodes = []
    for number in range(processes):
        role = first_role if number == 0 else "ingest"
        api_port = free_port()
        config = fleet.write_server_config(
            "127.0.0.1",
            broker_port,
            api_port=api_port,
            name=f"server-{number}.toml",
            ingest_workers=workers,
            ingest_client_prefix=f"sohoa-ingest-{number}",
            **settings,
        )
        log = fleet.server_dir / f"server-{number}.log"
        nodes.append(ServerProcess(config, log, role=role, api_port=api_port, workers=workers))
    return nodes


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll `condition()` until it is true.

    Raises:
        HarnessError: it was still false after `timeout` seconds (`what` says what was awaited).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
