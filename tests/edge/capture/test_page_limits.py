"""A page image over the pixel cap is refused from its header, before it is decoded (issue 14,
item 6): a 9400 x 9500 px page (89 Mpx, just under Pillow's own bomb limit) used to cost the
appliance about 1.1 GB on its way to a PDF."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from edge.capture.files import load_page_array, load_page_image, load_page_images
from edge.capture.limits import MAX_PAGE_PIXELS
from edge.errors import CaptureError

REPO = Path(__file__).resolve().parents[3]
WIDTH, HEIGHT = 9400, 9500


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _blank_png(path: Path, width: int, height: int, *, whole: bool = True) -> Path:
    """A white grey-scale PNG of `width` x `height` (tiny on disk: its rows compress to almost
    nothing); with `whole` False its pixel data is cut short after a few rows."""
    row = b"\x00" + b"\xff" * width  # filter type 0, white
    packer = zlib.compressobj(6)
    rows = height if whole else 4
    data = b"".join(packer.compress(row) for _ in range(rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + (_chunk(b"IEND", b"") if whole else b""))
    return path


def test_a_page_over_the_cap_is_refused_from_its_header(tmp_path: Path) -> None:
    assert (Image.MAX_IMAGE_PIXELS or 0) > WIDTH * HEIGHT  # Pillow alone lets it through
    # Its pixel data is cut short: had any loader started decoding, it would fail on that.
    path = _blank_png(tmp_path / "huge.png", WIDTH, HEIGHT, whole=False)
    for load in (load_page_array, load_page_image, load_page_images):
        with pytest.raises(CaptureError) as caught:
            load(path)
        message = str(caught.value)
        assert "huge.png" in message and "9400 x 9500" in message and "89 Mpx" in message
        assert "600 dpi" in message  # what to do


def test_the_cap_is_a_setting_and_a4_at_600_dpi_passes(tmp_path: Path) -> None:
    a4 = _blank_png(tmp_path / "a4.png", 4961, 7016)
    assert MAX_PAGE_PIXELS >= 4961 * 7016
    assert load_page_array(a4)[0].shape == (7016, 4961)
    with pytest.raises(CaptureError, match="over the 30 Mpx"):
        load_page_array(a4, max_pixels=30_000_000)


_MEASURE = """
import json, sys
from pathlib import Path
from edge.capture.files import load_page_array
from edge.errors import CaptureError
try:
    load_page_array(Path(sys.argv[1]), max_pixels=int(sys.argv[2]))
    outcome = "decoded"
except CaptureError:
    outcome = "refused"
# VmHWM: this program's peak resident memory (ru_maxrss would carry the parent's over exec).
status = Path("/proc/self/status").read_text().splitlines()
peak_kb = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
print(json.dumps({"outcome": outcome, "peak_kb": peak_kb}))
"""


def _measure(path: Path, max_pixels: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(max_pixels)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_refusing_from_the_header_costs_no_memory_decoding_costs_the_page(tmp_path: Path) -> None:
    path = _blank_png(tmp_path / "huge.png", WIDTH, HEIGHT)
    capped = _measure(path, MAX_PAGE_PIXELS)
    uncapped = _measure(path, 10**9)
    assert (capped["outcome"], uncapped["outcome"]) == ("refused", "decoded")
    peak_capped, peak_uncapped = int(str(capped["peak_kb"])), int(str(uncapped["peak_kb"]))
    # Decoded, the grey page alone is 89 MB; refused, nothing of it was allocated.
    assert peak_uncapped - peak_capped > 80_000, (peak_capped, peak_uncapped)
