"""A throw-away PostgreSQL cluster (initdb and pg_ctl in a temp folder), for the sync benchmark
outside pytest and for the test suite's PostgreSQL fixture (`tests/fixtures/postgres.py`)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

from harness.errors import HarnessError
from support.lifecycle import Service
from support.process import log_tail
from support.sockets import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


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
