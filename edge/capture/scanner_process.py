"""The scanner process: SANE runs in a child process of its own, which the kiosk can stop.

A SANE backend is C code that the kiosk cannot interrupt: a driver that waits for ever (a USB
scanner that stopped answering; SANE's own `test` backend, whose asynchronous cancel can
deadlock the process that loaded it) would freeze the kiosk with it. So the kiosk's process
never loads SANE. `ScannerProcess` starts `python -m edge.capture.scanner_process`, which owns
SANE (`edge.capture.sane_device`), and talks to it over two pipes:

- requests go one at a time: ("list", local_only), ("open", name), ("capabilities",),
  ("set_option", name, value), ("close",), ("exit",); each gets ("ok", value) or
  ("error", ScannerError);
- ("scan", settings) answers with a stream: ("progress", line, total)…, ("page", image, dpi,
  meta)…, then ("end",) or ("error", ScannerError) — a jam after three pages is three pages
  then the error, as the batch keeps what it captured;
- ("cancel",) may be sent during a scan, from any thread; it has no answer of its own: the
  stream ends with `ScanCancelledError`;
- ("log", logger, level, text) may come at any time: the process's log records, logged again
  on the kiosk's side;
- ("retire",) before the end of a scan says that the driver's reader thread had to be cut off
  (a cancel, a jam mid-page): SANE's threaded backends can leave the process deadlocked then
  (`sane_device._let_reader_finish`), so the kiosk's side replaces the process before its next
  request, opening the same device again.

Every wait for an answer has a limit. A request or a scan that stays silent for longer (a scan
sends progress every 64 lines) gets the process killed and `ScannerNotRespondingError`; the
next call starts a new process.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from edge.capture.scan_types import (
    ScanCancelledError,
    ScannerBusyError,
    ScannerDisconnectedError,
    ScannerError,
    ScannerNotRespondingError,
    ScanSettings,
)

log = logging.getLogger(__name__)

ANSWER_WITHIN_S = 60.0
"""The longest a request, or a scan between two signs of progress, may stay silent. A USB
scanner warming its lamp takes seconds; a 600 dpi colour page on a slow device sends progress
every few seconds. A minute of silence is a device or driver that stopped."""

STOP_WITHIN_S = 2.0
"""How long a process asked to exit gets before it is killed."""


# --------------------------------------------------------------------------------------------
# The kiosk's side


class ScannerProcess:
    """The child process that owns SANE, and the one conversation with it.

    Args:
        answer_within: see `ANSWER_WITHIN_S`.
    """

    def __init__(self, *, answer_within: float = ANSWER_WITHIN_S) -> None:
        self.answer_within = answer_within
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "edge.capture.scanner_process",
             "--read-fd", str(to_child_read), "--write-fd", str(from_child_write)],
            pass_fds=(to_child_read, from_child_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the kiosk's terminal is not for a driver's chatter
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C at the kiosk's terminal is not for it either
        )  # fmt: skip
        os.close(to_child_read)
        os.close(from_child_write)
        self._send_conn = Connection(to_child_write, readable=False)
        self._recv_conn = Connection(from_child_read, writable=False)
        self._send_lock = threading.Lock()
        self._dead = False
        self.retiring = False
        """Whether the process asked to be replaced (see ("retire",) above)."""
        log.info("scanner process %d started", self._proc.pid)

    @property
    def alive(self) -> bool:
        """Whether the process runs and has not been cut off."""
        return not self._dead and self._proc.poll() is None

    def call(self, op: str, *args: Any) -> Any:
        """Send one request and return its answer's value.

        Raises:
            ScannerError: the one the process answered with.
            ScannerNotRespondingError: no answer in time (the process has been killed).
            ScannerDisconnectedError: the process ended (crashed).
        """
        self.send(op, *args)
        message = self.receive(doing=op)
        if message[0] == "ok":
            return message[1]
        if message[0] == "error":
            raise message[1]
        self.kill()
        raise ScannerDisconnectedError(f"the scanner process answered {op} with {message[0]!r}")

    def scan(self, settings: ScanSettings) -> Iterator[tuple[Any, ...]]:
        """Start a scan and yield its ("progress", …) and ("page", …) messages.

        The process reads the next page only when the caller comes back for more. Returns
        after ("end",); raises the ScannerError the stream ends with. Closed early (the caller
        stopped reading), it cancels the scan and reads the stream to its end, so that the
        next request gets its own answer.
        """
        self.send("scan", settings)
        finished = False
        try:
            while True:
                message = self.receive(doing="scanning")
                if message[0] == "end":
                    finished = True
                    return
                if message[0] == "error":
                    finished = True
                    raise message[1]
                yield message
                if message[0] == "page":
                    self.send("next")
        finally:
            if not finished and self.alive:
                self._drain_cancelled_scan()

    def _drain_cancelled_scan(self) -> None:
        try:
            self.send("cancel")
            while self.receive(doing="cancelling")[0] not in ("end", "error"):
                pass
        except ScannerError as e:
            log.warning("scanner process: the cancelled scan did not end cleanly: %s", e)

    def send(self, op: str, *args: Any) -> None:
        """Send a message (thread-safe: a cancel may come from another thread)."""
        with self._send_lock:
            if not self.alive:
                raise ScannerDisconnectedError(
                    "the scanner process has stopped: open the scanner again"
                )
            try:
                self._send_conn.send((op, *args))
            except OSError as e:
                self.kill()
                raise ScannerDisconnectedError(
                    f"the scanner process is gone ({e}): open the scanner again"
                ) from e

    def receive(self, *, doing: str) -> tuple[Any, ...]:
        """The next message other than a log record, within `answer_within` seconds."""
        while True:
            try:
                ready = self._recv_conn.poll(self.answer_within)
                message: tuple[Any, ...] = self._recv_conn.recv() if ready else ()
            except (EOFError, OSError) as e:
                code = self._proc.poll()
                self.kill()
                raise ScannerDisconnectedError(
                    f"the scanner process ended while {doing} (exit code {code}): "
                    "scan again; if it keeps happening, restart the appliance"
                ) from e
            if not message:
                self.kill()
                raise ScannerNotRespondingError(
                    f"the scanner did not answer for {self.answer_within:g} s while {doing}: "
                    "it was cut off; switch the scanner off and on, then scan again"
                )
            if message[0] == "log":
                _, name, level, text = message
                logging.getLogger(name).log(level, "%s", text)
                continue
            if message[0] == "retire":
                self.retiring = True
                continue
            return message

    def stop(self) -> None:
        """Ask the process to exit, and kill it if it does not in time (idempotent)."""
        if self.alive:
            try:
                with self._send_lock:
                    self._send_conn.send(("exit",))
                self._proc.wait(timeout=STOP_WITHIN_S)
            except (OSError, subprocess.TimeoutExpired):
                log.warning("scanner process %d did not exit: killing it", self._proc.pid)
        self.kill()

    def kill(self) -> None:
        """Stop the process now, whatever it is doing (idempotent)."""
        self._dead = True
        if self._proc.poll() is None:
            self._proc.kill()
            log.warning("scanner process %d killed", self._proc.pid)
        self._proc.wait()
        for conn in (self._send_conn, self._recv_conn):
            conn.close()


# --------------------------------------------------------------------------------------------
# The process's side


class _Reply:
    """The pipe to the kiosk, shared by the request loop, the scan thread and the log."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, *message: Any) -> None:
        with self._lock:
            self._conn.send(message)


