"""The server as a child process: `sohoa server run`, `ingest` or `api`, started the way
an operator starts it and awaited until it serves.

The demo runs one (`cli.demo`); the load-test harness runs several, kills and restarts them
(`harness.processes`). Mosquitto has its own runner in `provisioning.broker`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

from server.errors import ServerError
from support.process import ChildProcess

INGEST_READY = re.compile(r"ingest-\d+ (connected to|listening on) ")
"""What an ingest worker logs once it has joined the shared subscription (server.consumer)."""
HOST = "127.0.0.1"


class ServerProcess(ChildProcess):
    """`sohoa server run --config CONFIG` (API and ingest) or `sohoa server api` (the API only),
    ready when GET /healthz answers 200,
    or `sohoa server ingest --config CONFIG` (ingest only: ready when every worker says it
    listens), logging to `log_file`.

    Args:
        config: the server TOML.
        log_file: its log.
        role: "run", "ingest" or "api".
        api_port: the API's port on 127.0.0.1 (needed by "run" and "api").
        workers: how many ingest workers it starts (`ingest_workers`), for the readiness of
            "ingest".
        https: the API serves HTTPS (`api_tls_cert_file`): its readiness is asked over TLS,
            without checking the certificate (it is this machine's own child).

    Raises:
        ValueError: an unknown role, or "run" or "api" without its api_port.
    """

    error = ServerError

    def __init__(
        self,
        config: Path,
        log_file: Path,
        *,
        role: str = "run",
        api_port: int | None = None,
        workers: int = 1,
        https: bool = False,
    ) -> None:
        if role not in ("run", "ingest", "api"):
            raise ValueError(f"role must be 'run', 'ingest' or 'api', not {role!r}")
        if role in ("run", "api") and api_port is None:
            raise ValueError(f"a '{role}' server needs its api_port")
        argv = [sys.executable, "-m", "cli", "server", role, "--config", str(config)]
        super().__init__(argv, log_file, f"sohoa server {role}")
        self.role = role
        self.api_port = api_port
        self.workers = workers
        self.https = https

    @property
    def api_url(self) -> str:
        """The API's base URL (of a "run" or "api" server)."""
        return f"{'https' if self.https else 'http'}://{HOST}:{self.api_port}"

    def ready(self) -> bool:
        """/healthz answers 200 (run), or every worker said it listens (ingest)."""
        if self.role in ("run", "api"):
            try:
                url = f"{self.api_url}/healthz"
                return httpx.get(url, timeout=1.0, verify=not self.https).status_code == 200
            except httpx.HTTPError:
                return False
        return len(INGEST_READY.findall(self.log_text())) >= self.workers
