"""The pipeline's stages: the capture (a black-and-white scan archived black and white), reading
a page the capture left unsure upright, and the stage images `--keep-stages` writes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.ocr import OcrEngine, OcrPage, OcrPool
from edge.pdf.assemble import EncodedImage, encode_image
from edge.pdf.pdfa_check import check_pdfa
from edge.pipeline.run import process_document
from edge.pipeline.stages import (
    STAGE_IMAGES,
    UPRIGHT_CONFIDENCE,
    PageImages,
    capture_page,
    read_and_encode,
    read_upright,
)
from edge.sample_document import FONT_DIR, FONT_FILES, render_sample_result


def _few_lines() -> Image.Image:
    """A page of six lines: too few for the ink vote, so the capture cannot tell upright from
    upside down without OSD."""
    page = Image.new("L", (2480, 3508), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=54)
    lines = ("Ủy ban nhân dân xã Vạn Thắng", "Quyết định có hiệu lực kể từ ngày ký", "Nơi nhận")
    for row, text in enumerate(lines + lines):
        draw.text((300, 400 + 120 * row + (2200 if row >= 3 else 0)), text, fill=0, font=font)
    return page


@pytest.mark.parametrize("turn", [0, 180])
def test_a_page_the_capture_left_unsure_is_read_upright(
    pool: OcrPool, turn: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upright, it is read once (no OSD, no second reading); upside down, it reads badly, is
    turned and read again, and the PDF gets the turned image."""
    captured = capture_page(_few_lines().rotate(turn), 300)
    assert captured.other_turns == (180,)
    with OcrEngine() as engine:
        reads: list[int] = []
        recognize = engine.recognize

        def counted(image: Image.Image, dpi: int, **kwargs: Image.Image | None) -> OcrPage:
            reads.append(dpi)
            return recognize(image, dpi, **kwargs)

        monkeypatch.setattr(engine, "recognize", counted)
        page, turned = read_upright(engine, captured)
    assert "Vạn Thắng" in page.text and page.mean_confidence >= UPRIGHT_CONFIDENCE
    assert len(reads) == (1 if turn == 0 else 2)
    assert (turned is None) == (turn == 0)
    upright = turned or captured
    encoded: list[Image.Image] = []
    encode = encode_image

    def recorded(image: Image.Image, **kwargs: bool | None) -> EncodedImage:
        encoded.append(image)
        return encode(image, **kwargs)

    monkeypatch.setattr("edge.pipeline.stages.encode_image", recorded)
    done = process_document([captured], pool)
    assert "Vạn Thắng" in done.pages[0].text
    assert np.array_equal(np.asarray(encoded[-1]), np.asarray(upright.archive))


@pytest.mark.parametrize("photograph", [True, False])
def test_a_photographed_page_that_reads_as_nothing_is_tried_sideways(
    engine: OcrEngine, photograph: bool
) -> None:
    """Lines running down the image read as nothing at all. A photograph's capture may have
    misjudged which way its lines run (a page not found: the ink vote sees the background too),
    so it is read turned a quarter either way; a scan that reads as nothing is a blank page and
    is not read again."""
    sideways = _few_lines().rotate(90, expand=True)
    page = dataclasses.replace(
        PageImages.upright(sideways, 300), photograph=photograph, other_turns=(180,)
    )
    read, turned = read_upright(engine, page)
    if photograph:
        assert "Vạn Thắng" in read.text and turned is not None
    else:
        assert not read.words and turned is None


def test_a_black_and_white_scan_is_archived_black_and_white(pool: OcrPool) -> None:
    """Deskew greys a bilevel scan's edges; the archive goes back to bilevel (1 bit a pixel in
    the PDF/A), the OCR keeps the grey, and a grey scan stays grey."""
    grey = render_sample_result(0).image.convert("L").rotate(1.5, fillcolor=255)
    bilevel = grey.convert("1", dither=Image.Dither.NONE)
    captured = capture_page(bilevel, 300)
    assert captured.archive.mode == "1" and captured.ocr.mode == "L"
    assert captured.archive.size == captured.ocr.size
    assert capture_page(grey, 300).archive.mode == "L"
    done = process_document([captured], pool)
    assert "Độc lập - Tự do - Hạnh phúc" in done.pages[0].text
    assert b"/BitsPerComponent 1" in done.pdf and check_pdfa(done.pdf) == []


def _stage_images(folder: Path) -> dict[str, Image.Image]:
    """The stage images in `folder` by stage name, each checked to be a PNG named NN-<stage>
    with NN the stage's place in `STAGE_IMAGES`."""
    found: dict[str, Image.Image] = {}
    for path in sorted(folder.iterdir()):
        named = re.fullmatch(r"(\d\d)-([a-z]+)\.png", path.name)
        assert named is not None, path.name
        assert STAGE_IMAGES.index(named[2]) + 1 == int(named[1]), path.name
        with Image.open(path) as image:
            assert image.format == "PNG"
            image.load()
            found[named[2]] = image
    return found


def test_the_capture_keeps_the_image_of_every_stage_that_changed_the_page(tmp_path: Path) -> None:
    grey = render_sample_result(0).image.convert("L").rotate(1.5, fillcolor=255)
    bilevel = grey.convert("1", dither=Image.Dither.NONE)
    captured = capture_page(bilevel, 300, keep_in=tmp_path / "trang")
    kept = _stage_images(tmp_path / "trang")
    # A scan: found whole (no rectify), upright (no orient), straightened (deskew); the
    # capture's hand-over kept as it goes on.
    assert set(kept) == {"detect", "destreak", "deskew", "archive", "ocr"}
    assert kept["detect"].mode == "RGB" and kept["detect"].size == bilevel.size  # outline drawn
    assert kept["archive"].mode == "1" and kept["ocr"].mode == "L"
    assert np.array_equal(np.asarray(kept["archive"]), np.asarray(captured.archive))
    assert np.array_equal(np.asarray(kept["ocr"]), np.asarray(captured.ocr))
    assert captured.keep_in == tmp_path / "trang"
    assert capture_page(bilevel, 300).keep_in is None


def test_a_page_turned_after_reading_keeps_its_upright_image(
    engine: OcrEngine, tmp_path: Path
) -> None:
    captured = capture_page(_few_lines().rotate(180), 300, keep_in=tmp_path)
    assert "upright" not in _stage_images(tmp_path)
    read = read_and_encode(engine, captured)
    assert "Vạn Thắng" in read.ocr.text
    upright = _stage_images(tmp_path)["upright"]
    assert upright.mode == captured.archive.mode and upright.size == captured.archive.size
    assert np.array_equal(np.asarray(upright), np.asarray(captured.archive.rotate(180)))
