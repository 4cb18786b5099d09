"""The SANE adapter against SANE's real `test` backend (and `pnm`, which scans a real page).

The `scanner` fixture points SANE_CONFIG_DIR at a private configuration enabling both. The
`test` backend's "read-return-value" option makes sane_read() return a chosen status: that is
how a jam, an open cover, an empty feeder or a lost device are produced here, for real.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.capture.scanner import (
    MIN_DPI,
    ColourMode,
    CoverOpenError,
    FeederEmptyError,
    PaperJamError,
    ResolutionTooLowError,
    ScanCancelledError,
    Scanner,
    ScannerAccessError,
    ScannerBusyError,
    ScannerDisconnectedError,
    ScannerError,
    ScannerNotFoundError,
    ScannerNotRespondingError,
    ScannerSource,
    ScanSettings,
    ScanSettingsError,
    ScanSource,
    list_devices,
    restart_sane,
    write_stand_in_config,
)
from edge.capture.source import PageSource, SourceKind
from edge.sample_document import render_sample_result
from tests.fixtures.scanner import SaneTestScanner

A4_300 = (2480, 3508)
ADF = ScanSettings(source=ScanSource.ADF_SIMPLEX, mode=ColourMode.GREY)
FEEDER_PAGES = 10  # the test backend's feeder holds ten sheets


@pytest.fixture
def device(scanner: SaneTestScanner) -> Iterator[Scanner]:
    """The `test:0` device, fresh: SANE restarted so no option or feeder count carries over."""
    restart_sane()
    with Scanner.open(scanner.device) as opened:
        yield opened


def _size_ok(size: tuple[int, int]) -> bool:
    # 297 mm at 300 dpi is 3507.87 lines: SANE's backends round the last line down.
    return size[0] == A4_300[0] and size[1] in (A4_300[1] - 1, A4_300[1])


def test_lists_the_software_scanners(scanner: SaneTestScanner) -> None:
    names = {d.name: d for d in list_devices()}
    assert {"test:0", "test:1", "pnm:0"} <= set(names)
    assert names["test:0"].model == "frontend-tester"
    assert "test:0" in names["test:0"].label


def test_capabilities_in_our_terms(device: Scanner) -> None:
    offered = device.capabilities()
    assert offered.sources == (ScanSource.FLATBED, ScanSource.ADF_SIMPLEX)  # no duplex
    # The test backend has Gray and Color; black-and-white comes as 1-bit grey.
    assert offered.modes == (ColourMode.COLOUR, ColourMode.GREY, ColourMode.LINEART)
    assert offered.dpi_range[0] <= MIN_DPI <= 300 <= offered.dpi_range[1]
    assert offered.area_mm is not None and offered.area_mm >= (210, 297)


@pytest.mark.parametrize(
    ("mode", "image_mode"),
    [(ColourMode.COLOUR, "RGB"), (ColourMode.GREY, "L"), (ColourMode.LINEART, "1")],
)
def test_flatbed_a4_at_300_dpi_in_each_mode(
    device: Scanner, mode: ColourMode, image_mode: str
) -> None:
    picture = "Color pattern" if mode is ColourMode.COLOUR else "Grid"
    page = device.scan_page(ScanSettings(mode=mode, backend_options={"test-picture": picture}))

    assert _size_ok(page.image.size)
    assert page.image.mode == image_mode
    assert page.dpi == 300 and page.image.info["dpi"] == (300, 300)
    assert page.source is SourceKind.SCANNER and page.index == 0
    assert page.meta["device"] == "test:0" and page.meta["mode"] == mode.value
    pixels = np.asarray(page.image.convert("RGB"), dtype=np.int16)
    if mode is ColourMode.COLOUR:  # a colour pattern: the channels really differ
        assert np.abs(pixels[..., 0] - pixels[..., 2]).mean() > 20
    else:  # a 10 mm black-and-white grid: both inks present, and one grid cell is ~118 px
        grey = pixels[..., 0]
        assert (grey < 64).mean() > 0.2 and (grey > 192).mean() > 0.2
        row = grey[1000] < 128
        edges = np.flatnonzero(row[1:] != row[:-1])
        assert np.median(np.diff(edges)) == pytest.approx(300 / 25.4 * 10, abs=2)
    if mode is ColourMode.LINEART:
        assert set(np.unique(np.asarray(page.image.convert("L")))) <= {0, 255}


def test_200_dpi_is_the_lowest_accepted(device: Scanner) -> None:
    page = device.scan_page(ScanSettings(mode=ColourMode.GREY, dpi=200))
    assert page.dpi == 200 and page.image.size[0] in (1653, 1654)  # 210 mm at 200 dpi


def test_150_dpi_is_refused_as_under_the_legal_minimum(device: Scanner) -> None:
    with pytest.raises(ResolutionTooLowError) as refused:
        ScanSettings(dpi=150)
    assert "legal minimum of 200 dpi" in str(refused.value)
    assert "200 dpi" in refused.value.message_vi
    assert isinstance(refused.value, ScannerError)
    # Nor can the resolution be slipped past the check as a device-specific option.
    with pytest.raises(ScanSettingsError, match="resolution"):
        ScanSettings(backend_options={"resolution": 150})
    with pytest.raises(ScanSettingsError, match="resolution"):
        device.set_backend_option("resolution", 150)


def test_feeder_batch_gives_ten_pages_then_ends_normally_on_the_empty_feeder(
    device: Scanner,
) -> None:
    lines: list[tuple[int, int]] = []
    pages = list(device.scan_batch(ADF, progress=lambda done, total: lines.append((done, total))))

    assert [p.index for p in pages] == list(range(FEEDER_PAGES))
    assert all(_size_ok(p.image.size) and p.meta["source"] == "adf" for p in pages)
    assert all(p.image.mode == "L" and p.dpi == 300 for p in pages)
    assert lines[-1][0] == lines[-1][1] > 3000  # progress reached the page's last line


def test_an_empty_feeder_from_the_start_is_an_error(device: Scanner) -> None:
    settings = ScanSettings(
        source=ScanSource.ADF_SIMPLEX, backend_options={"read-return-value": "SANE_STATUS_NO_DOCS"}
    )
    result = device.scan_all(settings)
    assert result.pages == ()
    assert isinstance(result.error, FeederEmptyError)


@pytest.mark.parametrize(
    ("status", "error", "words_vi"),
    [
        ("SANE_STATUS_JAMMED", PaperJamError, "Kẹt giấy"),
        ("SANE_STATUS_COVER_OPEN", CoverOpenError, "Nắp máy quét đang mở"),
        ("SANE_STATUS_IO_ERROR", ScannerDisconnectedError, "Mất kết nối"),  # unplugged
    ],
)
def test_a_fault_mid_batch_keeps_the_pages_before_it(
    device: Scanner, status: str, error: type[ScannerError], words_vi: str
) -> None:
    kept = []
    with pytest.raises(error) as fault:
        for page in device.scan_batch(ADF):
            kept.append(page)
            if len(kept) == 3:  # the fourth sheet jams / the cover opens / the cable goes
                device.set_backend_option("read-return-value", status)

    assert [p.index for p in kept] == [0, 1, 2]
    assert fault.value.pages_captured == 3
    assert "3 pages captured before it are kept" in str(fault.value)
    assert words_vi in fault.value.message_vi
    assert "Đã giữ lại 3 trang" in fault.value.message_vi


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("SANE_STATUS_DEVICE_BUSY", ScannerBusyError),
        ("SANE_STATUS_ACCESS_DENIED", ScannerAccessError),
        ("SANE_STATUS_CANCELLED", ScanCancelledError),  # cancelled on the device's panel
        ("SANE_STATUS_EOF", ScannerError),  # a page that ends before it starts
        ("SANE_STATUS_NO_MEM", ScannerError),
    ],
)
def test_other_device_statuses_are_our_errors(
    device: Scanner, status: str, error: type[ScannerError]
) -> None:
    device.set_backend_option("read-return-value", status)
    with pytest.raises(error) as failed:
        device.scan_page(ScanSettings(mode=ColourMode.GREY))
    assert failed.value.message_vi and str(failed.value)


def test_scan_all_returns_the_pages_and_the_error(device: Scanner) -> None:
    batch = device.scan_batch(ADF)
    pages = [next(batch), next(batch)]
    device.set_backend_option("read-return-value", "SANE_STATUS_JAMMED")
    with pytest.raises(PaperJamError):
        next(batch)
    assert [p.index for p in pages] == [0, 1]

    # Scanning on after clearing the jam: the feeder's remaining sheets, in one result.
    device.set_backend_option("read-return-value", "Default")
    result = device.scan_all(ADF)
    assert result.error is None and 0 < len(result.pages) <= FEEDER_PAGES
    device.set_backend_option("read-return-value", "SANE_STATUS_COVER_OPEN")
    result = device.scan_all(ADF)
    assert result.pages == () and isinstance(result.error, CoverOpenError)


def test_duplex_is_refused_on_a_device_without_it(device: Scanner) -> None:
    with pytest.raises(ScanSettingsError, match="cannot scan from adf-duplex") as refused:
        device.scan_page(ScanSettings(source=ScanSource.ADF_DUPLEX))
    assert "hai mặt" in refused.value.message_vi


def test_a_scan_can_be_cancelled_from_another_thread(device: Scanner) -> None:
    # The test backend hands out 4 KiB every 50 ms when asked: a page then takes a minute.
    slow = ScanSettings(
        mode=ColourMode.GREY,
        backend_options={
            "read-limit": True,
            "read-limit-size": 4096,
            "read-delay": True,
            "read-delay-duration": 50_000,
        },
    )
    outcome: list[BaseException] = []

    def scan() -> None:
        try:
            device.scan_page(slow)
        except ScannerError as e:
            outcome.append(e)

    worker = threading.Thread(target=scan)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    device.cancel()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], ScanCancelledError)


def test_one_scanner_at_a_time(scanner: SaneTestScanner) -> None:
    with Scanner.open("test:0"):
        with pytest.raises(ScannerBusyError, match="already open"):
            Scanner.open("test:1")
        with pytest.raises(ScannerBusyError):
            restart_sane()
    with Scanner.open("test:1") as second:
        assert second.device.name == "test:1"


def test_an_unknown_device_is_not_found(scanner: SaneTestScanner) -> None:
    with pytest.raises(ScannerNotFoundError, match="pick one of") as missing:
        Scanner.open("fujitsu:nowhere")
    assert "Không tìm thấy máy quét" in missing.value.message_vi


def test_a_real_page_goes_through_sane_unchanged(scanner: SaneTestScanner, tmp_path: Path) -> None:
    document = render_sample_result(2)
    document.image.save(tmp_path / "page.pgm")
    with Scanner.open("pnm:0") as pnm:
        page = pnm.scan_page(
            ScanSettings(
                mode=ColourMode.GREY, backend_options={"filename": str(tmp_path / "page.pgm")}
            )
        )
    assert page.dpi == 300 and page.image.size == A4_300
    assert np.array_equal(np.asarray(page.image), np.asarray(document.image))


def test_scanner_source_is_a_page_source(scanner: SaneTestScanner) -> None:
    restart_sane()
    source = ScannerSource("test:0", ADF)
    assert isinstance(source, PageSource)
    try:
        assert len(list(source.pages())) == FEEDER_PAGES
    finally:
        source.close()
    with Scanner.open("test:0"):  # closed: the device is free again
        pass


def test_stand_in_config_enables_the_backends_and_a4(tmp_path: Path) -> None:
    written = write_stand_in_config(tmp_path / "sane")
    assert (written / "dll.conf").read_text().split() == ["test", "pnm"]
    assert "geometry_max 300.0" in (written / "test.conf").read_text()


def test_a_device_smaller_than_the_page_is_refused_not_cropped(tmp_path: Path) -> None:
    # SANE reads its configuration once per process: a child process gets Debian's stock 200 mm.
    config = write_stand_in_config(tmp_path / "sane", geometry_max_mm=200.0)
    program = (
        "from edge.capture.scanner import *\n"
        "with Scanner.open('test:0') as s:\n"
        "    try:\n"
        "        s.scan_page()\n"
        "    except ScanSettingsError as e:\n"
        "        print('refused:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "SANE_CONFIG_DIR": str(config)},
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "200×200 mm" in done.stdout


def test_the_kiosk_process_never_loads_sane(device: Scanner) -> None:
    page = device.scan_page(ScanSettings(mode=ColourMode.GREY))
    assert page.dpi == 300
    # SANE runs in the scanner process: a driver that deadlocks cannot freeze this one.
    assert "libsane" not in Path("/proc/self/maps").read_text()


def test_a_scanner_that_stops_answering_is_cut_off_and_the_next_scan_works(
    scanner: SaneTestScanner,
) -> None:
    restart_sane()
    # Slow reads of long lines (600 dpi colour: 64 lines are almost 1 MB, about 3 s here): no
    # sign of progress within the second the scanner is given.
    stuck = ScanSettings(
        mode=ColourMode.COLOUR,
        dpi=600,
        backend_options={
            "read-limit": True,
            "read-limit-size": 1,
            "read-delay": True,
            "read-delay-duration": 200_000,
        },
    )
    with Scanner.open(scanner.device, answer_within=1.0) as hung:
        started = time.monotonic()
        with pytest.raises(ScannerNotRespondingError, match="did not answer for 1 s") as cut:
            hung.scan_page(stuck)
        assert time.monotonic() - started < 10
        assert "Máy quét không phản hồi" in cut.value.message_vi
        with pytest.raises(ScannerDisconnectedError, match="open it again"):
            hung.capabilities()
    with Scanner.open(scanner.device) as again:
        page = again.scan_page(ScanSettings(mode=ColourMode.GREY))
    assert _size_ok(page.image.size)


def test_after_a_cut_off_read_the_scanner_process_is_replaced_with_the_same_options(
    device: Scanner, caplog: pytest.LogCaptureFixture
) -> None:
    # An error status mid-page leaves the backend's reader thread to be cancelled, which can
    # deadlock the process that runs SANE: the next scan gets a fresh process, transparently.
    device.set_backend_option("read-return-value", "SANE_STATUS_NO_DOCS")
    for _ in range(5):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="edge.capture.scanner"):
            first = device.scan_all(ADF)
            second = device.scan_all(ADF)  # the option holds in the new process too
        assert isinstance(first.error, FeederEmptyError)
        assert isinstance(second.error, FeederEmptyError)
        assert "renewing the scanner process" in caplog.text
    device.set_backend_option("read-return-value", "Default")
    assert _size_ok(device.scan_page(ScanSettings(mode=ColourMode.GREY)).image.size)
