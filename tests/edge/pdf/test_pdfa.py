"""PDF/A-2b: the XMP metadata (identification, Nghị định 30 fields, conversion mark), the sRGB
output intent, Info/XMP agreement, the structural checker on good and broken files, and that a
file signed on the real token (SoftHSM through PKCS#11) is still PDF/A."""

from __future__ import annotations

import io
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms
from pyhanko.pdf_utils.generic import (
    ArrayObject,
    BooleanObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.ocr import OcrPage, OcrWord
from edge.pdf.assemble import assemble_pdf
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import (
    NS_SOHOA,
    SRGB_PROFILE_PATHS,
    Provenance,
    icc_header_problems,
    split_code,
    srgb_profile,
)
from edge.sample_document import SampleDocument, render_sample_result
from edge.signing.pades import DocumentSigner
from server.verify import Verifier
from tests.fixtures.token import SigningIdentity

# Parts of pyHanko's generic API are unannotated; `Any` keeps mypy's untyped-call check quiet.
Dictionary: Any = DictionaryObject
Number: Any = NumberObject
Boolean: Any = BooleanObject

WHEN = datetime(2025, 3, 4, 2, 5, 6, tzinfo=UTC)
UNIT = "UBND xã Vạn Thắng"
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "sohoa": NS_SOHOA,
}


def words_of(sample: SampleDocument) -> OcrPage:
    """An OCR result written from the sample's own text (no Tesseract needed for metadata)."""
    line = sample.text.splitlines()[0]
    words = tuple(
        OcrWord(word, (100 + 300 * i, 100, 380 + 300 * i, 150), 95.0, 0)
        for i, word in enumerate(line.split()[:6])
    )
    image = sample.image
    return OcrPage(line, words, image.width, image.height, 300, 95.0)


@pytest.fixture(scope="module")
def sample() -> SampleDocument:
    return render_sample_result(3)


@pytest.fixture(scope="module")
def pdf(sample: SampleDocument) -> bytes:
    fields = {**sample.fields, "chuc_vu_nguoi_ky": "CHỦ TỊCH"}
    return assemble_pdf(
        [(sample.image, words_of(sample))],
        title="QUYẾT ĐỊNH",
        metadata=fields,
        provenance=Provenance(UNIT, converted_at=WHEN),
        created=WHEN,
    )


def xmp_of(pdf: bytes) -> ET.Element:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return ET.fromstring(bytes(reader.root["/Metadata"].data))  # noqa: S314 (our own file)


def sohoa_value(tree: ET.Element, name: str) -> str | None:
    """A Sohoa property, written as an element or (after pyHanko's rewrite) an attribute."""
    tag = "{" + NS_SOHOA + "}" + name
    for description in tree.iter("{" + NS["rdf"] + "}Description"):
        if tag in description.attrib:
            return description.attrib[tag]
        found = description.find(tag)
        if found is not None:
            return found.text
    return None


def test_the_assembled_pdf_passes_the_structural_check_and_qpdf(pdf: bytes, tmp_path: Path) -> None:
    assert check_pdfa(pdf) == []
    path = tmp_path / "a.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "WARNING" not in done.stdout + done.stderr, done.stdout
    assert pdf.startswith(b"%PDF-1.7\n%")


def test_xmp_identifies_pdfa_2b_and_carries_the_nd30_fields(
    pdf: bytes, sample: SampleDocument
) -> None:
    tree = xmp_of(pdf)
    assert tree.findtext(".//pdfaid:part", namespaces=NS) == "2"
    assert tree.findtext(".//pdfaid:conformance", namespaces=NS) == "B"
    fields = sample.fields
    number, notation = split_code(str(fields["so_ky_hieu"]))
    expected = {
        "TypeName": fields["loai_van_ban"],
        "CodeNumber": number,
        "CodeNotation": notation,
        "IssuedDate": fields["ngay_ban_hanh"],
        "OrganName": fields["co_quan_ban_hanh"],
        "Subject": fields["trich_yeu"],
        "Language": "vi",
        "PageAmount": "1",
        "SignerFullName": fields["nguoi_ky"],
        "SignerPosition": "CHỦ TỊCH",
        "OwnerIdentifier": fields["cccd"],
        "ConvertedFromPaper": "True",
        "ConvertedBy": UNIT,
        "ConvertedAt": "2025-03-04T02:05:06+00:00",
    }
    assert {name: sohoa_value(tree, name) for name in expected} == expected
    # The conversion mark, for people: who, and when in Vietnam's time (ISO 8601, +07:00).
    description = sohoa_value(tree, "Description") or ""
    assert UNIT in description and "2025-03-04T09:05:06+07:00" in description
    assert "giấy" in description
    # Every custom property is declared in the pdfaExtension schema (PDF/A 6.6.2.3).
    declared = {e.text for e in tree.iter("{http://www.aiim.org/pdfa/ns/property#}name")}
    assert set(expected) | {"Description"} <= declared


