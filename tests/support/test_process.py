"""stop_child ends a real child, politely or not; log_tail reads the end of a log."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from support.process import log_tail, stop_child

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_child_that_ignores_sigterm_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    started = time.monotonic()
    stop_child(proc, "stubborn child", timeout=0.5)
    assert proc.returncode == -9
    assert time.monotonic() - started < 5


def test_a_child_that_obeys_sigterm_exits_cleanly() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_child(proc, "child")
    assert proc.returncode == -15
    stop_child(proc, "child")  # stopping twice is harmless
    stop_child(None, "nothing")


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert log_tail(log, 2) == "line 28\nline 29"
    assert log_tail(tmp_path / "missing.log") == "(no log)"
