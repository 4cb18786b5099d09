# pyHanko's PDF object constructors are untyped.
# mypy: disable-error-code="no-untyped-call"
"""The server's reading of a signed result's XMP (`server.signed_fields`): on PDFs made by
`edge.pdf.assemble`, before and after signing on the real token (pyHanko rewrites the XMP when
it signs), and on hostile metadata streams, each refused quickly with a reason that names no
value."""

from __future__ import annotations

import io
import time
import unicodedata
import uuid
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.ocr.model import OcrPage
from edge.pdf.assemble import assemble_pdf
from edge.pdf.xmp import Provenance
from edge.signing.box import SignatureBox
from edge.signing.pades import DocumentSigner
from protocol.reasons import RejectReason
from protocol.signed_metadata import MAX_XMP_BYTES, SIGNED_FIELD_KEYS, SignedMetadata
from server.signed_fields import SignedMetadataError, read_signed_metadata
from server.verify import Verifier
from tests.fixtures.token import UNIT, RawMetadataWriter, SigningIdentity, make_pdf

FIELDS: dict[str, str | None] = {
    "so_ky_hieu": "05/QĐ-UBND",
    "ngay_ban_hanh": "2025-03-01",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc công nhận\nhộ gia đình văn hóa",
    "ho_ten": "Đặng Thị Nguyệt",
    "cccd": "036190000123",
    "nguoi_ky": "http://not-a-link Lê Văn Tám",  # pyHanko makes "http…" text an rdf:resource
    "chuc_vu_nguoi_ky": "CHỦ TỊCH",
}
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _page(text: str) -> tuple[Image.Image, OcrPage]:
    image = Image.new("L", (827, 1169), 255)
    ImageDraw.Draw(image).text((60, 60), text, fill=0)
    return image, OcrPage("", (), image.width, image.height, 100, 0.0)


def assembled(fields: dict[str, str | None] = FIELDS, pages: int = 2) -> bytes:
    """A PDF/A of `pages` pages made by the appliance's assembler with `fields` in its XMP."""
    return assemble_pdf(
        [_page(f"page {n}") for n in range(pages)],
        title="QUYẾT ĐỊNH",
        metadata={k: unicodedata.normalize("NFD", v) if v else v for k, v in fields.items()},
        provenance=Provenance(UNIT),
    )


def expected(fields: dict[str, str | None] = FIELDS) -> dict[str, str | None]:
    return {key: fields.get(key) for key in SIGNED_FIELD_KEYS}