def test_info_and_xmp_agree(pdf: bytes, sample: SampleDocument) -> None:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    info = reader.trailer["/Info"]
    tree = xmp_of(pdf)
    assert info["/Title"] == tree.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=NS)
    assert info["/Author"] == tree.findtext(".//dc:creator/rdf:Seq/rdf:li", namespaces=NS) == UNIT
    assert info["/Subject"] == sample.fields["trich_yeu"]
    assert info["/CreationDate"] == "D:20250304020506+00'00'"
    file_id = reader.trailer["/ID"]
    assert len(file_id) == 2 and file_id[0] == file_id[1] and len(file_id[0]) == 16


def test_output_intent_is_srgb_with_an_acceptable_profile(pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    intents = reader.root["/OutputIntents"]
    assert len(intents) == 1
    intent = intents[0]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    profile = bytes(intent["/DestOutputProfile"].data)
    assert intent["/DestOutputProfile"]["/N"] == 3
    assert profile == srgb_profile() and icc_header_problems(profile, components=3) == []
    if SRGB_PROFILE_PATHS[0].exists():  # Debian's icc-profiles-free: an ICC v2 profile
        assert profile[8] == 2
    # Pillow's own (v4.4) is the fallback: acceptable too.
    pillow = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert icc_header_problems(pillow, components=3) == []
    assert icc_header_problems(pillow, components=1) != []


def test_pdftotext_reads_nfc_vietnamese_from_the_pdfa(
    pdf: bytes, sample: SampleDocument, tmp_path: Path
) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert " ".join(text.split()) == " ".join(sample.text.splitlines()[0].split()[:6])


# --- the checker finds what breaks PDF/A --------------------------------------------------------


def updated(pdf: bytes, change: Callable[[Any], None]) -> bytes:
    """Apply `change(writer)` as an incremental update (as any later editor would)."""
    writer: Any = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _drop_output_intent(writer: Any) -> None:
    del writer.root["/OutputIntents"]
    writer.update_root()


def _add_javascript(writer: Any) -> None:
    action = Dictionary(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )
    writer.root["/OpenAction"] = writer.add_object(action)
    writer.update_root()


def _add_lzw_stream(writer: Any) -> None:
    stream = StreamObject({NameObject("/Filter"): NameObject("/LZWDecode")}, encoded_data=b"\x80")
    writer.root["/PieceInfo"] = writer.add_object(stream)
    writer.update_root()


def _add_unembedded_font(writer: Any) -> None:
    page = writer.root["/Pages"]["/Kids"][0]
    font = Dictionary(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/TrueType"),
            NameObject("/BaseFont"): NameObject("/Arial"),
        }
    )
    page["/Resources"]["/Font"][NameObject("/F2")] = writer.add_object(font)
    writer.update_container(page)


def _add_transparency_group(writer: Any) -> None:
    page = writer.root["/Pages"]["/Kids"][0]
    page[NameObject("/Group")] = Dictionary({NameObject("/S"): NameObject("/Transparency")})
    writer.update_container(page)


def _add_hidden_annotation(writer: Any) -> None:
    page = writer.root["/Pages"]["/Kids"][0]
    note = Dictionary(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Text"),
            NameObject("/Rect"): ArrayObject([Number(n) for n in (10, 10, 40, 40)]),
            NameObject("/F"): Number(2),
        }
    )
    page[NameObject("/Annots")] = ArrayObject([writer.add_object(note)])
    writer.update_container(page)


def _need_appearances(writer: Any) -> None:
    form = Dictionary(
        {
            NameObject("/Fields"): ArrayObject(),
            NameObject("/NeedAppearances"): Boolean(True),
        }
    )
    writer.root["/AcroForm"] = writer.add_object(form)
    writer.update_root()


def _change_title_in_info_only(writer: Any) -> None:
    info = writer.trailer["/Info"]
    info[NameObject("/Title")] = TextStringObject("Khác")
    writer.update_container(info)


def _declare_pdf_2(writer: Any) -> None:
    writer.root[NameObject("/Version")] = NameObject("/2.0")
    writer.update_root()


