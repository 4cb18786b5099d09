"""The pipeline with the OCR pool: documents in flight in parallel, outcomes in order, a bad
file reported without stopping the batch, PDF/As out, and `sohoa edge process --workers`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from edge.cli import app
from edge.ocr import OcrEngine, OcrPage, OcrPool
from edge.pdf.assemble import EncodedImage, encode_image
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import Provenance
from edge.pipeline import (
    UPRIGHT_CONFIDENCE,
    PageImages,
    capture_page,
    plan_documents,
    process_batch,
    process_document,
    read_upright,
)
from edge.sample_document import FONT_DIR, FONT_FILES, render_sample_result

runner = CliRunner()


@pytest.fixture(scope="module")
def pool() -> Iterator[OcrPool]:
    with OcrPool(2) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def strips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small page images (header strips of different samples) and one broken file."""
    folder = tmp_path_factory.mktemp("strips")
    paths = []
    for seed in (0, 1, 2):
        path = folder / f"trang-{seed}.png"
        render_sample_result(seed).image.crop((0, 0, 2480, 700)).save(path, dpi=(300, 300))
        paths.append(path)
    broken = folder / "hong.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    return [paths[0], broken, paths[1], paths[2]]


def test_a_pool_gives_the_same_document_as_one_engine(pool: OcrPool) -> None:
    image = render_sample_result(4).image.crop((0, 0, 2480, 700))
    pages = [PageImages.upright(image, 300), PageImages.upright(image.rotate(0), 300)]
    with OcrEngine() as engine:
        alone = process_document(pages, engine)
    ticks: list[int] = []
    pooled = process_document(
        pages, pool, on_page=lambda: ticks.append(1), provenance=Provenance("UBND xã Vạn Thắng")
    )
    assert pooled.pages == alone.pages and pooled.fields == alone.fields
    assert len(ticks) == 2
    assert check_pdfa(pooled.pdf) == []
    assert "UBND xã Vạn Thắng".encode() in pooled.pdf  # the conversion mark names the unit


def test_a_batch_keeps_its_order_and_survives_a_bad_file(
    pool: OcrPool, strips: list[Path], tmp_path: Path
) -> None:
    planned, refused = plan_documents(strips, None)
    assert refused == []
    ticks: list[int] = []
    done = list(process_batch(planned, pool, tmp_path, on_page=lambda: ticks.append(1)))
    assert [doc.name for doc, _ in done] == [path.stem for path in strips]
    assert len(ticks) == len(strips)
    for doc, outcome in done:
        if doc.name == "hong":
            assert outcome.pdf_path is None and "not a readable image" in outcome.failures[0]
            continue
        assert outcome.failures == [] and outcome.pdf_path is not None
        assert check_pdfa(outcome.pdf_path.read_bytes()) == []
        assert (tmp_path / f"{doc.name}.txt").read_text(encoding="utf-8").startswith("ỦY BAN")


@pytest.mark.slow
def test_the_command_takes_a_number_of_workers(strips: list[Path], tmp_path: Path) -> None:
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        result = runner.invoke(
            app, ["process", *map(str, strips), "--out", str(out), "--workers", workers]
        )
        assert result.exit_code == 1  # the broken file
        assert "hong.png: not a readable image" in result.stderr
        outputs[workers] = {
            p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.txt"))
        } | {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.fields.json"))}
        assert sorted(p.name for p in out.glob("*.pdf")) == [
            "trang-0.pdf",
            "trang-1.pdf",
            "trang-2.pdf",
        ]
    assert outputs["1"] == outputs["2"]  # parallel OCR changes nothing in what is read
    refused = runner.invoke(
        app, ["process", str(strips[0]), "--out", str(tmp_path), "--workers", "0"]
    )
    assert refused.exit_code == 2


def test_a_blank_page_still_makes_a_pdfa_document(pool: OcrPool, tmp_path: Path) -> None:
    blank = tmp_path / "trang.png"
    Image.new("L", (1654, 2339), 255).save(blank, dpi=(200, 200))
    planned, _ = plan_documents([blank], "ho-so")
    ((doc, outcome),) = list(process_batch(planned, pool, tmp_path))
    assert doc.name == "ho-so" and outcome.failures == [] and outcome.pages_done == 1
    assert outcome.pdf_path is not None and check_pdfa(outcome.pdf_path.read_bytes()) == []


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

    monkeypatch.setattr("edge.pipeline.encode_image", recorded)
    done = process_document([captured], pool)
    assert "Vạn Thắng" in done.pages[0].text
    assert np.array_equal(np.asarray(encoded[-1]), np.asarray(upright.archive))


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