class _ForwardLog(logging.Handler):
    """Sends this process's log records to the kiosk's log."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__()
        self._reply = reply

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError):  # the kiosk is gone: this process ends at its next read
            self._reply("log", record.name, record.levelno, record.getMessage())


def serve(requests: Connection, reply: _Reply) -> None:
    """Answer the kiosk's requests until it says "exit" or goes away."""
    from edge.capture import sane_device  # SANE is loaded here, and only here

    scanner: sane_device.SaneScanner | None = None
    scan: _Scan | None = None
    while True:
        try:
            op, *args = requests.recv()
        except EOFError:
            break
        if op in ("next", "cancel"):
            if scan is not None and scanner is not None and op == "next":
                scan.go_on()
            elif scan is not None and scanner is not None:
                scan.cancel(scanner)
            continue
        if op == "exit":
            break
        if scan is not None and scan.busy:
            reply("error", _busy(op))
            continue
        if op == "scan":
            if scanner is None:
                reply("error", ScannerError("no scanner is open: open one first"))
                continue
            scan = _Scan(scanner, args[0], reply)
            continue
        try:
            scanner, value = _answer(sane_device, scanner, op, args)
            reply("ok", value)
        except ScannerError as e:
            reply("error", e)
        except Exception as e:  # a bug here must reach the kiosk as an error, not a silence
            log.exception("scanner process: %s failed", op)
            reply("error", ScannerError(f"the scanner process failed at {op}: {e}"))
    if scanner is not None:
        if scan is not None:
            scan.cancel(scanner)
        scanner.close()


