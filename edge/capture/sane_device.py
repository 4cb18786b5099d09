"""The python-sane adapter: SANE's options, statuses and errors turned into ours.

This is the only module that imports `sane`, and it runs only inside the scanner process
(`edge.capture.scanner_process`), never in the kiosk's own process: a SANE backend that hangs or
crashes (SANE's `test` backend cancels its reader thread asynchronously, which can leave the
whole process deadlocked) then takes down only that process, which the kiosk's side stops and
starts again.

Rules of this module:
- Never under 200 dpi: a scanned result must be at least 200 dpi (Nghị định 30/2020 Phụ lục I,
  DOMAIN.md). Settings asking for less are refused, and so is a device that can only give less.
- A4 is the default page; a device whose scan area is smaller than the page is refused rather
  than silently cutting the page off.
- SANE is not thread-safe: every SANE call goes through one lock, except `sane_cancel`, which
  SANE allows from any thread (SANE standard 4.3.12).
- A batch keeps what it captured: `SaneScanner.scan_batch` yields each page as soon as it is
  read, and a jam, open cover or lost device is raised *after* the pages before it; an empty
  feeder after at least one page is the normal end of a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

from edge.capture.scan_types import (
    AREA_TOLERANCE_MM,
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
    ScanSettings,
    ScanSettingsError,
    ScanSource,
)

log = logging.getLogger(__name__)

READER_EXIT_WAIT_S = 0.2
"""How long to let a backend's reader thread finish before `sane_cancel` stops it."""

# sane_strstatus() texts (English, from libsane) → our error and what to do.
_STATUS: dict[str, tuple[type[ScannerError], str]] = {
    "Document feeder jammed": (
        PaperJamError,
        "paper jam in the document feeder: open the feeder, remove the jammed sheet, put the "
        "unscanned pages back and scan again",
    ),
    "Scanner cover is open": (
        CoverOpenError,
        "the scanner's cover is open: close it and scan again",
    ),
    "Document feeder out of documents": (
        FeederEmptyError,
        "the document feeder is empty: put the pages in the feeder and scan again",
    ),
    "Error during device I/O": (
        ScannerDisconnectedError,
        "the scanner stopped answering (unplugged or switched off?): check its USB cable and "
        "power, then scan the remaining pages",
    ),
    "Device busy": (ScannerBusyError, "the scanner is busy: wait for it and scan again"),
    "Access to resource has been denied": (
        ScannerAccessError,
        "access to the scanner was denied: add the appliance's user to the `scanner` group",
    ),
    "Operation was canceled": (ScanCancelledError, "the scan was cancelled"),  # libsane's spelling
    "Operation was cancelled": (ScanCancelledError, "the scan was cancelled"),
    "SaneDev object is closed": (ScannerDisconnectedError, "the scanner has been closed: open it"),
}


def _translate(error: BaseException, *, doing: str, pages: int = 0) -> ScannerError:
    """Our error for a python-sane/SANE error met while `doing` something."""
    text = str(error)
    kind, advice = _STATUS.get(
        text, (ScannerError, f"the scanner failed while {doing} ({text}): check it and try again")
    )
    kept = f" ({pages} pages captured before it are kept)" if pages else ""
    return kind(f"{advice}{kept}", pages_captured=pages)


# --------------------------------------------------------------------------------------------
# The SANE library: one per process, behind one lock


_LOCK = threading.RLock()
_state: dict[str, Any] = {"module": None, "open": None}


def _sane() -> ModuleType:
    """The initialised `sane` module (imported and initialised on first use, under `_LOCK`)."""
    with _LOCK:
        if _state["module"] is None:
            try:
                import sane  # imported on first use: SANE reads its configuration then
            except ImportError as e:
                raise ScannerError(
                    "python-sane is not installed: `pip install python-sane` (it needs Debian's "
                    "libsane-dev to build)",
                    message_vi="Thiếu phần mềm điều khiển máy quét. Báo quản trị viên.",
                ) from e
            version = sane.init()
            _state["module"] = sane
            log.info("SANE %d.%d.%d initialised", *version[1:4])
        module: ModuleType = _state["module"]
        return module


