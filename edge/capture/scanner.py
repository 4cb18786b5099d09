"""Document scanners: flatbed pages and document-feeder batches, as the kiosk sees them.

`Scanner` is the adapter the rest of Sohoa scans through: `ScanSettings` in, `CapturedPage`s
out, `ScannerError`s (each with a message a person can act on, in English and in Vietnamese for
the kiosk) when something goes wrong. The settings, devices and errors live in
`edge.capture.scan_types` and are exported from here too.

SANE itself never runs in this process: it runs in the scanner process
(`edge.capture.scanner_process`, with `edge.capture.sane_device`, the only module that imports
`sane`). A driver that hangs is cut off after `ANSWER_WITHIN_S` seconds of silence with
`ScannerNotRespondingError` instead of freezing the kiosk, and the next call starts SANE afresh.

Rules of this module:
- Never under 200 dpi (Nghị định 30/2020 Phụ lục I, DOMAIN.md); A4 by default; a device
  smaller than the page is refused rather than cropping it (see `edge.capture.sane_device`).
- One device is open at a time in a process (`ScannerBusyError` otherwise). Scanning blocks:
  call it from a worker thread. `Scanner.cancel()` may be called from any thread.
- A batch keeps what it captured: `Scanner.scan_batch` yields each page as soon as it is read,
  and a jam, open cover or lost device is raised *after* the pages before it; an empty feeder
  after at least one page is the normal end of a batch.
- SANE reads SANE_CONFIG_DIR when it starts: set it before the first call here, or call
  `restart_sane()` after changing it. `write_stand_in_config()` writes the configuration that
  enables SANE's software `test` and `pnm` backends (stand-ins where no scanner is attached).
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.capture.scan_types import (
    A4_MM,
    AREA_TOLERANCE_MM,
    DEFAULT_DPI,
    MANAGED_OPTIONS,
    MIN_DPI,
    ColourMode,
    CoverOpenError,
    FeederEmptyError,
    PaperJamError,
    ResolutionTooLowError,
    ScanCancelledError,
    ScannerAccessError,
    ScannerBusyError,
    ScannerCapabilities,
    ScannerDevice,
    ScannerDisconnectedError,
    ScannerError,
    ScannerNotFoundError,
    ScannerNotRespondingError,
    ScanSettings,
    ScanSettingsError,
    ScanSource,
)
from edge.capture.scanner_process import ANSWER_WITHIN_S, ScannerProcess
from edge.capture.source import CapturedPage, SourceKind
from support.lifecycle import Closeable

__all__ = [
    "A4_MM",
    "ANSWER_WITHIN_S",
    "AREA_TOLERANCE_MM",
    "DEFAULT_DPI",
    "MANAGED_OPTIONS",
    "MIN_DPI",
    "BatchResult",
    "ColourMode",
    "CoverOpenError",
    "FeederEmptyError",
    "PaperJamError",
    "ResolutionTooLowError",
    "ScanCancelledError",
    "ScanSettings",
    "ScanSettingsError",
    "ScanSource",
    "Scanner",
    "ScannerAccessError",
    "ScannerBusyError",
    "ScannerCapabilities",
    "ScannerDevice",
    "ScannerDisconnectedError",
    "ScannerError",
    "ScannerNotFoundError",
    "ScannerNotRespondingError",
    "ScannerSource",
    "list_devices",
    "restart_sane",
    "write_stand_in_config",
]

log = logging.getLogger(__name__)

STOCK_SANE_DIR = Path("/etc/sane.d")


# --------------------------------------------------------------------------------------------
# The scanner process: one per kiosk process, started on first use


_LOCK = threading.RLock()
_state: dict[str, ScannerProcess | str | None] = {"process": None, "open": None}


def _process(answer_within: float = ANSWER_WITHIN_S) -> ScannerProcess:
    """The running scanner process (a new one if there is none, or the last was cut off)."""
    with _LOCK:
        process = _state["process"]
        if isinstance(process, ScannerProcess) and process.retiring and _state["open"] is None:
            process.stop()
        if not isinstance(process, ScannerProcess) or not process.alive:
            process = ScannerProcess(answer_within=answer_within)
            _state["process"] = process
        process.answer_within = answer_within
        return process


@atexit.register
def _stop_process() -> None:
    with _LOCK:
        process = _state["process"]
        if isinstance(process, ScannerProcess):
            process.stop()
        _state["process"] = None


def restart_sane() -> None:
    """Stop SANE and start it again (it reads SANE_CONFIG_DIR afresh).

    Backends forget their state and probe for devices afresh: use it after a scanner was
    unplugged and plugged back in (and in tests, for a fresh `test` backend).

    Raises:
        ScannerBusyError: a scanner is open; close it first.
    """
    with _LOCK:
        if _state["open"] is not None:
            raise ScannerBusyError(f"scanner {_state['open']} is open: close it before restarting")
        _stop_process()
        log.info("SANE restarted")


def list_devices(*, local_only: bool = False) -> list[ScannerDevice]:
    """The scanners SANE can see now (USB ones are probed again on each call).

    Raises:
        ScannerError: SANE is missing or failed.
    """
    with _LOCK:
        found: list[ScannerDevice] = _process().call("list", local_only)
        return found


def write_stand_in_config(
    directory: Path, *, backends: tuple[str, ...] = ("test", "pnm"), geometry_max_mm: float = 300.0
) -> Path:
    """Write a SANE configuration enabling software backends, without touching /etc.

    Debian disables the `test` and `pnm` backends in /etc/sane.d/dll.conf, and its test.conf
    clamps the scan area to 200 mm — too small for A4. This writes a `dll.conf` listing
    `backends` and a copy of test.conf with `geometry_max` raised.

    Args:
        directory: where to write (created if missing); point SANE_CONFIG_DIR at it.
        backends: the backends to enable.
        geometry_max_mm: the `test` backend's largest scan dimension; 300 holds A4.

    Returns:
        `directory`.

    Raises:
        ScannerError: SANE (Debian `sane-utils`/`libsane1`) is not installed.
    """
    stock = STOCK_SANE_DIR / "test.conf"
    if not stock.exists():
        raise ScannerError(
            f"{stock} is missing: install SANE (`apt-get install sane-utils`)",
            message_vi="Thiếu phần mềm SANE cho máy quét. Báo quản trị viên.",
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dll.conf").write_text("".join(f"{name}\n" for name in backends))
    conf = re.sub(
        r"(?m)^geometry_max\s+\S+", f"geometry_max {geometry_max_mm:.1f}", stock.read_text()
    )
    (directory / "test.conf").write_text(conf)
    return directory


class Scanner(Closeable):
    """One open scanner: the adapter the rest of Sohoa scans through.

    Open it with `Scanner.open(name)`; only one can be open in a process at a time. Use it as a
    context manager, or call `close()`.
    """

    def __init__(self, device: ScannerDevice, process: ScannerProcess) -> None:
        """Use `Scanner.open`; this wraps a device the scanner process has opened."""
        self.device = device
        self._process = process
        self._scanning = threading.Event()
        self._between_pages = threading.Event()
        self._cancelled = threading.Event()
        self._closed = False
        self._options: dict[str, str | float | bool] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, name: str | None = None, *, answer_within: float = ANSWER_WITHIN_S) -> Scanner:
        """Open a device by SANE name, or the first one SANE finds.

        Args:
            name: the SANE device name, or None for the first scanner found.
            answer_within: how long the device may stay silent before it is cut off.

        Raises:
            ScannerNotFoundError: no such device, or no device at all.
            ScannerBusyError: another scanner is open in this process, or the device is busy.
            ScannerError: SANE failed otherwise.
        """
        with _LOCK:
            if _state["open"] is not None:
                raise ScannerBusyError(
                    f"scanner {_state['open']} is already open in this process: close it first"
                )
            process = _process(answer_within)
            device: ScannerDevice = process.call("open", name)
            _state["open"] = device.name
            return cls(device, process)

    def close(self) -> None:
        """Close the device (idempotent); another scanner may be opened afterwards."""
        with _LOCK:
            if self._closed:
                return
            self._closed = True
            try:
                if self._process.alive:
                    self._process.call("close")
            except ScannerError as e:  # a device that vanished or hung: nothing to keep
                log.warning("closing scanner %s: %s", self.device.name, e)
            finally:
                _state["open"] = None

    def cancel(self) -> None:
        """Stop the scan in progress (from any thread): the current page is abandoned and the
        batch ends with `ScanCancelledError`."""
        self._cancelled.set()
        if self._scanning.is_set() and self._process.alive:
            try:
                self._process.send("cancel")
            except ScannerError as e:
                log.warning("cancelling the scan on %s: %s", self.device.name, e)

    # -- options -----------------------------------------------------------------------------

    def set_backend_option(self, name: str, value: str | float | bool) -> None:
        """Set a device-specific SANE option by its SANE name (between pages of a batch too).

        Raises:
            ScanSettingsError: the device has no such active option or refused the value, or
                the option is one `ScanSettings` manages (resolution, source, mode, area).
        """
        if name in MANAGED_OPTIONS:
            raise ScanSettingsError(f"{name!r} is set from ScanSettings, not directly")
        self._call("set_option", name, value)
        self._options[name] = value

    def capabilities(self) -> ScannerCapabilities:
        """What the device offers (sources, modes, resolutions, scan area)."""
        offered: ScannerCapabilities = self._call("capabilities")
        return offered

    def _call(self, op: str, *args: object) -> Any:
        with _LOCK:
            self._ready()
            if self._scanning.is_set() and not self._between_pages.is_set():
                raise ScannerBusyError(
                    f"scanner {self.device.name} is reading a page: wait for it, or cancel"
                )
            return self._process.call(op, *args)

    def _ready(self) -> None:
        """Refuse a closed or cut-off scanner; replace a process that asked to retire."""
        if self._closed:
            raise ScannerError(f"scanner {self.device.name} is closed: open it again")
        if self._process.retiring and not self._scanning.is_set():
            self._renew_process()
        if not self._process.alive:
            raise ScannerDisconnectedError(
                f"scanner {self.device.name} was cut off after it stopped answering: close it "
                "and open it again"
            )

    def _renew_process(self) -> None:
        """Replace a process that asked to retire: open the device again, with its options."""
        log.info("scanner %s: renewing the scanner process after a cut-off read", self.device.name)
        self._process.stop()
        self._process = _process(self._process.answer_within)
        self._process.call("open", self.device.name)
        for name, value in self._options.items():
            self._process.call("set_option", name, value)

    # -- scanning ----------------------------------------------------------------------------

    def scan_batch(
        self,
        settings: ScanSettings,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Generator[CapturedPage, None, None]:
        """Scan pages, yielding each as soon as it is read.

        From the flatbed: one page. From the feeder: pages until it is empty (an empty feeder
        after at least one page is the normal end). Call from a worker thread.

        Args:
            settings: how to scan.
            progress: called with (lines read, lines in the page) while a page is read.

        Yields:
            Each page, with meta "device", "mode", "source" (and "side" in duplex).

        Raises:
            PaperJamError, CoverOpenError, ScannerDisconnectedError, ScanCancelledError, …:
                after the pages captured before the failure have been yielded;
                `e.pages_captured` counts them.
            ScannerNotRespondingError: the device stayed silent too long and was cut off.
            FeederEmptyError: the feeder was empty from the start.
            ScanSettingsError: the device cannot scan as asked (nothing scanned).
        """
        with _LOCK:
            self._ready()
            if self._scanning.is_set():
                raise ScannerBusyError(f"scanner {self.device.name} is already scanning")
            self._scanning.set()
        self._cancelled.clear()
        index = 0
        try:
            for message in self._process.scan(settings):
                if message[0] == "progress":
                    _report(progress, message[1], message[2])
                elif message[0] == "page":
                    _, image, dpi, meta = message
                    self._between_pages.set()
                    yield CapturedPage(image, dpi, SourceKind.SCANNER, index, meta)
                    self._between_pages.clear()
                    index += 1
        except ScannerNotRespondingError as e:
            e.pages_captured = index
            raise
        finally:
            self._between_pages.clear()
            self._scanning.clear()

    def scan_page(self, settings: ScanSettings | None = None) -> CapturedPage:
        """Scan one page (from the glass unless the settings say feeder: then its first sheet).

        Raises:
            ScannerError: as `scan_batch`.
        """
        batch = self.scan_batch(settings or ScanSettings())
        try:
            return next(batch)
        except StopIteration as e:  # cannot happen: a scan yields a page or raises
            raise ScannerError("the scanner returned no page: scan again") from e
        finally:
            batch.close()

    def scan_all(self, settings: ScanSettings) -> BatchResult:
        """Scan a whole batch and return its pages and the error that ended it, if any."""
        pages: list[CapturedPage] = []
        try:
            for page in self.scan_batch(settings):
                pages.append(page)
        except ScannerError as e:
            return BatchResult(tuple(pages), e)
        return BatchResult(tuple(pages), None)


def _report(progress: Callable[[int, int], None] | None, line: int, total: int) -> None:
    if progress is not None:
        try:
            progress(line, total)
        except Exception:
            log.exception("scan progress callback failed")


@dataclass(frozen=True)
class BatchResult:
    """What a batch produced: every page captured, and the error that stopped it (or None).

    Attributes:
        pages: the pages in order; kept even when `error` is set.
        error: why the batch stopped early (jam, cover open, device lost…), or None when the
            feeder simply ran out of paper.
    """

    pages: tuple[CapturedPage, ...]
    error: ScannerError | None


class ScannerSource:
    """A `PageSource` over a scanner: opens the device on first use, scans with `settings`.

    Args:
        device: SANE device name, or None for the first scanner found.
        settings: how to scan (feeder or flatbed, mode, dpi).
    """

    def __init__(self, device: str | None, settings: ScanSettings | None = None) -> None:
        self._device = device
        self._settings = settings or ScanSettings()
        self._scanner: Scanner | None = None

    def pages(self) -> Iterator[CapturedPage]:
        """Scan one page (flatbed) or the feeder's batch; see `Scanner.scan_batch`."""
        if self._scanner is None:
            self._scanner = Scanner.open(self._device)
        yield from self._scanner.scan_batch(self._settings)

    def close(self) -> None:
        """Stop any scan and close the device."""
        if self._scanner is not None:
            self._scanner.cancel()
            self._scanner.close()
            self._scanner = None
