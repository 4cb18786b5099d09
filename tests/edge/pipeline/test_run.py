"""The pipeline's run on the OCR pool: documents in flight in parallel, outcomes in order, a bad
file reported without stopping the batch, PDF/As out, and `sohoa edge process --workers`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from edge.cli import app
from edge.ocr import OcrPool
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import Provenance
from edge.pipeline.run import StageSeconds, plan_documents, process_batch, process_document
from edge.pipeline.stages import PageImages
from edge.sample_document import render_sample_result

runner = CliRunner()


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


def test_a_pool_of_two_gives_the_same_document_as_a_pool_of_one(pool: OcrPool) -> None:
    image = render_sample_result(4).image.crop((0, 0, 2480, 700))
    pages = [PageImages.upright(image, 300), PageImages.upright(image.rotate(0), 300)]
    with OcrPool(1) as one:
        alone = process_document(pages, one)
    ticks: list[int] = []
    pooled = process_document(
        pages, pool, on_page=lambda: ticks.append(1), provenance=Provenance("UBND xã Vạn Thắng")
    )
    assert pool.workers == 2
    assert pooled.pages == alone.pages and pooled.fields == alone.fields
    assert len(ticks) == 2
    assert isinstance(pooled.seconds, StageSeconds) and pooled.seconds.sign is None
    assert list(pooled.seconds.as_dict()) == ["ocr", "fields", "pdf"]
    assert check_pdfa(pooled.pdf) == []
    assert "UBND xã Vạn Thắng".encode() in pooled.pdf  # the conversion mark names the unit


def test_a_batch_keeps_its_order_and_survives_a_bad_file(
    pool: OcrPool, strips: list[Path], tmp_path: Path
) -> None:
    planned, refused = plan_documents(strips, None)
    assert refused == []
    ticks: list[int] = []
    done = list(process_batch(planned, pool, tmp_path, on_page=lambda: ticks.append(1)))
    assert [outcome.document for outcome in done] == planned
    assert [outcome.document.name for outcome in done] == [path.stem for path in strips]
    assert len(ticks) == len(strips)
    for outcome in done:
        doc = outcome.document
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
    (outcome,) = list(process_batch(planned, pool, tmp_path))
    assert outcome.document.name == "ho-so" and outcome.failures == [] and outcome.pages_done == 1
    assert outcome.pdf_path is not None and check_pdfa(outcome.pdf_path.read_bytes()) == []
