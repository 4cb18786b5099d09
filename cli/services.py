"""Child processes the demo runs on this machine: the Sohoa server (`sohoa server run`).

Mosquitto has its own runner in `provisioning.broker`; this module starts our own server the way
an operator would, as a separate process, and waits until its API answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cli.errors import DemoError
from support.lifecycle import Service
from support.process import log_tail, stop_child


class ServerProcess(Service):
    """`sohoa server run --config CONFIG` as a child process, logging to `log_file`."""

    def __init__(self, config: Path, log_file: Path, api_url: str) -> None:
        self.config = config
        self.log_file = log_file
        self.api_url = api_url
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until GET /healthz answers 200.

        Raises:
            DemoError: the server exited or did not answer in time (with its log's last lines).
        """
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "server", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DemoError(
                    f"the server exited with status {self._proc.returncode}; "
                    f"its log {self.log_file} ends:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise DemoError(
            f"the server did not answer within {timeout:.0f} s; its log {self.log_file} ends:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to stop (SIGTERM), then kill it if it does not."""
        proc, self._proc = self._proc, None
        stop_child(proc, "sohoa server", timeout)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        return log_tail(self.log_file, lines)
