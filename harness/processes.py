"""The real processes the sync benchmark and the sync fault tests run, and kill.

- `SohoaChild`: `python -m cli ...` as a child process with its own log; `kill(SIGKILL)` is the
  power cut, `stop()` the clean shutdown (SIGTERM, then SIGKILL).
- `ServerNode`: `sohoa server run` (API + ingest; ready when /healthz answers) or `sohoa server
  ingest` (ready when its workers say they listen); restartable with the same settings.
- `AgentProcess`: `sohoa edge sync --config ...` (forever, or `--once`).
- `Broker`: the project's private Mosquitto, with a restart (or a crash) on the same port, so
  that agents and workers configured for it find it again.
- `PostgresCluster`: a throw-away PostgreSQL cluster (initdb and pg_ctl in a temp folder, as
  the test fixture makes one), for a benchmark outside pytest.
- `peak_rss_bytes`: a process's peak resident memory (VmHWM), read from /proc.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from harness.errors import HarnessError
from harness.fleet import Fleet
from provisioning.broker import Mosquitto
from provisioning.errors import BrokerError
from support.lifecycle import Service
from support.process import log_tail, stop_child
from support.sockets import free_port

INGEST_READY = re.compile(r"ingest-\d+ (connected to|listening on) ")
"""What an ingest worker logs once it has joined the shared subscription (server.consumer)."""
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


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


class SohoaChild(Service):
    """`python -m cli ARGS...` as a child process, logging to `log_file` (appended across
    restarts).

    Args:
        args: the `sohoa` arguments, e.g. ["server", "ingest", "--config", "s.toml"].
        log_file: where its stdout and stderr go.
        name: what it is, for messages.
        env: extra environment variables.
    """

    def __init__(
        self,
        args: list[str],
        log_file: Path,
        name: str,
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = args
        self.log_file = log_file
        self.name = name
        self.env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """Its process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether it runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit status once it ended."""
        return self._proc.poll() if self._proc is not None else None

    def start(self, timeout: float = 30.0) -> None:
        """Start it, then wait until `ready()` (and raise if it exits first or is late).

        Raises:
            HarnessError: it exited or was not ready in time.
        """
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "cli", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._proc.poll() is not None:
                raise HarnessError(
                    f"{self.name} exited with status {self._proc.returncode}; its log "
                    f"{self.log_file} ends:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError(
                    f"{self.name} was not ready within {timeout:.0f} s; its log {self.log_file} "
                    f"ends:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def ready(self) -> bool:
        """Whether it is ready for work (default: as soon as it runs)."""
        return True

    def wait(self, timeout: float) -> int:
        """Wait for it to exit; return its status.

        Raises:
            HarnessError: it still runs after `timeout` seconds (it is left running).
        """
        if self._proc is None:
            raise HarnessError(f"{self.name} was never started")
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(
                f"{self.name} still runs after {timeout:.0f} s; its log ends:\n{self.log_tail()}"
            ) from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL: the power cut) and reap it."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        self._proc.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean stop), then SIGKILL after `timeout`."""
        proc, self._proc = self._proc, None
        stop_child(proc, self.name, timeout)
        if proc is not None:
            self._proc = proc  # keep its exit status readable

    def peak_rss(self) -> int | None:
        """Its peak resident memory so far (read it before it exits)."""
        return peak_rss_bytes(self.pid) if self.running else None

    def log_text(self) -> str:
        """What it logged since its last start."""
        try:
            with self.log_file.open("rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of its log."""
        return log_tail(self.log_file, lines)


class ServerNode(SohoaChild):
    """`sohoa server run` (API and ingest) or `sohoa server ingest` (ingest only).

    Args:
        config: the server TOML.
        log_file: its log.
        role: "run" or "ingest".
        api_port: the API's port (for "run": readiness is GET /healthz = 200).
        workers: how many ingest workers it starts (`ingest_workers`): readiness of "ingest"
            is that many "listening on" lines in its log.
    """

    def __init__(
        self,
        config: Path,
        log_file: Path,
        *,
        role: str = "run",
        api_port: int | None = None,
        workers: int = 1,
    ) -> None:
        if role not in ("run", "ingest"):
            raise ValueError(f"role must be 'run' or 'ingest', not {role!r}")
        if role == "run" and api_port is None:
            raise ValueError("a 'run' node needs its api_port")
        super().__init__(["server", role, "--config", str(config)], log_file, f"server {role}")
        self.role = role
        self.api_port = api_port
        self.workers = workers

    def ready(self) -> bool:
        """/healthz answers (run), or every worker said it listens (ingest)."""
        if self.role == "run":
            try:
                url = f"http://127.0.0.1:{self.api_port}/healthz"
                return httpx.get(url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False
        return len(INGEST_READY.findall(self.log_text())) >= self.workers


class AgentProcess(SohoaChild):
    """`sohoa edge sync --config CONFIG` (forever, or `--once` with a timeout).

    Args:
        config: the appliance's edge TOML.
        log_file: its log.
        once: send what is queued, wait for every answer, exit.
        timeout: seconds a `--once` run may take.
    """

    def __init__(
        self, config: Path, log_file: Path, *, once: bool = False, timeout: float = 120.0
    ) -> None:
        args = ["edge", "sync", "--config", str(config)]
        if once:
            args += ["--once", "--timeout", str(timeout)]
        super().__init__(args, log_file, f"sync agent ({config.parent.name})")


class Broker(Mosquitto):
    """The private Mosquitto of `provisioning.broker`, restartable on the same port.

    `Mosquitto.start` picks a fresh port every time; a restart here keeps the port, so that the
    agents and ingest workers configured for it reconnect by themselves, as they would to a
    production broker that restarts.
    """

    def restart(self, *, crash: bool = False, down_s: float = 0.0, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM: it saves its database; or SIGKILL with `crash`: what it
        had not saved is lost), stay down `down_s` seconds, start it again on the same port.

        Raises:
            BrokerError: it did not come back (the port was taken meanwhile, or it failed).
        """
        port = self.port
        self.down(crash=crash)
        time.sleep(down_s)
        self.up(port, timeout=timeout)

    def down(self, *, crash: bool = False) -> None:
        """Stop the broker: SIGTERM, or SIGKILL with `crash`."""
        if crash and self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        else:
            self.stop()

    def up(self, port: int, *, timeout: float = 10.0) -> None:
        """Start the broker on `port` (after `down`).

        Raises:
            BrokerError: it did not listen on `port`.
        """
        program = shutil.which("mosquitto")
        if program is None:
            raise BrokerError("the MQTT broker program 'mosquitto' is not on PATH")
        self.port = port
        self.files.write_config(port)
        if not self._start_once(program, timeout):
            raise BrokerError(f"the broker could not listen on port {port} again (taken?)")


class PostgresCluster(Service):
    """A private PostgreSQL 15 cluster in a temp folder, on a free loopback port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
    `fsync` is off: the cluster is thrown away, and the benchmark measures our path, not the
    disk's flush latency (the SQLite runs keep their WAL + synchronous settings).
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sohoa-bench-pg-"))
        self.port = 0

    @property
    def user(self) -> str:
        """The cluster's superuser (its owner)."""
        return PG_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) of `database`."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb, then start the server.

        Raises:
            HarnessError: PostgreSQL is not installed or did not start.
        """
        if not (PG_BIN / "initdb").exists():
            raise HarnessError(
                "PostgreSQL 15 is not installed: run scripts/setup.sh (apt-get install postgresql)"
            )
        self.directory.chmod(0o755)
        sockets = self.directory / "sock"
        sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.directory, PG_USER, PG_USER)
            shutil.chown(sockets, PG_USER, PG_USER)
        data = self.directory / "data"
        self._run(["initdb", "-A", "trust", "-E", "UTF8", "--no-sync", "-D", str(data)])
        for _attempt in range(3):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sockets} -c fsync=off "
                "-c full_page_writes=off -c max_connections=200"
            )
            log = str(self.directory / "postgres.log")
            if self._run(
                ["pg_ctl", "-D", str(data), "-l", log, "-o", options, "-w", "start"], False
            ):
                return
        raise HarnessError(f"PostgreSQL did not start: {log_tail(self.directory / 'postgres.log')}")

    def create_database(self, name: str) -> str:
        """Create database `name`; return its URL."""
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Immediate shutdown, and the folder goes."""
        if (self.directory / "data").exists():
            self._run(
                ["pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"],
                False,
            )
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, argv: list[str], check: bool = True) -> bool:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        if check and done.returncode != 0:
            raise HarnessError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.returncode == 0


def server_nodes(
    fleet: Fleet,
    broker_port: int,
    *,
    processes: int = 1,
    workers: int = 1,
    first_role: str = "run",
    **settings: Any,
) -> list[ServerNode]:
    """Server processes for `fleet` (not started): the first `first_role` ("run": API and
    ingest, or "ingest"), the others `sohoa server ingest`; each with its own config and log and
    its own ingest client ids, so that a restarted one takes back its broker session.

    Args:
        broker_port: the broker's port (on 127.0.0.1).
        processes: how many server processes.
        workers: ingest workers in each.
        settings: further server settings for all of them.
    """
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
        nodes.append(ServerNode(config, log, role=role, api_port=api_port, workers=workers))
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