def _declare_a_pdf_2_extension(writer: Any) -> None:
    extension = Dictionary(
        {
            NameObject("/Type"): NameObject("/DeveloperExtensions"),
            NameObject("/BaseVersion"): NameObject("/2.0"),
            NameObject("/ExtensionLevel"): Number(32002),
        }
    )
    writer.root[NameObject("/Extensions")] = Dictionary(
        {NameObject("/ISO_"): ArrayObject([extension])}
    )
    writer.update_root()


@pytest.mark.parametrize(
    ("change", "clause"),
    [
        (_drop_output_intent, "6.2.3"),
        (_add_javascript, "6.6.1"),
        (_add_lzw_stream, "6.1.7.2"),
        (_add_unembedded_font, "6.2.11.4"),
        (_add_transparency_group, "6.2.10"),
        (_add_hidden_annotation, "6.3.2"),
        (_need_appearances, "6.4.1"),
        (_change_title_in_info_only, "6.6.3"),
        (_declare_pdf_2, "6.1.2"),
        (_declare_a_pdf_2_extension, "6.1.2"),
    ],
)
def test_the_checker_finds_a_broken_rule(
    pdf: bytes, change: Callable[[Any], None], clause: str
) -> None:
    problems = check_pdfa(updated(pdf, change))
    assert any(p.startswith(clause + ":") for p in problems), problems


def test_the_checker_finds_header_metadata_and_extension_problems(pdf: bytes) -> None:
    no_binary_comment = re.sub(rb"\A%PDF-1.7\n%[^\n]*\n", b"%PDF-1.7\n%abcd\n", pdf)
    assert any(p.startswith("6.1.2:") for p in check_pdfa(no_binary_comment))
    assert any(p.startswith("6.1.3:") for p in check_pdfa(pdf + b"trailing garbage"))
    # Same length, so the cross-reference offsets stay right: a PDF/A-1 claim, an unknown
    # custom property and a foreign prefix for a fixed PDF/A namespace.
    claims_part_1 = pdf.replace(b"<pdfaid:part>2<", b"<pdfaid:part>1<")
    assert any(p.startswith("6.6.4:") for p in check_pdfa(claims_part_1))
    undeclared = pdf.replace(
        b"<sohoa:Language>vi</sohoa:Language>", b"<sohoa:Languagx>vi</sohoa:Languagx>"
    )
    assert any("Languagx has no extension schema" in p for p in check_pdfa(undeclared))
    renamed = pdf.replace(b"pdfaSchema", b"pdfaSchemX")
    assert any(p.startswith("6.6.2.3.3:") for p in check_pdfa(renamed))
    assert check_pdfa(b"not a pdf")[-1].startswith("not a readable PDF")


# --- signing keeps PDF/A ------------------------------------------------------------------------


def test_a_document_signed_on_the_token_is_still_pdfa(
    pdf: bytes, signing_identity: SigningIdentity, tmp_path: Path
) -> None:
    signer = DocumentSigner(
        signing_identity.token, signing_identity.key_id, organisation=signing_identity.unit
    )
    signed = signer.sign(pdf)
    assert signed.startswith(pdf)
    # pyHanko rewrites the XMP (its own serialisation) and the Info's ModDate and Producer in
    # the update: both must still agree and still declare every custom property.
    assert check_pdfa(signed) == []
    # pyHanko declares ISO/TS 32002 (a PDF 2.0 extension) for ECDSA keys and raises the
    # catalog to /Version /2.0 for it, unless told otherwise: the file stays a PDF 1.7 file.
    root = PdfFileReader(io.BytesIO(signed), strict=False).root
    assert str(root.get("/Version", "/1.7")) == "/1.7"
    assert list(root["/Extensions"]) == ["/ESIC"]
    tree = xmp_of(signed)
    assert sohoa_value(tree, "ConvertedBy") == UNIT
    assert sohoa_value(tree, "SignerPosition") == "CHỦ TỊCH"
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    done = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = Verifier([signing_identity.ca.cert]).verify(
        signed, device_id=signing_identity.device_id
    )
    assert verdict.valid, verdict.detail


def test_a_grey_page_below_200_dpi_is_still_written_but_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    image = Image.new("L", (600, 800), 255)
    page = OcrPage("", (), 600, 800, 100, 0.0)
    with caplog.at_level("WARNING", logger="edge.pdf"):
        pdf = assemble_pdf([(image, page)])
    assert "below the 200 dpi" in caplog.text
    assert check_pdfa(pdf) == []