def _answer(sane_device: Any, scanner: Any, op: str, args: list[Any]) -> tuple[Any, Any]:
    """Carry out one request: the scanner open afterwards and the answer's value."""
    if op == "list":
        return scanner, sane_device.list_devices(local_only=args[0])
    if op == "open":
        opened = sane_device.SaneScanner.open(args[0])
        return opened, opened.device
    if scanner is None:
        raise ScannerError(f"no scanner is open for {op}: open one first")
    if op == "capabilities":
        return scanner, scanner.capabilities()
    if op == "set_option":
        scanner.set_backend_option(args[0], args[1])
        return scanner, None
    if op == "close":
        scanner.close()
        return None, None
    raise ScannerError(f"the scanner process does not know the request {op!r}")


def _busy(op: str) -> ScannerError:
    return ScannerBusyError(f"a scan is in progress: {op} must wait for it to end or cancel it")


class _Scan:
    """One scan on its own thread, sending each page and then waiting for "next".

    Pages are read on demand, as in one process: the feeder does not take the next sheet
    before the kiosk asks for it, and between pages the kiosk may send requests (a backend
    option) while the scan waits.
    """

    def __init__(self, scanner: Any, settings: ScanSettings, reply: _Reply) -> None:
        self._resume: queue.Queue[bool] = queue.Queue()
        self._between_pages = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(scanner, settings, reply), daemon=True
        )
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Whether the scan is reading from the device now (not waiting between pages)."""
        return not self._finished.is_set() and not self._between_pages.is_set()

    def go_on(self) -> None:
        """Read the next page."""
        self._resume.put(True)

    def cancel(self, scanner: Any) -> None:
        """Stop the scan, whether it is reading (SANE cancels) or waiting between pages."""
        scanner.cancel()
        self._resume.put(False)

    def _run(self, scanner: Any, settings: ScanSettings, reply: _Reply) -> None:
        def progress(line: int, total: int) -> None:
            reply("progress", line, total)

        pages = scanner.scan_batch(settings, progress=progress)
        sent = 0
        try:
            for image, dpi, meta in pages:
                self._between_pages.set()  # before the page goes: the kiosk may answer at once
                reply("page", image, dpi, meta)
                sent += 1
                go_on = self._resume.get()
                self._between_pages.clear()
                if not go_on:
                    raise ScanCancelledError(
                        f"scan cancelled after {sent} pages", pages_captured=sent
                    )
            ending: tuple[Any, ...] = ("end",)
        except ScannerError as e:
            ending = ("error", e)
        except Exception as e:
            log.exception("scanner process: the scan failed")
            ending = ("error", ScannerError(f"the scan failed in the scanner process: {e}"))
        finally:
            self._between_pages.clear()
            pages.close()
        if scanner.reader_cut_off:
            reply("retire")
        self._finished.set()  # before the last word: the kiosk may send its next scan at once
        reply(*ending)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the scanner process (started by `ScannerProcess`, not by people)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    options = parser.parse_args(argv)
    reply = _Reply(Connection(options.write_fd, readable=False))
    root = logging.getLogger()
    root.addHandler(_ForwardLog(reply))
    root.setLevel(logging.INFO)
    with contextlib.suppress(OSError):  # the kiosk closed the pipe: nothing is left to answer
        serve(Connection(options.read_fd, writable=False), reply)
    # Not the interpreter's normal exit: a driver may have left a lock of the C library held
    # (see `sane_device._let_reader_finish`), and the exit handlers would wait on it for ever.
    os._exit(0)


if __name__ == "__main__":
    main()