def _sane_error() -> type[BaseException]:
    error: type[BaseException] = _sane()._sane.error
    return error


def list_devices(*, local_only: bool = False) -> list[ScannerDevice]:
    """The scanners SANE can see now (USB ones are probed again on each call).

    Raises:
        ScannerError: SANE is missing or failed.
    """
    with _LOCK:
        try:
            found = _sane().get_devices(local_only)
        except _sane_error() as e:
            raise _translate(e, doing="listing devices") from e
    return [ScannerDevice(*entry) for entry in found]


# --------------------------------------------------------------------------------------------
# Capabilities and option handling

# SANE's well-known option values, as different backends spell them (lower case).
_FLATBED_WORDS = ("flatbed", "normal", "platen", "glass")
_FEEDER_WORDS = ("adf", "feeder", "automatic")
_MODE_WORDS = {
    ColourMode.COLOUR: ("color", "colour", "24bit color"),
    ColourMode.GREY: ("gray", "grey", "8bit gray"),
    ColourMode.LINEART: ("lineart", "binary", "black & white", "black and white", "monochrome"),
}


def _source_kind(value: str) -> ScanSource | None:
    low = value.lower()
    if "duplex" in low:
        return ScanSource.ADF_DUPLEX
    if any(word in low for word in _FEEDER_WORDS):
        return None if "back" in low else ScanSource.ADF_SIMPLEX
    if any(word in low for word in _FLATBED_WORDS):
        return ScanSource.FLATBED
    return None


def _mode_kind(value: str) -> ColourMode | None:
    low = value.lower()
    for mode, words in _MODE_WORDS.items():
        if low in words:
            return mode
    return None


