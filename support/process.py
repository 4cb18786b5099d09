"""Processes: stop the children we run (Mosquitto, the server), read their logs, and stop our own
services cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

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
