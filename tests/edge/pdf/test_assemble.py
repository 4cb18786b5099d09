"""PDF assembly: true page size, lossless images, an invisible text layer `pdftotext` reads back
exactly (NFC Vietnamese), a file qpdf finds clean and pyHanko can read and update incrementally.
The PDF/A side (XMP, output intent, the structural check) is in test_pdfa.py."""

from __future__ import annotations

import io
import re
import subprocess
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.errors import PdfError
from edge.ocr import OcrEngine, OcrPage, OcrWord
from edge.pdf.assemble import assemble_pdf, encode_image
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import Provenance
from edge.sample_document import SampleDocument, render_sample_result


def run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, check=True, text=True).stdout


def collapse(text: str) -> str:
    return " ".join(text.split())


def qpdf_check(path: Path) -> None:
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def hand_made_page(image: Image.Image, dpi: int) -> OcrPage:
    """An OCR result written by hand (two lines of Vietnamese) for images not worth OCRing."""
    words = (
        OcrWord("Trích", (100, 100, 260, 150), 96.0, 0),
        OcrWord("lục", (280, 100, 380, 150), 96.0, 0),
        OcrWord("khai", (400, 100, 520, 150), 96.0, 0),
        OcrWord("tử", (540, 100, 600, 150), 96.0, 0),
        OcrWord("Đặng", (100, 200, 260, 250), 91.0, 1),
        OcrWord("Thị", (280, 200, 370, 250), 91.0, 1),
        OcrWord("Nguyệt", (390, 200, 600, 250), 91.0, 1),
    )
    return OcrPage(
        text="Trích lục khai tử\nĐặng Thị Nguyệt",
        words=words,
        width=image.width,
        height=image.height,
        dpi=dpi,
        mean_confidence=94.0,
    )


@pytest.fixture(scope="module")
def sample() -> SampleDocument:
    return render_sample_result(1)


@pytest.fixture(scope="module")
def ocr_page(sample: SampleDocument) -> OcrPage:
    with OcrEngine() as engine:
        return engine.recognize(sample.image, dpi=300)


@pytest.fixture(scope="module")
def sample_pdf(
    sample: SampleDocument, ocr_page: OcrPage, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    pdf = assemble_pdf(
        [(sample.image, ocr_page)],
        title="QUYẾT ĐỊNH " + str(sample.fields["so_ky_hieu"]),
        metadata=sample.fields,
    )
    path = tmp_path_factory.mktemp("pdf") / "sample.pdf"
    path.write_bytes(pdf)
    return path


@pytest.mark.slow
def test_qpdf_finds_the_file_clean(sample_pdf: Path) -> None:
    qpdf_check(sample_pdf)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["-raw"]])
def test_pdftotext_returns_the_ocr_text_in_nfc(
    sample_pdf: Path, ocr_page: OcrPage, mode: list[str]
) -> None:
    extracted = run("pdftotext", *mode, "-enc", "UTF-8", sample_pdf, "-")
    assert unicodedata.is_normalized("NFC", extracted)
    if mode:  # -raw: the content stream's order, which is the OCR text's
        assert collapse(extracted) == collapse(ocr_page.text)
    else:  # pdftotext's own reading order: row by row, where the OCR text reads the signature
        # area as two columns (edge.ocr.columns); the same words all the same
        assert sorted(collapse(extracted).split()) == sorted(collapse(ocr_page.text).split())


@pytest.mark.slow
def test_page_has_the_true_size_and_the_image_is_lossless(
    sample_pdf: Path, sample: SampleDocument, tmp_path: Path
) -> None:
    info = run("pdfinfo", sample_pdf)
    assert re.search(r"Page size:\s+595\.2 x 841\.92 pts \(A4\)", info), info
    assert re.search(r"Pages:\s+1\n", info)
    listing = run("pdfimages", "-list", sample_pdf).splitlines()[2].split()
    assert listing[3:9] == ["2480", "3508", "gray", "1", "8", "image"]
    assert listing[12:14] == ["300", "300"]  # x-ppi, y-ppi
    run("pdfimages", "-png", sample_pdf, tmp_path / "img")
    extracted = Image.open(tmp_path / "img-000.png")
    assert np.array_equal(np.asarray(extracted.convert("L")), np.asarray(sample.image))


@pytest.mark.slow
def test_document_info_holds_title_and_creator(sample_pdf: Path, sample: SampleDocument) -> None:
    reader = PdfFileReader(io.BytesIO(sample_pdf.read_bytes()))
    info = reader.trailer["/Info"]
    assert info["/Title"] == "QUYẾT ĐỊNH " + str(sample.fields["so_ky_hieu"])
    assert info["/Creator"] == "Sohoa"
    assert info["/Subject"] == sample.fields["trich_yeu"]
    # The fields (personal data included) live in the XMP metadata, not as custom Info keys.
    assert not {"/" + key for key in sample.fields} & set(info)
    assert len(reader.root["/Pages"]["/Kids"]) == 1


