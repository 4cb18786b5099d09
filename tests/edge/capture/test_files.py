"""Image files as pages: multi-page TIFF, orientation, and the files that must be refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from edge.capture import files
from edge.capture.files import load_page_array, load_page_image, load_page_images
from edge.capture.source import FileSource, PageSource, SourceKind
from edge.errors import CaptureError

ORIENTATION = 0x0112


def _page(number: int, size: tuple[int, int] = (300, 420), mode: str = "L") -> Image.Image:
    """A small portrait page with a dark block at its top left and its number drawn in."""
    page = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((10, 10, 60, 40), fill="black")
    draw.text((100, 200), f"page {number}", fill="black")
    return page


def _dark_corner(image: Image.Image) -> tuple[int, int]:
    """Which quarter (column, row) of the image holds the dark block."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    h, w = grey.shape
    quarters = {(c, r): grey[r * h // 2 : (r + 1) * h // 2, c * w // 2 : (c + 1) * w // 2].mean()
                for c in (0, 1) for r in (0, 1)}  # fmt: skip
    return min(quarters, key=quarters.__getitem__)


def _tiff(path: Path, pages: list[Image.Image], **options: Any) -> Path:
    pages[0].save(path, save_all=True, append_images=pages[1:], compression="tiff_lzw", **options)
    return path


def test_every_page_of_a_multipage_tiff_comes_in_order_with_its_dpi(tmp_path: Path) -> None:
    pages = [_page(1), _page(2, mode="RGB"), _page(3)]
    path = _tiff(tmp_path / "batch.tif", pages, dpi=(300, 300))

    loaded = load_page_images(path)

    assert [dpi for _, dpi in loaded] == [300, 300, 300]
    assert [image.mode for image, _ in loaded] == ["L", "RGB", "L"]
    for (image, _), original in zip(loaded, pages, strict=True):
        assert np.array_equal(np.asarray(image), np.asarray(original))
    # The single-page reader still gives the first page only.
    first, dpi = load_page_image(path)
    assert np.array_equal(np.asarray(first), np.asarray(pages[0])) and dpi == 300


def test_bilevel_and_16_bit_tiff_pages_are_handed_on_as_bilevel_and_8_bit_grey(
    tmp_path: Path,
) -> None:
    bilevel = _page(1).convert("1")
    deep = Image.fromarray(np.full((50, 40), 40000, dtype=np.uint16))
    path = _tiff(tmp_path / "mixed.tif", [bilevel, deep])

    (one, _), (two, _) = load_page_images(path)

    assert one.mode == "1"
    assert two.mode == "L" and np.asarray(two).max() == 40000 // 256


def test_tiff_orientation_tag_turns_every_page_upright(tmp_path: Path) -> None:
    # Stored sideways (orientation 6: rotate 90° clockwise to view), as some scanners write.
    sideways = [_page(n).transpose(Image.Transpose.ROTATE_90) for n in (1, 2)]
    path = _tiff(tmp_path / "sideways.tif", sideways, tiffinfo={ORIENTATION: 6})

    loaded = load_page_images(path)

    for image, _ in loaded:
        assert image.size == (300, 420)
        assert _dark_corner(image) == (0, 0)


def test_jpeg_exif_orientation_is_honoured_and_phone_dpi_replaced(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    _page(1).transpose(Image.Transpose.ROTATE_90).convert("RGB").save(
        tmp_path / "phone.jpg", exif=exif, dpi=(72, 72), quality=95
    )

    [(image, dpi)] = load_page_images(tmp_path / "phone.jpg")

    assert image.size == (300, 420) and _dark_corner(image) == (0, 0)
    assert dpi == files.DEFAULT_DPI  # 72 dpi is a phone's placeholder, not the page's


def test_a_bomb_on_any_page_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tiff(tmp_path / "bomb.tif", [_page(1, (60, 60)), _page(2, (300, 420))])
    # 3,600 pixels pass, 126,000 are far beyond twice the limit: Pillow's bomb error, page 2.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(CaptureError, match="too large to decode safely"):
        load_page_images(path)


def test_a_bomb_between_one_and_two_times_the_limit_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _tiff(tmp_path / "warn.tif", [_page(1, (100, 100))])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # 10,000 pixels: Pillow only warns
    with pytest.raises(CaptureError, match="too large"):
        load_page_images(path)


def test_many_pages_together_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tiff(tmp_path / "many.tif", [_page(n, (100, 100)) for n in range(4)])
    monkeypatch.setattr(files, "MAX_TOTAL_PIXELS", 25_000)
    with pytest.raises(CaptureError, match="too large together"):
        load_page_images(path)
    monkeypatch.setattr(files, "MAX_TOTAL_PIXELS", 10**9)
    monkeypatch.setattr(files, "MAX_PAGES", 3)
    with pytest.raises(CaptureError, match="more than 3 pages"):
        load_page_images(path)


def test_a_truncated_tiff_is_refused_naming_the_file(tmp_path: Path) -> None:
    whole = _tiff(tmp_path / "whole.tif", [_page(1), _page(2)]).read_bytes()
    for cut in (len(whole) // 2, len(whole) - 40, 60):
        path = tmp_path / f"cut{cut}.tif"
        path.write_bytes(whole[:cut])
        with pytest.raises(CaptureError, match=f"cut{cut}.tif"):
            load_page_images(path)


def test_garbage_missing_and_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.tif").write_bytes(b"II*\x00" + b"\xff" * 64)  # a TIFF header, no IFD
    (tmp_path / "text.png").write_text("not an image")
    for path, reason in (
        (tmp_path / "notes.tif", "cannot read|not a readable"),
        (tmp_path / "text.png", "not a readable image"),
        (tmp_path / "absent.tif", "no such file"),
        (tmp_path, "cannot read"),
    ):
        with pytest.raises(CaptureError, match=reason):
            load_page_images(path)


def test_file_source_yields_every_page_of_every_file_then_stops_at_a_bad_one(
    tmp_path: Path,
) -> None:
    _tiff(tmp_path / "a.tif", [_page(1), _page(2)], dpi=(400, 400))
    _page(3).save(tmp_path / "b.png", dpi=(300, 300))
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    source = FileSource([tmp_path / "a.tif", tmp_path / "b.png", tmp_path / "c.png"])
    assert isinstance(source, PageSource)

    got = []
    with pytest.raises(CaptureError, match=r"c\.png"):
        for page in source.pages():
            got.append(page)

    assert [(p.index, p.dpi, p.source) for p in got] == [
        (0, 400, SourceKind.FILE),
        (1, 400, SourceKind.FILE),
        (2, 300, SourceKind.FILE),
    ]
    assert [dict(p.meta) for p in got][1] == {"file": "a.tif", "page_in_file": "2"}
    with pytest.raises(TypeError):
        got[0].meta["file"] = "other"  # type: ignore[index]


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_an_array_page_is_the_image_page_in_opencv_order(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCV decodes complete JPEG and PNG pages itself: the same pixels, upright, BGR."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / f"trang{suffix}"
    _page(1).transpose(Image.Transpose.ROTATE_90).convert("RGB").save(
        path, exif=exif, dpi=(300, 300)
    )
    array, dpi = load_page_array(path)
    image, same_dpi = load_page_image(path)
    assert dpi == same_dpi == 300 and array.shape == (420, 300, 3)
    assert np.abs(array[..., ::-1].astype(int) - np.asarray(image).astype(int)).max() <= 1
    grey = tmp_path / f"xam{suffix}"
    _page(2).save(grey, dpi=(200, 200))

    def not_pillow(path: Path) -> None:
        raise AssertionError(f"{path} went through Pillow")

    monkeypatch.setattr(files, "load_page_image", not_pillow)
    assert load_page_array(grey)[0].shape == (420, 300)
    assert np.array_equal(load_page_array(path)[0], array)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_array_page_is_refused_naming_the_file(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    _page(1, (600, 840)).save(whole)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[:-200])
    with pytest.raises(CaptureError, match=f"cut{suffix}"):
        load_page_array(cut)


def test_arrays_and_pillow_images_convert_both_ways_with_the_same_pixels() -> None:
    rgb = np.random.default_rng(5).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    bgr = files.from_pil(Image.fromarray(rgb))
    assert np.array_equal(bgr, rgb[:, :, ::-1])
    back = files.to_pil(bgr)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), rgb)
    turned = np.rot90(bgr)  # a view in another memory order
    assert np.array_equal(np.asarray(files.to_pil(turned)), np.rot90(rgb))
    grey = files.to_pil(rgb[:, :, 0].copy())
    assert grey.mode == "L" and np.array_equal(np.asarray(grey), rgb[:, :, 0])
