"""Child processes we run ourselves (Mosquitto, the Sohoa server): stop them and read their logs."""

from __future__ import annotations

import logging
import signal
import subprocess
from pathlib import Path

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