def with_metadata(pdf: bytes, stream: generic.PdfObject) -> bytes:
    """`pdf` with an update pointing the catalog's /Metadata at `stream`."""
    writer = RawMetadataWriter(io.BytesIO(pdf), strict=False)
    writer.root[generic.pdf_name("/Metadata")] = writer.add_object(stream)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xml_stream(packet: bytes, **entries: generic.PdfObject) -> generic.StreamObject:
    head: dict[generic.NameObject, generic.PdfObject] = {
        generic.pdf_name("/Type"): generic.pdf_name("/Metadata"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/XML"),
    }
    head.update({generic.pdf_name(f"/{k}"): v for k, v in entries.items()})
    if "Filter" in entries:
        return generic.StreamObject(head, encoded_data=packet)
    return generic.StreamObject(head, stream_data=packet)


def packet(body: str, about: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
        f'<rdf:Description rdf:about="{about}" xmlns:sohoa="urn:sohoa:xmp:nd30:1.0/">{body}'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


# --- what the appliance writes reads back ---------------------------------------------------------


def test_an_assembled_pdf_reads_back_its_fields_pages_and_identity() -> None:
    pdf = assembled()
    read = read_signed_metadata(pdf)
    assert read.found and read.fields == expected()  # NFC, whatever form went in
    assert read.pages == 2
    file_id = PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/ID"][0]
    assert read.document_id == f"uuid:{uuid.UUID(bytes=bytes(file_id))}"
    assert read.stored_fields()["ho_ten"] == FIELDS["ho_ten"]
    assert "chuc_vu_nguoi_ky" not in read.stored_fields()  # no column for it


def test_signed_on_the_token_the_xmp_reads_the_same_and_the_verdict_carries_it(
    signing_identity: SigningIdentity,
) -> None:
    unsigned = assembled()
    signer = DocumentSigner(signing_identity.token, signing_identity.key_id, organisation=UNIT)
    pdf = signer.sign(unsigned)
    assert b"rdf:resource" in pdf  # pyHanko rewrote the packet (attributes, a resource)
    assert read_signed_metadata(pdf) == read_signed_metadata(unsigned)
    verdict = Verifier([signing_identity.ca.cert]).verify(pdf, device_id=signing_identity.device_id)
    assert verdict.valid, verdict.detail
    assert verdict.signed == read_signed_metadata(pdf)


def _first_id(pdf: bytes) -> bytes:
    return bytes(PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/ID"][0].original_bytes)


@pytest.mark.parametrize("box", [False, True], ids=["invisible", "visible-box"])
def test_signing_keeps_the_first_id_the_document_id_was_made_from(
    signing_identity: SigningIdentity, box: bool
) -> None:
    """Why the DocumentID check is sound for what the appliance makes: pyHanko's signing, an
    incremental update, keeps the trailer's first /ID (PDF 32000-1 14.4) and changes the second,
    with or without the visible signature box."""
    unsigned = assembled(pages=1)
    signer = DocumentSigner(
        signing_identity.token,
        signing_identity.key_id,
        organisation=UNIT,
        box=SignatureBox() if box else None,
    )
    pdf = signer.sign(unsigned)
    signed_ids = PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/ID"]
    assert _first_id(pdf) == _first_id(unsigned)
    assert bytes(signed_ids[1].original_bytes) != _first_id(unsigned)
    verdict = Verifier([signing_identity.ca.cert]).verify(pdf, device_id=signing_identity.device_id)
    assert verdict.valid, verdict.detail
    assert verdict.signed is not None
    assert verdict.signed.document_id == f"uuid:{uuid.UUID(bytes=_first_id(pdf))}"


def _other_first_id(pdf: bytes) -> bytes:
    """`pdf` with the first element of its trailer's /ID changed (same length), the XMP left."""
    first = _first_id(pdf).hex().upper().encode()
    other = bytes(reversed(first))
    assert pdf.count(b"<" + first + b">") == 2 and first != other  # /ID [<a> <a>], nowhere else
    return pdf.replace(b"/ID [<" + first + b">", b"/ID [<" + other + b">")


def test_a_document_id_that_is_not_the_files_own_is_refused() -> None:
    with pytest.raises(SignedMetadataError, match="DocumentID is not the file's own identifier"):
        read_signed_metadata(_other_first_id(assembled(pages=1)))
    no_id = assembled(pages=1).replace(b"/ID [<", b"/XX [<")
    with pytest.raises(SignedMetadataError, match="no 16-byte first /ID"):
        read_signed_metadata(no_id)


def test_a_signed_pdf_whose_document_id_is_another_files_is_rejected_by_verification(
    signing_identity: SigningIdentity,
) -> None:
    signer = DocumentSigner(signing_identity.token, signing_identity.key_id, organisation=UNIT)
    pdf = signer.sign(_other_first_id(assembled(pages=1)))
    verdict = Verifier([signing_identity.ca.cert]).verify(pdf, device_id=signing_identity.device_id)
    assert verdict.valid is False and verdict.reason is RejectReason.FIELDS_MISMATCH
    assert "DocumentID" in verdict.detail and verdict.signed is None


def test_a_pdf_without_xmp_carries_no_fields() -> None:
    read = read_signed_metadata(make_pdf())
    assert read == SignedMetadata() and not read.found and not read.has_fields


def test_a_pdf_without_fields_carries_its_pages_and_identity_only() -> None:
    read = read_signed_metadata(assembled({}, pages=1))
    assert read.found and not read.has_fields and read.pages == 1
    assert read.document_id is not None


# --- hostile metadata -----------------------------------------------------------------------------

_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<lolz>&lol2;</lolz>"
)

HOSTILE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "entity-expansion": (lambda p: with_metadata(p, xml_stream(_LAUGHS)), "DTD"),
    "external-entity": (
        lambda p: with_metadata(
            p,
            xml_stream(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
        ),
        "DTD",
    ),
    "not-xml": (lambda p: with_metadata(p, xml_stream(b"<x:xmpmeta <<")), "well-formed"),
    "not-utf8": (lambda p: with_metadata(p, xml_stream(b"<x>\xff\xfe</x>")), "UTF-8"),
    "given-twice": (
        lambda p: with_metadata(
            p,
            xml_stream(
                packet(
                    "<sohoa:OwnerIdentifier>1</sohoa:OwnerIdentifier>"
                    "<sohoa:OwnerIdentifier>2</sohoa:OwnerIdentifier>"
                )
            ),
        ),
        "twice",
    ),
    "about-another-resource": (
        lambda p: with_metadata(
            p, xml_stream(packet("<sohoa:OwnerFullName>A</sohoa:OwnerFullName>", "urn:x"))
        ),
        "another resource",
    ),
    "structured-value": (
        lambda p: with_metadata(
            p,
            xml_stream(
                packet(
                    "<sohoa:OwnerFullName><rdf:Bag><rdf:li>A</rdf:li></rdf:Bag>"
                    "</sohoa:OwnerFullName>"
                )
            ),
        ),
        "structure",
    ),
    "page-count-not-a-number": (
        lambda p: with_metadata(p, xml_stream(packet("<sohoa:PageAmount>x</sohoa:PageAmount>"))),
        "PageAmount",
    ),
    "page-count-not-the-page-tree": (
        lambda p: with_metadata(p, xml_stream(packet("<sohoa:PageAmount>7</sohoa:PageAmount>"))),
        "page tree",
    ),
    "other-filter": (
        lambda p: with_metadata(
            p,
            xml_stream(
                packet("").hex().encode() + b">",
                Filter=generic.pdf_name("/ASCIIHexDecode"),
            ),
        ),
        "filters",
    ),
    "inflate-bomb": (
        lambda p: with_metadata(
            p,
            xml_stream(
                zlib.compress(b" " * (64 * 1024 * 1024), 9),
                Filter=generic.pdf_name("/FlateDecode"),
            ),
        ),
        "over the",
    ),
    "oversized": (
        lambda p: with_metadata(p, xml_stream(b" " * (MAX_XMP_BYTES + 1))),
        "over the",
    ),
    "not-a-stream": (
        lambda p: with_metadata(p, generic.DictionaryObject()),
        "not a stream",
    ),
    "value-too-long": (
        lambda p: with_metadata(
            p, xml_stream(packet(f"<sohoa:Subject>{'x' * 5000}</sohoa:Subject>"))
        ),
        "longer than",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_metadata_is_refused_quickly_with_a_reason(name: str) -> None:
    make, why = HOSTILE[name]
    pdf = make(assembled(pages=1))
    started = time.perf_counter()
    with pytest.raises(SignedMetadataError, match=why) as caught:
        read_signed_metadata(pdf)
    assert time.perf_counter() - started < 2.0
    assert "passwd" not in str(caught.value) and "lol" not in str(caught.value)


def test_a_flate_compressed_packet_within_bounds_is_read() -> None:
    body = packet("<sohoa:OwnerFullName>Bình</sohoa:OwnerFullName>")
    pdf = with_metadata(
        make_pdf(), xml_stream(zlib.compress(body), Filter=generic.pdf_name("/FlateDecode"))
    )
    assert read_signed_metadata(pdf).fields["ho_ten"] == "Bình"


def test_bytes_that_are_no_pdf_are_refused() -> None:
    with pytest.raises(SignedMetadataError, match="cannot be read"):
        read_signed_metadata(b"GIF89a not a pdf")


def test_a_signed_pdf_with_unreadable_metadata_is_rejected_by_verification(
    signing_identity: SigningIdentity,
) -> None:
    hostile = HOSTILE["page-count-not-the-page-tree"][0](assembled(pages=1))
    signer = DocumentSigner(signing_identity.token, signing_identity.key_id, organisation=UNIT)
    verdict = Verifier([signing_identity.ca.cert]).verify(
        signer.sign(hostile), device_id=signing_identity.device_id
    )
    assert verdict.valid is False
    assert verdict.reason is RejectReason.FIELDS_MISMATCH
    assert "page tree" in verdict.detail and verdict.signed is None
