"""What a scan is asked for and what can go wrong: settings, devices, capabilities, errors.

Shared by the kiosk's side (`edge.capture.scanner`) and the scanner process
(`edge.capture.scanner_process`, which alone loads SANE): everything here is plain data that
crosses the pipe between them, so no SANE and no image library is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from edge.errors import CaptureError

MIN_DPI = 200
"""The legal minimum resolution of a scanned result (Nghị định 30/2020 Phụ lục I)."""
DEFAULT_DPI = 300
A4_MM = (210.0, 297.0)
AREA_TOLERANCE_MM = 1.5
"""Scan areas this much smaller than the page still hold it (A4 flatbeds report 296.9 mm)."""

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

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross the pipe from the scanner process pickled; the default pickling would
        # call `type(self)(*args)` and lose `pages_captured` and the Vietnamese message.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(kind: type[ScannerError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


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


class ScannerNotRespondingError(ScannerDisconnectedError):
    """The scanner (or its driver) stopped answering mid-operation and was cut off.

    The scanner process was stopped so that the kiosk never freezes with it; the next scan
    starts a fresh one.
    """

    advice_vi = "Máy quét không phản hồi. Tắt máy quét, bật lại, chờ đèn sẵn sàng rồi quét lại."


class ScanCancelledError(ScannerError):
    """The scan was cancelled (by `Scanner.cancel()` or on the device's panel)."""

    advice_vi = "Đã hủy lượt quét."


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
