"""A kiosk told to stop (SIGTERM, SIGHUP) ends even when its clean exit cannot: the watchdog
of `edge.tui.run.end_within` closes what must be closed and ends the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _run(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_process_stuck_after_a_stop_signal_is_closed_and_ended(tmp_path: Path) -> None:
    # Stuck as the kiosk was under a closed terminal: the main thread waiting on a full queue
    # that nothing will ever drain.
    closed = tmp_path / "closed"
    done = _run(
        f"""
        import queue
        from pathlib import Path
        from edge.tui.run import end_within
        end_within(0.5, lambda: Path({str(closed)!r}).write_text("token logged out"))
        stuck = queue.Queue(1)
        stuck.put("frame")
        stuck.put("the next frame")
        """,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    assert closed.read_text() == "token logged out"
    # The log says where the exit was stuck: the main thread, putting into the full queue.
    assert "thread MainThread:" in done.stderr
    assert "queue.py" in done.stderr and ", in put" in done.stderr


def test_the_process_ends_even_when_closing_fails(tmp_path: Path) -> None:
    done = _run(
        """
        import threading
        from edge.tui.run import end_within
        def fail() -> None:
            raise RuntimeError("the token is gone")
        end_within(0.2, fail)
        threading.Event().wait()
        """,
        timeout=20,
    )
    assert done.returncode == 0
    assert "the token is gone" in done.stderr  # the failure logged, not swallowed


def test_a_process_that_ends_by_itself_is_left_alone(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    done = _run(
        f"""
        import sys
        from pathlib import Path
        from edge.tui.run import end_within
        end_within(5, lambda: Path({str(closed)!r}).write_text("closed twice"))
        sys.exit(3)
        """,
        timeout=20,
    )
    assert done.returncode == 3
    assert not closed.exists()


def test_after_a_hang_up_output_goes_nowhere_instead_of_failing(tmp_path: Path) -> None:
    # A pipe stands for the terminal that hung up: after `let_go_of_terminal` nothing is
    # written to it any more (and so nothing can fail with EIO), yet every write succeeds.
    done = _run(
        """
        import os, sys
        from edge.tui.run import let_go_of_terminal
        let_go_of_terminal()
        for _ in range(1000):
            os.write(1, b"frame " * 1000)
        sys.exit(7)
        """,
        timeout=20,
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == ""
