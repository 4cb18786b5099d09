"""Document scanners through SANE (python-sane): flatbed pages and document-feeder batches.

This is the only module that imports `sane`. It turns SANE's option names, status strings and
errors into ours: `ScanSettings` in, `CapturedPage`s out, `ScannerError`s (each with a message a
person can act on, in English and in Vietnamese for the kiosk) when something goes wrong.

Rules of this module:
- Never under 200 dpi: a scanned result must be at least 200 dpi (Nghị định 30/2020 Phụ lục I,
  DOMAIN.md). Settings asking for less are refused, and so is a device that can only give less.
- A4 is the default page; a device whose scan area is smaller than the page is refused rather
  than silently cutting the page off.
- SANE is not thread-safe: every SANE call in the process goes through one lock, and one device
  is open at a time (`ScannerBusyError` otherwise). Scanning blocks (python-sane releases the
  GIL while it reads): call it from a worker thread. `Scanner.cancel()` may be called from any
  thread (SANE allows `sane_cancel` asynchronously).
- A batch keeps what it captured: `Scanner.scan_batch` yields each page as soon as it is read,
  and a jam, open cover or lost device is raised *after* the pages before it; an empty feeder
  after at least one page is the normal end of a batch.
- SANE reads SANE_CONFIG_DIR once per process, at its first use: set it before any call here.
  `write_stand_in_config()` writes the configuration that enables SANE's software `test` and
  `pnm` backends (stand-ins where no scanner is attached).
"""

from __future__ import annotations

import ctypes
import logging
import re
import signal
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from PIL import Image

from edge.capture.source import CapturedPage, SourceKind
from edge.errors import CaptureError
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

MIN_DPI = 200
"""The legal minimum resolution of a scanned result (Nghị định 30/2020 Phụ lục I)."""
DEFAULT_DPI = 300
A4_MM = (210.0, 297.0)
AREA_TOLERANCE_MM = 1.5
"""Scan areas this much smaller than the page still hold it (A4 flatbeds report 296.9 mm)."""

STOCK_SANE_DIR = Path("/etc/sane.d")

MANAGED_OPTIONS = frozenset(
    {"source", "mode", "depth", "resolution", "x-resolution", "y-resolution", "tl-x", "tl-y",
     "br-x", "br-y", "page-width", "page-height", "adf-mode", "duplex"}
)  # fmt: skip
"""SANE options this adapter sets itself; `ScanSettings.backend_options` may not touch them."""


# --------------------------------------------------------------------------------------------
# Settings


class ScanSource(Enum):
    """Where the paper is: on the glass, or in the document feeder (one or both sides)."""

    FLATBED = "flatbed"
    ADF_SIMPLEX = "adf"
    ADF_DUPLEX = "adf-duplex"

    @property
    def is_feeder(self) -> bool:
        """Whether pages come from the document feeder (a batch) rather than the glass."""
        return self is not ScanSource.FLATBED


class ColourMode(Enum):
    """Colour, grey or black-and-white (line art). The archive keeps colour or grey."""

    COLOUR = "colour"
    GREY = "grey"
    LINEART = "lineart"


@dataclass(frozen=True)
class ScanSettings:
    """How to scan: checked when made, so a too-low resolution never reaches the device.

    Attributes:
        source: flatbed, feeder one side, feeder both sides.
        mode: colour, grey or black-and-white.
        dpi: resolution; 300 by default, never under `MIN_DPI`.
        page_mm: (width, height) of the page in millimetres; A4 by default.
        backend_options: device-specific SANE options set last, by SANE name (e.g. a backend's
            "swdeskew"); the tests use the `test` backend's "read-return-value" here.

    Raises:
        ResolutionTooLowError: dpi under `MIN_DPI`.
        ScanSettingsError: a non-positive page size.
    """

    source: ScanSource = ScanSource.FLATBED
    mode: ColourMode = ColourMode.COLOUR
    dpi: int = DEFAULT_DPI
    page_mm: tuple[float, float] = A4_MM
    backend_options: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dpi < MIN_DPI:
            raise ResolutionTooLowError(self.dpi)
        managed = sorted(set(self.backend_options) & MANAGED_OPTIONS)
        if managed:
            raise ScanSettingsError(
                f"backend options {managed} are set from source, mode, dpi and page_mm: set "
                "those instead (so that the 200 dpi minimum and the page size always hold)"
            )
        if min(self.page_mm) <= 0:
            raise ScanSettingsError(
                f"page size {self.page_mm} mm is not a page: give width and height in mm",
                message_vi="Khổ giấy không hợp lệ. Chọn khổ A4.",
            )