class SaneScanner:
    """One open SANE device, in the scanner process.

    Open it with `SaneScanner.open(name)`; only one can be open at a time. The kiosk's side
    reaches it through `edge.capture.scanner.Scanner`, which has the same methods.
    """

    def __init__(self, device: ScannerDevice, handle: Any) -> None:
        """Use `SaneScanner.open`; this wraps an already-open python-sane device."""
        self.device = device
        self._dev = handle
        self._cancelled = threading.Event()
        self._closed = False
        self._reading = threading.Event()
        self.reader_cut_off = False
        """Whether a backend's reader thread was cancelled before it ended: this process may
        then be deadlocked at its next thread or library load (`_let_reader_finish`)."""

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, name: str | None = None) -> SaneScanner:
        """Open a device by SANE name, or the first one SANE finds.

        Raises:
            ScannerNotFoundError: no such device, or no device at all.
            ScannerBusyError: another scanner is open, or the device is busy.
            ScannerError: SANE failed otherwise.
        """
        with _LOCK:
            if _state["open"] is not None:
                raise ScannerBusyError(
                    f"scanner {_state['open']} is already open in this process: close it first"
                )
            devices = list_devices()
            if name is None:
                if not devices:
                    raise ScannerNotFoundError(
                        "no scanner found: switch it on, plug in its USB cable, and check "
                        "`scanimage -L` lists it"
                    )
                device = devices[0]
            else:
                device = next(
                    (d for d in devices if d.name == name), ScannerDevice(name, "", name, "")
                )
            try:
                handle = _sane().open(device.name)
            except _sane_error() as e:
                if str(e) == "Invalid argument":
                    raise ScannerNotFoundError(
                        f"no scanner named {device.name!r}: pick one of "
                        f"{[d.name for d in devices] or 'none found'}"
                    ) from e
                raise _translate(e, doing=f"opening {device.name}") from e
            _state["open"] = device.name
            log.info("scanner %s opened (%s %s)", device.name, device.vendor, device.model)
            return cls(device, handle)

    def close(self) -> None:
        """Close the device (idempotent); another scanner may be opened afterwards."""
        with _LOCK:
            if self._closed:
                return
            self._closed = True
            try:
                self._dev.close()
            except _sane_error() as e:  # closing a device that vanished: nothing to keep
                log.warning("closing scanner %s: %s", self.device.name, e)
            finally:
                _state["open"] = None
            log.info("scanner %s closed", self.device.name)

    def cancel(self) -> None:
        """Stop the scan in progress (from any thread): the current page is abandoned and the
        batch ends with `ScanCancelledError`."""
        self._cancelled.set()
        if not self._closed:
            if self._reading.is_set():
                self.reader_cut_off = True
            self._dev.cancel()  # sane_cancel is allowed asynchronously (SANE standard 4.3.12)

    # -- options -----------------------------------------------------------------------------

    def _option(self, name: str) -> Any | None:
        """The python-sane Option for SANE option `name` if the device has it active."""
        option = self._dev.opt.get(name.replace("-", "_"))
        return option if option is not None and option.is_active() else None

    def _get(self, name: str) -> Any:
        return getattr(self._dev, name.replace("-", "_"))

    def _set(self, name: str, value: str | float | bool) -> None:
        option = self._option(name)
        if option is None:
            raise ScanSettingsError(f"the scanner has no option {name!r}")
        sane = _sane()
        if option.type == sane._sane.TYPE_FIXED:
            value = float(value)
        elif option.type in (sane._sane.TYPE_INT, sane._sane.TYPE_BOOL):
            value = round(float(value))
        try:
            setattr(self._dev, name.replace("-", "_"), value)
        except (_sane_error(), AttributeError, TypeError) as e:
            raise ScanSettingsError(
                f"the scanner refused {name}={value!r} ({e}): choose another setting"
            ) from e

    def set_backend_option(self, name: str, value: str | float | bool) -> None:
        """Set a device-specific SANE option by its SANE name (between pages of a batch too).

        Raises:
            ScanSettingsError: the device has no such active option or refused the value, or
                the option is one `ScanSettings` manages (resolution, source, mode, area).
        """
        if name in MANAGED_OPTIONS:
            raise ScanSettingsError(f"{name!r} is set from ScanSettings, not directly")
        with _LOCK:
            self._set(name, value)

    def capabilities(self) -> ScannerCapabilities:
        """What the device offers (sources, modes, resolutions, scan area)."""
        with _LOCK:
            source = self._option("source")
            sources = (
                {k for v in source.constraint if (k := _source_kind(v)) is not None}
                if source is not None
                else {ScanSource.FLATBED}
            )
            if ScanSource.ADF_SIMPLEX in sources and self._duplex_switch() is not None:
                sources.add(ScanSource.ADF_DUPLEX)
            mode = self._option("mode")
            modes = (
                {m for v in mode.constraint if (m := _mode_kind(v)) is not None} if mode else set()
            )
            depth = self._option("depth")
            if ColourMode.GREY in modes and depth is not None and 1 in (depth.constraint or ()):
                modes.add(ColourMode.LINEART)
            return ScannerCapabilities(
                sources=tuple(s for s in ScanSource if s in sources),
                modes=tuple(m for m in ColourMode if m in modes),
                dpi_range=self._dpi_range(),
                area_mm=self._area_mm(),
            )

    def _duplex_switch(self) -> tuple[str, str | bool] | None:
        """A separate option turning duplex on, as some backends have (epson2's adf-mode)."""
        adf_mode = self._option("adf-mode")
        if adf_mode is not None and isinstance(adf_mode.constraint, list):
            for value in adf_mode.constraint:
                if "duplex" in value.lower():
                    return ("adf-mode", value)
        if self._option("duplex") is not None:
            return ("duplex", True)
        return None

    def _dpi_range(self) -> tuple[float, float]:
        option = self._option("resolution")
        if option is None:
            return (0.0, 0.0)
        constraint = option.constraint
        if isinstance(constraint, tuple):
            return (float(constraint[0]), float(constraint[1]))
        if isinstance(constraint, list) and constraint:
            return (float(min(constraint)), float(max(constraint)))
        value = float(self._get("resolution"))
        return (value, value)

    def _area_mm(self) -> tuple[float, float] | None:
        right, bottom = self._option("br-x"), self._option("br-y")
        if right is None or bottom is None or not isinstance(right.constraint, tuple):
            return None
        sane = _sane()
        if right.unit != sane._sane.UNIT_MM:
            return None  # a pixel-unit backend: the area depends on resolution
        return (float(right.constraint[1]), float(bottom.constraint[1]))

    def _configure(self, settings: ScanSettings) -> tuple[int, str]:
        """Set source, mode, resolution and area; return the real dpi and the SANE mode."""
        self._set_source(settings.source)
        sane_mode = self._set_mode(settings.mode)
        dpi = self._set_resolution(settings.dpi)
        self._set_area(settings.page_mm, settings.source)
        for name, value in settings.backend_options.items():
            self._set(name, value)
        return dpi, sane_mode

    def _set_source(self, wanted: ScanSource) -> None:
        option = self._option("source")
        if option is None:
            if wanted is ScanSource.FLATBED:
                return
            raise ScanSettingsError(
                f"{self.device.label} has no document feeder: put the page on the glass",
                message_vi="Máy quét này không có khay nạp giấy. Đặt trang lên mặt kính.",
            )
        offered = {v: _source_kind(v) for v in option.constraint}
        exact = [v for v, k in offered.items() if k is wanted]
        duplex = self._duplex_switch() if wanted is ScanSource.ADF_DUPLEX else None
        if exact:
            self._set("source", exact[0])
        elif duplex is not None:
            self._set("source", next(v for v, k in offered.items() if k is ScanSource.ADF_SIMPLEX))
        else:
            raise ScanSettingsError(
                f"{self.device.label} cannot scan from {wanted.value} (it offers "
                f"{list(option.constraint)}): choose another source",
                message_vi=(
                    "Máy quét này không quét được hai mặt."
                    if wanted is ScanSource.ADF_DUPLEX
                    else "Máy quét này không có nguồn giấy đã chọn. Chọn nguồn khác."
                ),
            )
        if wanted is ScanSource.ADF_DUPLEX and duplex is not None and not exact:
            self._set(*duplex)
        elif wanted is ScanSource.ADF_SIMPLEX and self._option("duplex") is not None:
            self._set("duplex", False)

    def _set_mode(self, wanted: ColourMode) -> str:
        option = self._option("mode")
        if option is None:
            # Some devices (the `pnm` stand-in, simple sheet-feeders) have one fixed mode.
            if wanted is ColourMode.LINEART:
                raise ScanSettingsError(
                    f"{self.device.label} has no black-and-white mode: scan in colour or grey",
                    message_vi="Máy quét này không có chế độ đen trắng. Chọn màu hoặc xám.",
                )
            return "device default"
        offered = {v: _mode_kind(v) for v in option.constraint}
        exact = [v for v, k in offered.items() if k is wanted]
        depth = self._option("depth")
        if exact:
            self._set("mode", exact[0])
            if wanted is not ColourMode.LINEART and depth is not None and 8 in depth.constraint:
                self._set("depth", 8)  # a backend may keep a 1-bit depth from the last scan
            return str(exact[0])
        grey = [v for v, k in offered.items() if k is ColourMode.GREY]
        if wanted is ColourMode.LINEART and grey and depth is not None and 1 in depth.constraint:
            # Backends like `test` give black-and-white as 1-bit grey.
            self._set("mode", grey[0])
            self._set("depth", 1)
            return f"{grey[0]} 1-bit"
        raise ScanSettingsError(
            f"{self.device.label} cannot scan in {wanted.value} (it offers "
            f"{list(option.constraint)}): choose another mode",
            message_vi="Máy quét này không có chế độ màu đã chọn. Chọn chế độ khác.",
        )

    def _set_resolution(self, wanted: int) -> int:
        option = self._option("resolution")
        if option is None:
            raise ScanSettingsError(f"{self.device.label} has no resolution option")
        constraint = option.constraint
        if isinstance(constraint, list):
            candidates = sorted(float(v) for v in constraint)
            above = [v for v in candidates if v >= wanted]
            choice = above[0] if above else candidates[-1]
        elif isinstance(constraint, tuple):
            low, high, step = (float(v) for v in constraint)
            choice = min(max(float(wanted), low), high)
            if step > 0:
                choice = low + round((choice - low) / step) * step
        else:
            choice = float(wanted)
        if choice < MIN_DPI:
            raise ResolutionTooLowError(choice)
        if choice != wanted:
            log.info("scanner offers no %d dpi; using %g dpi", wanted, choice)
        self._set("resolution", choice)
        actual = float(self._get("resolution"))  # the backend may round it (SANE_INFO_INEXACT)
        if actual < MIN_DPI:
            raise ResolutionTooLowError(actual)
        return round(actual)

    def _set_area(self, page_mm: tuple[float, float], source: ScanSource) -> None:
        width, height = page_mm
        if source.is_feeder:
            # Sheet-fed backends (fujitsu, canon_dr, epjitsu…) also want the paper size.
            for name, value in (("page-width", width), ("page-height", height)):
                if self._option(name) is not None:
                    self._set(name, value)
        area = self._area_mm()
        if area is None:
            log.warning("%s does not report its scan area in mm; scanning its default area",
                        self.device.name)  # fmt: skip
            return
        if area[0] < width - AREA_TOLERANCE_MM or area[1] < height - AREA_TOLERANCE_MM:
            raise ScanSettingsError(
                f"{self.device.label} scans at most {area[0]:g}×{area[1]:g} mm, smaller than the "
                f"{width:g}×{height:g} mm page: the page would be cut off; use a larger scanner "
                "(for SANE's test backend, raise geometry_max in its test.conf)",
                message_vi="Vùng quét nhỏ hơn khổ giấy, trang sẽ bị cắt. Dùng máy quét khác.",
            )
        for name, value in (("tl-x", 0.0), ("tl-y", 0.0)):
            self._set(name, value)
        self._set("br-x", min(width, area[0]))
        self._set("br-y", min(height, area[1]))

    # -- scanning ----------------------------------------------------------------------------

    def _read_page(self, progress: Callable[[int, int], None] | None) -> tuple[Image.Image, int]:
        """Start and read one page (the next sheet, for a feeder), leaving the batch open.

        Returns the image and the number of lines the device announced for it.
        """

        def on_line(line: int, total: int) -> None:
            # Never let an exception out: python-sane 2.9 crashes on a failing progress callback
            # (it DECREFs the NULL result). Cancelling goes through sane_cancel instead.
            if progress is not None and (line % 64 == 0 or line == total):
                try:
                    progress(line, total)
                except Exception:
                    log.exception("scan progress callback failed")

        threads_before = _thread_count()
        self._reading.set()
        try:
            self._dev.start()
            expected = int(self._dev.get_parameters()[2][1])  # lines; -1 when unknown
            image: Image.Image = self._dev.snap(True, on_line)  # no_cancel: keep the feeder going
            if not _let_reader_finish(threads_before):
                self.reader_cut_off = True
        finally:
            self._reading.clear()
        return image, expected

    def scan_batch(
        self,
        settings: ScanSettings,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Generator[tuple[Image.Image, int, dict[str, str]], None, None]:
        """Scan pages, yielding each as soon as it is read.

        From the flatbed: one page. From the feeder: pages until it is empty (an empty feeder
        after at least one page is the normal end). Call from a worker thread.

        Args:
            settings: how to scan.
            progress: called with (lines read, lines in the page) while a page is read.

        Yields:
            Each page as (image, dpi, meta), meta with "device", "mode", "source" (and "side"
            in duplex).

        Raises:
            PaperJamError, CoverOpenError, ScannerDisconnectedError, ScanCancelledError, …:
                after the pages captured before the failure have been yielded;
                `e.pages_captured` counts them.
            FeederEmptyError: the feeder was empty from the start.
            ScanSettingsError: the device cannot scan as asked (nothing scanned).
        """
        self._cancelled.clear()
        with _LOCK:
            if self._closed:
                raise ScannerError(f"scanner {self.device.name} is closed: open it again")
            dpi, sane_mode = self._configure(settings)
        threads_before = _thread_count()
        index = 0
        try:
            while True:
                if self._cancelled.is_set():
                    raise ScanCancelledError(
                        f"scan cancelled after {index} pages", pages_captured=index
                    )
                with _LOCK:
                    try:
                        image, expected = self._read_page(progress)
                    except (_sane_error(), RuntimeError) as e:
                        error = _translate(e, doing="scanning", pages=index)
                        if isinstance(error, FeederEmptyError) and index > 0:
                            log.info("feeder empty after %d pages: batch done", index)
                            return
                        raise error from e
                # python-sane returns what it read when a backend ends the page early (as on
                # sane_cancel): a cut-off page must never pass for a whole one.
                if self._cancelled.is_set():
                    raise ScanCancelledError(
                        f"scan cancelled after {index} pages", pages_captured=index
                    )
                if image.height < expected:
                    raise ScannerError(
                        f"the scanner stopped after {image.height} of {expected} lines of page "
                        f"{index + 1}: check the paper path and scan that page again"
                        + (f" ({index} pages captured before it are kept)" if index else ""),
                        pages_captured=index,
                        message_vi="Trang quét bị thiếu do máy dừng giữa chừng. Quét lại trang đó.",
                    )
                yield self._page(image, settings, dpi, sane_mode, index)
                index += 1
                if not settings.source.is_feeder:
                    return
        finally:
            with _LOCK:
                if not self._closed:
                    if not self._cancelled.is_set() and not _let_reader_finish(threads_before):
                        self.reader_cut_off = True  # e.g. a jam: the page's rest is unread
                    self._dev.cancel()  # ends the batch on the device (feeder stops)

    def _page(
        self, image: Image.Image, settings: ScanSettings, dpi: int, sane_mode: str, index: int
    ) -> tuple[Image.Image, int, dict[str, str]]:
        if settings.mode is ColourMode.LINEART and image.mode != "1":
            # python-sane hands 1-bit scans over as 0/255 grey; keep them bilevel.
            image = image.convert("1", dither=Image.Dither.NONE)
        image.info["dpi"] = (dpi, dpi)
        meta = {
            "device": self.device.name,
            "model": f"{self.device.vendor} {self.device.model}".strip(),
            "source": settings.source.value,
            "mode": settings.mode.value,
            "sane_mode": sane_mode,
        }
        if settings.source is ScanSource.ADF_DUPLEX:
            meta["side"] = "front" if index % 2 == 0 else "back"
        return image, dpi, meta


def _thread_count() -> int:
    """Threads in this process now, as the kernel sees them (backends' reader threads too)."""
    return sum(1 for _ in Path("/proc/self/task").iterdir())


def _let_reader_finish(threads_before: int) -> bool:
    """Wait (briefly) for the backend's reader thread to end after a page was read in full.

    Backends built on sanei_thread (`test` among them, and many real ones) stop their reader
    with an asynchronous `pthread_cancel` in `sane_cancel`. Arriving while the reader is already
    ending (after the last line, or at once after an error status such as an empty feeder), it
    interrupts the reader's own unwinding and leaves the dynamic loader's lock held: the next
    thread exit, library load or process exit in any thread then waits for ever (seen under
    gdb: `_dl_fini` blocked on `_rtld_global`'s lock). Once the reader's thread is gone,
    cancelling is safe. A reader still blocked writing a page nobody reads (a jam mid-page)
    is cancelled after `READER_EXIT_WAIT_S` all the same; then False is returned, and the
    process should be replaced before its next scan.

    Returns:
        Whether the reader ended in time.
    """
    deadline = time.monotonic() + READER_EXIT_WAIT_S
    while _thread_count() > threads_before:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True
