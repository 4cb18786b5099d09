"""stop_child ends a real child, politely or not; log_tail reads the end of a log; ChildProcess
waits until its child is ready and names it, with its log, when it is not."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.process import ChildProcess, log_tail, stop_child

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


class _Error(Exception):
    pass


class _SaysReady(ChildProcess):
    """A Python child that prints `ready` when it is."""

    error = _Error

    def __init__(self, code: str, log_file: Path) -> None:
        super().__init__([sys.executable, "-c", code], log_file, "test child")

    def ready(self) -> bool:
        return "ready" in self.log_text()


def test_a_child_process_is_awaited_until_ready_then_stopped(tmp_path: Path) -> None:
    code = "import time; time.sleep(0.3); print('ready', flush=True); time.sleep(60)"
    with _SaysReady(code, tmp_path / "child.log") as child:
        assert child.running
        assert "ready" in child.log_text()
    assert not child.running
    assert child.returncode == -signal.SIGTERM


def test_a_child_that_dies_before_it_is_ready_raises_with_its_log(tmp_path: Path) -> None:
    child = _SaysReady("import sys; print('no database'); sys.exit(4)", tmp_path / "child.log")
    with pytest.raises(_Error, match=r"test child exited with status 4(.|\n)*no database"):
        child.start(timeout=10)


def test_a_child_that_is_late_is_stopped_and_named(tmp_path: Path) -> None:
    child = _SaysReady("import time; time.sleep(60)", tmp_path / "child.log")
    with pytest.raises(_Error, match="was not ready within 0 s"):
        child.start(timeout=0.2)
    assert not child.running


def test_a_killed_child_can_start_again(tmp_path: Path) -> None:
    child = _SaysReady(
        "print('ready', flush=True); import time; time.sleep(60)", tmp_path / "c.log"
    )
    child.start()
    child.kill()
    assert child.returncode == -signal.SIGKILL
    child.start()
    assert child.running
    with pytest.raises(_Error, match="still runs after 0 s"):
        child.wait(0.1)
    child.stop()
    assert child.wait(1) == -signal.SIGTERM
