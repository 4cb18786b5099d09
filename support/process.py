"""Processes: run the children we start (the server, the sync agent) until they are ready, stop
them (and Mosquitto), read their logs, and stop our own services cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import ClassVar

from support.files import private_file
from support.lifecycle import Service

log = logging.getLogger(__name__)


def stop_child(proc: subprocess.Popen[bytes] | None, name: str, timeout: float = 5.0) -> None:
    """Stop `proc` by its PID: SIGTERM (so it can save its state), then SIGKILL after `timeout`.

    Args:
        proc: the child, or None when there is nothing to stop.
        name: what it is, for the log line when it ignores SIGTERM.
        timeout: seconds to wait for a clean exit.
    """
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s (pid %s) ignored SIGTERM; killing it", name, proc.pid)
        proc.kill()
        proc.wait()


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of the log file at `path` ("(no log)" when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def shutdown_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (a service's clean stop).

    uvicorn installs its own handlers while it serves and, once stopped, raises the signal again
    for the handlers it found: these, which only set the event, so the workers still get stopped.
    """
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ChildProcess(Service):
    """A program run as a child process, logging to `log_file` (appended across restarts);
    `start()` returns once `ready()` says it serves.

    `kill()` is the power cut (SIGKILL), `stop()` the clean shutdown (SIGTERM, then SIGKILL);
    it can be started again after either. Subclasses say what `ready()` means and which error
    their package raises (`error`).

    Args:
        argv: the program and its arguments.
        log_file: where its stdout and stderr go.
        name: what it is, for messages.
        env: extra environment variables.
    """

    error: ClassVar[type[Exception]] = RuntimeError
    """The exception a failed start or wait raises (the owning package's error)."""

    def __init__(
        self,
        argv: list[str],
        log_file: Path,
        name: str,
        *,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.log_file = log_file
        self.name = name
        self.env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """Its process id once started (kept after it ends, until the next start)."""
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
            error: it exited, or was not ready within `timeout` seconds (it is stopped then);
                the message carries the end of its log.
        """
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        # A service's log may name devices and results: its user's only (0600).
        with private_file(self.log_file).open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._proc.poll() is not None:
                raise self.error(
                    f"{self.name} exited with status {self._proc.returncode}; its log "
                    f"{self.log_file} ends:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise self.error(
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
            error: it was never started, or still runs after `timeout` seconds (it is left
                running).
        """
        if self._proc is None:
            raise self.error(f"{self.name} was never started")
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.error(
                f"{self.name} still runs after {timeout:.0f} s; its log ends:\n{self.log_tail()}"
            ) from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL: the power cut) and reap it."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        self._proc.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean stop), then SIGKILL after `timeout`; safe to call twice."""
        stop_child(self._proc, self.name, timeout)  # keeps `_proc`: its exit status stays readable

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