# --------------------------------------------------------------------------------------------
# Errors


class ScannerError(CaptureError):
    """The scanner could not scan. `str(e)` is English; `message_vi` is for the kiosk.

    Attributes:
        pages_captured: pages of the current batch read (and handed on) before the failure.
    """

    advice_vi: ClassVar[str] = "Máy quét gặp lỗi. Kiểm tra máy quét rồi thử lại."

    def __init__(
        self, message: str, *, pages_captured: int = 0, message_vi: str | None = None
    ) -> None:
        super().__init__(message)
        self.pages_captured = pages_captured
        self._message_vi = message_vi

    @property
    def message_vi(self) -> str:
        """What happened and what to do, in Vietnamese, with the pages kept if any."""
        text = self._message_vi or self.advice_vi
        if self.pages_captured:
            text += f" Đã giữ lại {self.pages_captured} trang đã quét."
        return text


class ScannerNotFoundError(ScannerError):
    """No such device, or no scanner at all."""

    advice_vi = "Không tìm thấy máy quét. Kiểm tra máy quét đã bật và đã cắm cáp USB, rồi thử lại."


class ScannerBusyError(ScannerError):
    """The scanner (or SANE in this process) is in use by another scan."""

    advice_vi = "Máy quét đang bận. Chờ lượt quét hiện tại xong rồi thử lại."


class ScannerAccessError(ScannerError):
    """The operating system refused access to the device."""

    advice_vi = "Không có quyền dùng máy quét. Báo quản trị viên cấp quyền truy cập thiết bị."


class ScanSettingsError(ScannerError):
    """The device cannot scan as asked (no feeder, no duplex, area too small…)."""

    advice_vi = "Máy quét không hỗ trợ thiết lập này. Chọn thiết lập khác."


class ResolutionTooLowError(ScanSettingsError):
    """A resolution under the legal minimum of 200 dpi was asked for or is all the device has."""

    advice_vi = "Độ phân giải tối thiểu theo quy định là 200 dpi. Chọn 300 dpi rồi quét lại."

    def __init__(self, dpi: float) -> None:
        super().__init__(
            f"{dpi:g} dpi is under the legal minimum of {MIN_DPI} dpi for a scanned result "
            f"(Nghị định 30/2020): scan at {DEFAULT_DPI} dpi"
        )
        self.dpi = dpi


class PaperJamError(ScannerError):
    """Paper jammed in the document feeder."""

    advice_vi = (
        "Kẹt giấy ở khay nạp. Mở nắp khay nạp, gỡ tờ giấy bị kẹt, đặt lại các trang chưa quét "
        "rồi quét tiếp."
    )


class CoverOpenError(ScannerError):
    """The scanner's cover (or the feeder's hatch) is open."""

    advice_vi = "Nắp máy quét đang mở. Đóng nắp lại rồi quét tiếp."


class FeederEmptyError(ScannerError):
    """The document feeder has no paper (raised only when a batch got no page at all)."""

    advice_vi = "Khay nạp giấy trống. Đặt tài liệu vào khay nạp rồi quét lại."


class ScannerDisconnectedError(ScannerError):
    """The device stopped answering (unplugged, powered off, a USB error)."""

    advice_vi = (
        "Mất kết nối với máy quét. Kiểm tra cáp USB và nguồn điện, rồi quét lại các trang còn lại."
    )


class ScanCancelledError(ScannerError):
    """The scan was cancelled (by `Scanner.cancel()` or on the device's panel)."""

    advice_vi = "Đã hủy lượt quét."


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


