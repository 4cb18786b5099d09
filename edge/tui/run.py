"""Running the kiosk for real (`sohoa edge tui`): its log to a file, the terminal's signals
ignored while it runs, the app from `make_kiosk`."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.capture.scanner import ScanSettings
from edge.config import EdgeSettings
from edge.tui.app import make_kiosk
from edge.tui.batch import pnm_stack
from support.files import private_dir

LOG_FILE = "kiosk.log"

_IGNORED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP)
"""Signals a keyboard (or a stray `kill -INT`) could send: the kiosk is left only with the
admin PIN."""

_STOP = (signal.SIGTERM, signal.SIGHUP)
"""Signals that end the kiosk cleanly (systemd's stop, the terminal closing): the token logged
out, the outbox closed, and what the caller started (the demo's broker and server) stopped."""


STOP_GRACE_S = 10.0
"""How long the kiosk has, after SIGTERM, to end by itself before it is ended for it."""

HANGUP_GRACE_S = 2.0
"""The same after SIGHUP. A closed terminal has nothing left to show, and Textual's exit may
never come: its writer thread can die on the hangup (EIO) before the signal's handler lets go
of the terminal, and the exit then waits for ever to queue a frame (seen right after unlock,
while the screen is busiest). The clean exit takes ~0.6 s."""

log = logging.getLogger(__name__)


@contextmanager
def ignoring_keyboard_signals() -> Iterator[None]:
    """Ignore SIGINT, SIGQUIT and SIGTSTP while the block runs, then restore their handlers."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _IGNORED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def freeze_startup_objects() -> None:
    """Take everything allocated so far (the modules imported: Textual, OpenCV's and the
    pipeline's Python side) out of the garbage collector's full passes.

    A full pass walks every object in the process; with those in it, it held the screen still
    for 190-240 ms about once in ten results (`bench.kiosk`, its frame lag while OCR runs),
    and not once in twenty with them frozen. They live as long as the kiosk anyway.
    """
    gc.freeze()


def log_to_file(settings: EdgeSettings) -> logging.Handler:
    """Send the root logger to <data_dir>/logs/kiosk.log instead of the terminal (which the
    kiosk draws on); returns the handler, to remove afterwards."""
    folder = settings.data_dir / "logs"
    private_dir(folder)
    handler = logging.FileHandler(folder / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, logging.StreamHandler) and not isinstance(old, logging.FileHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def let_go_of_terminal() -> None:
    """Point standard output and error at /dev/null: the terminal has hung up.

    Textual's output thread writes to a terminal that is gone; the first write fails (EIO),
    the thread ends, and the next frames fill its queue and block the exit for ever. On
    /dev/null they are written and dropped, and the exit goes through.
    """
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
    finally:
        os.close(null)


def _stacks() -> str:
    """Every thread's stack, innermost call last: where a stuck exit is stuck."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(
        f"thread {names.get(ident, ident)}:\n" + "".join(traceback.format_stack(frame))
        for ident, frame in sys._current_frames().items()
    )


def end_within(seconds: float, last_words: Callable[[], None]) -> threading.Thread:
    """Start a watchdog that, if the process is still here after `seconds`, calls `last_words`
    (log out of the token, close the outbox, stop what the caller started) and ends the
    process with status 0.

    A kiosk under systemd would be killed after its stop timeout anyway, but without logging
    out of the token and closing the outbox; one under a closed terminal would stay for ever.
    """

    def watch() -> None:
        time.sleep(seconds)
        log.error(
            "kiosk still running %.0f s after a stop signal: ending it; where its threads were:"
            "\n%s",
            seconds,
            _stacks(),
        )
        try:
            last_words()
        except Exception:
            log.exception("closing after a stop signal failed")
        finally:
            logging.shutdown()
            os._exit(0)

    watchdog = threading.Thread(target=watch, name="kiosk-stop-watchdog", daemon=True)
    watchdog.start()
    return watchdog


def run_kiosk(
    settings: EdgeSettings,
    *,
    scan: ScanSettings | None = None,
    note: str | None = None,
    batch_stack: tuple[Path, ...] = (),
    on_abandon: Callable[[], None] = lambda: None,
) -> None:
    """Run the kiosk in this terminal until the admin PIN leaves it (`make_kiosk`'s `scan` and
    `note`, and `batch_stack`, page images batch mode scans through the `pnm` stand-in as a
    feeder would: the demo's).

    `on_abandon` stops what the caller started (the demo's broker and server) when the kiosk
    does not end by itself within `STOP_GRACE_S` of SIGTERM or `HANGUP_GRACE_S` of SIGHUP
    (`end_within`)."""
    handler = log_to_file(settings)
    try:
        with ignoring_keyboard_signals():
            app = make_kiosk(settings, scan=scan, note=note)
            app.stop_signals = _STOP

            def on_stop_signal(sig: signal.Signals) -> None:
                if sig == signal.SIGHUP:
                    let_go_of_terminal()

                def last_words() -> None:
                    app.services.close()
                    on_abandon()

                end_within(HANGUP_GRACE_S if sig == signal.SIGHUP else STOP_GRACE_S, last_words)

            app.on_stop_signal = on_stop_signal
            app.warm_up = True
            freeze_startup_objects()
            if batch_stack:
                device = settings.scanner_device or "pnm:0"
                app.batch_feed = pnm_stack(device, app.services.scan, list(batch_stack))
            app.run()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