@pytest.mark.slow
def test_pyhanko_can_append_an_incremental_update(sample_pdf: Path, tmp_path: Path) -> None:
    # Signing appends an incremental update that adds an AcroForm; do the same, without a key.
    original = sample_pdf.read_bytes()
    appended = append_update(original)
    updated = tmp_path / "updated.pdf"
    updated.write_bytes(appended)
    assert appended.startswith(original)  # the original bytes stay untouched
    qpdf_check(updated)
    assert PdfFileReader(io.BytesIO(appended)).root["/Lang"] == "vi-VN"


def append_update(original: bytes) -> bytes:
    """Append an incremental update adding an empty AcroForm and a /Lang, as signing would."""
    # Parts of pyHanko's writer API are unannotated; `Any` keeps mypy's untyped-call check quiet.
    writer: Any = IncrementalPdfFileWriter(io.BytesIO(original))
    dictionary: Any = DictionaryObject
    form = writer.add_object(dictionary({NameObject("/Fields"): ArrayObject()}))
    writer.root["/AcroForm"] = form
    writer.root["/Lang"] = TextStringObject("vi-VN")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_bilevel_grey_colour_and_photo_pages_keep_their_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    document = Image.new("RGB", (1240, 1754), "white")
    document.paste((200, 30, 30), (800, 1300, 1100, 1600))  # a red seal on white paper
    photo = Image.fromarray(rng.integers(0, 255, (1000, 750, 3), dtype=np.uint8), "RGB")
    bilevel = Image.new("1", (2480, 3508), 1)
    grey = Image.new("L", (1654, 2339), 250)
    pages = [(bilevel, 300), (grey, 200), (document, 150), (photo, 100)]
    pdf = assemble_pdf([(image, hand_made_page(image, dpi)) for image, dpi in pages])
    path = tmp_path / "kinds.pdf"
    path.write_bytes(pdf)
    qpdf_check(path)
    assert check_pdfa(pdf) == []  # DeviceGray and DeviceRGB both under the sRGB output intent
    rows = [line.split() for line in run("pdfimages", "-list", path).splitlines()[2:]]
    kinds = [(row[5], row[7], row[8]) for row in rows]  # colour, bpc, encoding
    assert kinds == [
        ("gray", "1", "image"),
        ("gray", "8", "image"),
        ("rgb", "8", "image"),
        ("rgb", "8", "jpeg"),
    ]
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", run("pdfinfo", "-l", "4", path))
    assert [(round(float(w)), round(float(h))) for w, h in sizes] == [(595, 842)] * 3 + [(540, 720)]
    text = run("pdftotext", "-enc", "UTF-8", path, "-")
    assert collapse(text) == " ".join(["Trích lục khai tử Đặng Thị Nguyệt"] * 4)


def test_a_page_said_to_be_a_photograph_is_not_judged() -> None:
    """A camera capture is stored as JPEG however flat it looks; a page said not to be one
    stays lossless however noisy."""
    flat = Image.new("RGB", (600, 800), "white")
    noisy = Image.fromarray(
        np.random.default_rng(5).integers(0, 255, (800, 600, 3), dtype=np.uint8), "RGB"
    )
    assert b"/DCTDecode" not in encode_image(flat).entries
    assert b"/DCTDecode" in encode_image(flat, photo=True).entries
    assert b"/DCTDecode" in encode_image(noisy).entries
    assert b"/DCTDecode" not in encode_image(noisy, photo=False).entries


def test_images_encoded_ahead_give_the_same_file() -> None:
    grey = Image.new("L", (1654, 2339), 250)
    photo = Image.fromarray(
        np.random.default_rng(3).integers(0, 255, (800, 600, 3), dtype=np.uint8), "RGB"
    )
    pages = [(grey, hand_made_page(grey, 200)), (photo, hand_made_page(photo, 100))]
    created = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    ahead = [(encode_image(image), page) for image, page in pages]
    assert assemble_pdf(ahead, created=created) == assemble_pdf(pages, created=created)
    with pytest.raises(PdfError, match="OCR the image"):
        assemble_pdf([(encode_image(grey), hand_made_page(photo, 100))], created=created)


def test_bad_input_is_refused_with_a_reason() -> None:
    image = Image.new("L", (100, 100), 255)
    with pytest.raises(PdfError, match="at least one page"):
        assemble_pdf([])
    with pytest.raises(PdfError, match="OCR the image"):
        assemble_pdf([(image, hand_made_page(Image.new("L", (200, 100)), 300))])
    with pytest.raises(PdfError, match="time zone"):
        assemble_pdf([(image, hand_made_page(image, 300))], created=datetime(2025, 1, 1))
    # What XML cannot carry never reaches the XMP packet (it would be ill-formed, unreadable).
    page = [(image, hand_made_page(image, 300))]
    with pytest.raises(PdfError, match=r"field cccd .*U\+0007"):
        assemble_pdf(page, metadata={"cccd": "0361\x0790000123"})
    with pytest.raises(PdfError, match=r"the title .*U\+FFFF"):
        assemble_pdf(page, title="QUYẾT ĐỊNH\uffff")
    with pytest.raises(PdfError, match=r"organisation .*U\+DC80"):
        assemble_pdf(page, provenance=Provenance("UBND x\udc80"))