def _ignore_sigpipe_again() -> None:
    """Put SIGPIPE back to "ignored" for the whole process.

    SANE's reader threads (sanei_thread) leave SIGPIPE at its default action after a scan.
    Python runs with it ignored and expects EPIPE from a write to a closed socket instead: with
    the default action, the next write to a connection the peer dropped (the MQTT broker
    refusing an over-size message, a client gone) kills the whole process without a word —
    the test suite died that way after the scanner tests. Python's own `signal.signal` works
    only on the main thread and scans run on worker threads, so libc is asked directly.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.signal(signal.SIGPIPE, ctypes.c_void_p(1))  # SIG_IGN


def _sane_error() -> type[BaseException]:
    error: type[BaseException] = _sane()._sane.error
    return error


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


@dataclass(frozen=True)
class ScannerDevice:
    """A scanner SANE can see.

    Attributes:
        name: SANE device name to open (e.g. "test:0", "fujitsu:fi-7160:1234").
        vendor, model, kind: as the backend reports them ("flatbed scanner", "virtual device").
    """

    name: str
    vendor: str
    model: str
    kind: str

    @property
    def label(self) -> str:
        """A one-line name for a device picker."""
        return f"{self.vendor} {self.model} ({self.name})"


def restart_sane() -> None:
    """Stop SANE and start it again with the same configuration.

    Backends forget their state and probe for devices afresh: use it after a scanner was
    unplugged and plugged back in (and in tests, for a fresh `test` backend).

    Raises:
        ScannerBusyError: a scanner is open; close it first.
    """
    with _LOCK:
        if _state["open"] is not None:
            raise ScannerBusyError(f"scanner {_state['open']} is open: close it before restarting")
        if _state["module"] is not None:
            _state["module"].exit()
            _state["module"].init()
            log.info("SANE restarted")


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


@dataclass(frozen=True)
class ScannerCapabilities:
    """What an open device offers, in our terms.

    Attributes:
        sources: the `ScanSource`s it can do.
        modes: the `ColourMode`s it can do.
        dpi_range: the lowest and highest resolution it offers.
        area_mm: the largest scan area (width, height) in mm, or None when it does not say.
    """

    sources: tuple[ScanSource, ...]
    modes: tuple[ColourMode, ...]
    dpi_range: tuple[float, float]
    area_mm: tuple[float, float] | None


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


class Scanner(Closeable):
    """One open SANE device: the adapter the rest of Sohoa scans through.

    Open it with `Scanner.open(name)`; only one can be open in a process at a time. Use it as a
    context manager, or call `close()`.
    """

    def __init__(self, device: ScannerDevice, handle: Any) -> None:
        """Use `Scanner.open`; this wraps an already-open python-sane device."""
        self.device = device
        self._dev = handle
        self._cancelled = threading.Event()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, name: str | None = None) -> Scanner:
        """Open a device by SANE name, or the first one SANE finds.

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
                _ignore_sigpipe_again()
            log.info("scanner %s closed", self.device.name)

    def cancel(self) -> None:
        """Stop the scan in progress (from any thread): the current page is abandoned and the
        batch ends with `ScanCancelledError`."""
        self._cancelled.set()
        if not self._closed:
            self._dev.cancel()  # sane_cancel is allowed asynchronously (SANE standard 4.3.12)
            _ignore_sigpipe_again()

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

        try:
            self._dev.start()
            expected = int(self._dev.get_parameters()[2][1])  # lines; -1 when unknown
            image: Image.Image = self._dev.snap(True, on_line)  # no_cancel: keep the feeder going
        finally:
            _ignore_sigpipe_again()
        return image, expected

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
            FeederEmptyError: the feeder was empty from the start.
            ScanSettingsError: the device cannot scan as asked (nothing scanned).
        """
        self._cancelled.clear()
        with _LOCK:
            if self._closed:
                raise ScannerError(f"scanner {self.device.name} is closed: open it again")
            dpi, sane_mode = self._configure(settings)
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
                    self._dev.cancel()  # ends the batch on the device (feeder stops)
                    _ignore_sigpipe_again()

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

    def _page(
        self, image: Image.Image, settings: ScanSettings, dpi: int, sane_mode: str, index: int
    ) -> CapturedPage:
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
        return CapturedPage(image, dpi, SourceKind.SCANNER, index, meta)


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
