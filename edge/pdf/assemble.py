"""Assemble page images and their OCR into one searchable PDF, written object by object.

Each page is the image at its true size (from its dpi) with an invisible text layer (text render
mode 3) over every OCR word, so that viewers can search and copy the text and `pdftotext` returns
it.

How the text layer stays exact (the approach of Tesseract's PDF renderer and OCRmyPDF):
- The font is Tesseract's "GlyphLessFont" (one empty glyph), embedded as a CIDFontType2 behind a
  Type0 font with `/Identity-H` encoding. Each character is written as its UTF-16 code unit (the
  CID); a CIDToGIDMap sends every CID to the one glyph, and a ToUnicode CMap maps every CID back to
  the same code point. So any Vietnamese text, precomposed (NFC) as OCR gives it, extracts
  unchanged.
- A line's words share one baseline and font size (the medians of its words, so a signature
  scribble read into the line does not inflate them); each word is stretched horizontally (`Tz`) to
  cover its box and the gap to the next word, where an explicit space character sits, so extraction
  keeps word order and spacing.

Images are embedded losslessly where that is reasonable: bilevel and grey pages as Flate with PNG
predictors (the IDAT stream of a PNG, as img2pdf does), colour documents likewise; only photographs
(colour images that barely compress) become high-quality JPEG. Never JBIG2 (its lossy mode
swaps look-alike characters). Pages keep their captured resolution (Nghị định 30/2020 wants
≥ 200 dpi; the capture stage's gates see to that, this module warns below it).

The file is PDF/A-2b (ISO 19005-2 level B): XMP metadata with the PDF/A identification and the
result's fields (`edge.pdf.xmp`), an sRGB output intent, the Info dictionary equal to the XMP,
the font embedded, a trailer /ID, no encryption, no transparency, no actions. Signing appends
an incremental update (pyHanko) that keeps all of that.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median

from PIL import Image

from edge.errors import PdfError
from edge.ocr import OcrPage, OcrWord
from edge.pdf.xmp import SRGB_IDENTIFIER, Provenance, document_metadata, srgb_profile, xmp_packet

log = logging.getLogger(__name__)

PRODUCER = "Sohoa"
JPEG_QUALITY = 90
"""For photographs. Without Huffman optimisation: on corpus-dev's photos 90 gives 4% fewer bytes
than 92 optimised, in half the time (20 ms a page), and is still a high-quality setting."""
MIN_DPI = 200
"""Below this a page is not an acceptable digitized copy (Nghị định 30/2020 Phụ lục I)."""
PHOTO_RATIO = 0.22
"""A colour image whose pixels deflate to more than this fraction of their raw size is a
photograph and is stored as JPEG: paper and ink deflate far better (corpus scans: ≤ 0.17;
phone and Pi-camera photos: ≥ 0.26, sensor noise and shading)."""

# Tesseract's GlyphLessFont (tessdata/pdf.ttf, Apache License 2.0): a TrueType font with one
# empty glyph, 500 units wide and 1000 high, made for invisible OCR text layers.
_GLYPHLESS_FONT = base64.b64decode(
    "AAEAAAAKAIAAAwAgT1MvMlbeyJQAAAEoAAAAYGNtYXAACgA0AAABkAAAAB5nbHlmFSJBJAAAAbgAAAAYaGVhZAt48WUAAACs"
    "AAAANmhoZWEMAgQCAAAA5AAAACRobXR4BAAAAAAAAYgAAAAIbG9jYQAMAAAAAAGwAAAABm1heHAABAAFAAABCAAAACBuYW1l"
    "8usW2gAAAdAAAABLcG9zdAABAAEAAAIcAAAAIAABAAAAAQAAsJRxEF8PPPUEBwgAAAAAAM+a/G4AAAAA1MOn8gAAAAAEAAgA"
    "AAAAEAACAAAAAAAAAAEAAAgA//8AAAQAAAAAAAQAAAEAAAAAAAAAAAAAAAAAAAACAAEAAAACAAQAAQAAAAAAAQAAAAAAAAAA"
    "AAAAAAAAAAAAAwAAAZAABQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAUAAQABAAAAAAAAAAAAAAAAAAAAAAAAAAAAR09PRwBA"
    "AAAAAAAB//8AAAABAAGAAAAAAAAAAAAAAAAAAAABAAAAAAAABAAAAAAAAAIAAQAAAAAAFAADAAAAAAAUAAYACgAAAAAAAAAA"
    "AAAAAAAMAAAAAQAAAAAEAAgAAAMAADEhESEEAPwACAAAAAADACoAAAADAAAABQAWAAAAAQAAAAAABQALABYAAwABBAkABQAW"
    "AAAAVgBlAHIAcwBpAG8AbgAgADEALgAwVmVyc2lvbiAxLjAAAAEAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAA="
)
_GLYPH_WIDTH = 0.5  # of the font size: the glyph's advance (DW 500)


def _to_unicode_cmap() -> bytes:
    """CMap mapping each 2-byte CID to the same UTF-16 code unit (surrogates excluded)."""
    ranges = [
        f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF
    ]
    blocks = []
    for start in range(0, len(ranges), 100):  # at most 100 entries per block (PDF 32000 9.10.3)
        chunk = ranges[start : start + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


# --- PDF syntax ---------------------------------------------------------------------------------


def _text_string(value: str) -> bytes:
    """A PDF text string: literal when ASCII, else UTF-16BE with a byte-order mark (hex)."""
    if value.isascii() and value.isprintable():
        escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"({escaped})".encode("ascii")
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _name(value: str) -> bytes:
    """A PDF name: characters outside ! to ~ and the delimiters escaped as #xx (PDF 32000 7.3.5)."""
    if not value:
        raise PdfError("an empty metadata key cannot be written to the PDF: give every key a name")
    out = []
    for byte in value.encode("utf-8"):
        if 0x21 <= byte <= 0x7E and chr(byte) not in "#()<>[]{}/%":
            out.append(chr(byte))
        else:
            out.append(f"#{byte:02X}")
    return ("/" + "".join(out)).encode("ascii")


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


class _Objects:
    """The numbered objects of a PDF file being built, serialised with a classic xref table."""

    def __init__(self) -> None:
        self._bodies: list[bytes | None] = []

    def reserve(self) -> int:
        """Allocate an object number whose body is set later (forward references)."""
        self._bodies.append(None)
        return len(self._bodies)

    def set(self, number: int, body: bytes) -> None:
        self._bodies[number - 1] = body

    def add(self, body: bytes) -> int:
        number = self.reserve()
        self.set(number, body)
        return number

    def add_stream(self, entries: bytes, data: bytes, *, deflate: bool = False) -> int:
        """Add a stream object; `entries` are extra dictionary entries, `data` the bytes."""
        if deflate:
            data = zlib.compress(data, 6)
            entries += b" /Filter /FlateDecode"
        head = b"<< " + entries + b" /Length " + str(len(data)).encode() + b" >>\nstream\n"
        return self.add(head + data + b"\nendstream")

    def digest(self) -> str:
        """MD5 (hex) of the objects written so far: a file identifier for the trailer's /ID."""
        md5 = hashlib.md5(usedforsecurity=False)
        for body in self._bodies:
            md5.update(body or b"")
        return md5.hexdigest().upper()

    def serialise(self, root: int, info: int, file_id: str) -> bytes:
        out = io.BytesIO()
        # The comment with bytes above 127 marks the file as binary for transfer tools.
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._bodies, start=1):
            if body is None:
                raise PdfError(f"internal error: PDF object {number} was never written")
            offsets.append(out.tell())
            out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
        xref = out.tell()
        out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for offset in offsets:
            out.write(f"{offset:010d} 00000 n \n".encode())
        out.write(
            f"trailer\n<< /Size {len(offsets) + 1} /Root {root} 0 R /Info {info} 0 R "
            f"/ID [<{file_id}> <{file_id}>] >>\nstartxref\n{xref}\n%%EOF\n".encode()
        )
        return out.getvalue()


# --- images -------------------------------------------------------------------------------------


def _png_idat(image: Image.Image) -> bytes:
    """The zlib stream of `image` saved as PNG: Flate data with PNG predictors, per row."""
    buffer = io.BytesIO()
    # Level 5: on corpus-dev's scans a fifth faster than zlib's default 6 for 1% more bytes.
    image.save(buffer, format="PNG", compress_level=5)
    png = buffer.getvalue()
    position, data = 8, []
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        if kind == b"IHDR" and png[position + 8 + 12] != 0:
            raise PdfError("internal error: PIL wrote an interlaced PNG; cannot embed it")
        if kind == b"IDAT":
            data.append(png[position + 8 : position + 8 + length])
        position += 12 + length
    return b"".join(data)


def _deflate_ratio(image: Image.Image) -> float:
    raw = image.tobytes()
    return len(zlib.compress(raw, 1)) / max(1, len(raw))


def _is_photo(image: Image.Image) -> bool:
    """Judge from a thumbnail (shading, gradients) and from full-resolution crops (sensor noise,
    which a thumbnail averages away), taking the less compressible of the two."""
    # Box means over whole cells: three times as fast as `thumbnail`, and as telling.
    thumbnail = image.reduce(max(1, -(-max(image.size) // 512)))
    width, height, half = image.width, image.height, 128
    crops = [
        image.crop(
            (
                int(width * fx) - half,
                int(height * fy) - half,
                int(width * fx) + half,
                int(height * fy) + half,
            )
        )
        for fx in (0.3, 0.7)
        for fy in (0.3, 0.7)
    ]
    ratio = max(_deflate_ratio(thumbnail), median(_deflate_ratio(c) for c in crops))
    return ratio > PHOTO_RATIO


@dataclass(frozen=True)
class EncodedImage:
    """A page image encoded for the PDF (the slow part of assembly, so that it can run on
    another thread while OCR works: Pillow's encoders release the GIL).

    Attributes:
        width, height: the image size in pixels.
        entries: the image XObject's dictionary entries (size, colour space, filter).
        data: the stream's bytes.
    """

    width: int
    height: int
    entries: bytes
    data: bytes


def encode_image(image: Image.Image, *, photo: bool | None = None) -> EncodedImage:
    """Encode a page image: grey and bilevel stay grey and bilevel (Flate with PNG
    predictors), colour stays colour (Flate, or high-quality JPEG for photographs).

    Args:
        image: the page.
        photo: whether a colour page is a photograph (a camera capture is); judged from its
            pixels when None."""
    if image.mode in ("LA", "La", "I", "I;16", "F"):
        image = image.convert("L")
    elif image.mode not in ("1", "L", "RGB"):
        if "A" in image.getbands() or image.mode == "P":
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, "white")
            image.paste(rgba, mask=rgba.getchannel("A"))  # transparent paper becomes white
        else:
            image = image.convert("RGB")
    colours, space = (3, b"/DeviceRGB") if image.mode == "RGB" else (1, b"/DeviceGray")
    bits = 1 if image.mode == "1" else 8
    head = (
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent %d"
    )
    entries = head % (image.width, image.height, space, bits)
    if image.mode == "RGB" and (_is_photo(image) if photo is None else photo):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return EncodedImage(
            image.width, image.height, entries + b" /Filter /DCTDecode", buffer.getvalue()
        )
    params = b" /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors %d"
    params += b" /BitsPerComponent %d /Columns %d >>"
    entries += params % (colours, bits, image.width)
    return EncodedImage(image.width, image.height, entries, _png_idat(image))


# --- the text layer -----------------------------------------------------------------------------


def _encode(text: str) -> str:
    """Hex string of UTF-16 code units, one CID per character (non-BMP characters become U+FFFD,
    which the one-unit CMap can map back)."""
    return "".join(f"{ord(c) if ord(c) <= 0xFFFF else 0xFFFD:04X}" for c in text)


def _text_layer(page: OcrPage, height_pt: float) -> str:
    """Content-stream operators drawing every word invisibly over its box."""
    scale = 72 / page.dpi
    lines: dict[int, list[OcrWord]] = {}
    for word in page.words:
        lines.setdefault(word.line, []).append(word)
    ops = ["BT", "3 Tr"]  # render mode 3: neither fill nor stroke
    for words in lines.values():
        size = max(median(w.box[3] - w.box[1] for w in words), 1) * scale
        baseline = height_pt - median(w.box[3] for w in words) * scale
        ops.append(f"/F1 {_number(size)} Tf")
        followers: list[OcrWord | None] = [*words[1:], None]
        for word, following in zip(words, followers, strict=True):
            text = word.text if following is None else word.text + " "
            width = word.box[2] - word.box[0]
            if following is not None and following.box[0] > word.box[0]:
                width = following.box[0] - word.box[0]  # the word and the gap where the space is
            natural = len(text) * _GLYPH_WIDTH * size
            stretch = 100 * max(width, 1) * scale / natural
            ops.append(
                f"{_number(stretch)} Tz 1 0 0 1 {_number(word.box[0] * scale)} "
                f"{_number(baseline)} Tm <{_encode(text)}> Tj"
            )
    ops.append("ET")
    return "\n".join(ops)


def _font_object(objects: _Objects) -> int:
    font_file = objects.add_stream(
        b"/Length1 %d" % len(_GLYPHLESS_FONT), _GLYPHLESS_FONT, deflate=True
    )
    descriptor = objects.add(
        b"<< /Type /FontDescriptor /FontName /GlyphLessFont /Flags 5 /FontBBox [0 0 500 1000]"
        b" /ItalicAngle 0 /Ascent 1000 /Descent -1 /CapHeight 1000 /StemV 80"
        b" /FontFile2 %d 0 R >>" % font_file
    )
    cid_to_gid = objects.add_stream(b"", b"\x00\x01" * 65536, deflate=True)
    cid_font = objects.add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GlyphLessFont"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        b" /FontDescriptor %d 0 R /DW 500 /CIDToGIDMap %d 0 R >>" % (descriptor, cid_to_gid)
    )
    to_unicode = objects.add_stream(b"", _to_unicode_cmap(), deflate=True)
    return objects.add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /GlyphLessFont /Encoding /Identity-H"
        b" /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid_font, to_unicode)
    )


# --- the document -------------------------------------------------------------------------------


def _info(entries: Mapping[str, str]) -> bytes:
    return (
        b"<< " + b"\n".join(_name(k) + b" " + _text_string(v) for k, v in entries.items()) + b" >>"
    )


def _output_intent(objects: _Objects) -> int:
    """The PDF/A output intent: sRGB, which both DeviceGray and DeviceRGB images resolve to."""
    profile = objects.add_stream(b"/N 3", srgb_profile(), deflate=True)
    identifier = _text_string(SRGB_IDENTIFIER)
    return objects.add(
        b"<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier "
        + identifier
        + b" /Info "
        + identifier
        + b" /RegistryName (http://www.color.org)"
        + b" /DestOutputProfile %d 0 R >>" % profile
    )


def assemble_pdf(
    pages: Sequence[tuple[Image.Image | EncodedImage, OcrPage]],
    *,
    title: str | None = None,
    metadata: Mapping[str, str | None] = {},
    provenance: Provenance | None = None,
    created: datetime | None = None,
    read: Mapping[str, str | None] | None = None,
) -> bytes:
    """Build a searchable PDF/A-2b: one page per image, with the OCR text as an invisible layer.

    Args:
        pages: each page image (or the image already encoded with `encode_image`) with its OCR
            result (same pixel size; the OCR's dpi sets the page size: 2480×3508 pixels at
            300 dpi is an A4 page).
        title: the document title (Info /Title and dc:title).
        metadata: the result's fields (keys of `edge.fields.FIELD_KEYS`, plus the optional
            `chuc_vu_nguoi_ky`), written to the XMP metadata under Nghị định 30's names; `None`
            values and other keys are left out.
        provenance: who digitized the paper original and when (the conversion mark);
            no organisation and the creation time when omitted.
        created: the creation time (timezone-aware; now when omitted).
        read: the fields the officer corrected, each with its value as read (the XMP keeps
            both, `edge.pdf.xmp.document_metadata`).

    Returns:
        The PDF file's bytes.

    Raises:
        PdfError: no pages, an image and its OCR result do not match, or a naive `created`.
    """
    if not pages:
        raise PdfError("a PDF needs at least one page: give assemble_pdf a page image")
    if created is None:
        created = datetime.now(UTC).replace(microsecond=0)
    if created.tzinfo is None:
        raise PdfError("internal error: the PDF's creation time needs a time zone")
    objects = _Objects()
    catalog, page_tree = objects.reserve(), objects.reserve()
    font = _font_object(objects)
    kids = []
    for number, (image, ocr) in enumerate(pages, start=1):
        if (image.width, image.height) != (ocr.width, ocr.height):
            raise PdfError(
                f"page {number}: the image is {image.width}×{image.height} pixels but its OCR "
                f"result is for {ocr.width}×{ocr.height}: OCR the image that goes into the PDF"
            )
        if ocr.dpi <= 0:
            raise PdfError(f"page {number}: resolution {ocr.dpi} dpi is invalid: give the page dpi")
        if ocr.dpi < MIN_DPI:
            log.warning(
                "page %d is %d dpi, below the %d dpi of a digitized copy", number, ocr.dpi, MIN_DPI
            )
        width_pt, height_pt = image.width * 72 / ocr.dpi, image.height * 72 / ocr.dpi
        encoded = image if isinstance(image, EncodedImage) else encode_image(image)
        picture = objects.add_stream(encoded.entries, encoded.data)
        drawing = f"q {_number(width_pt)} 0 0 {_number(height_pt)} 0 0 cm /Im0 Do Q\n"
        content = objects.add_stream(
            b"", (drawing + _text_layer(ocr, height_pt)).encode("ascii"), deflate=True
        )
        kids.append(
            objects.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s]"
                b" /Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 %d 0 R >> >>"
                b" /Contents %d 0 R >>"
                % (
                    page_tree,
                    _number(width_pt).encode(),
                    _number(height_pt).encode(),
                    picture,
                    font,
                    content,
                )
            )
        )
    references = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects.set(page_tree, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (references, len(kids)))
    intent = _output_intent(objects)
    # The identifier hashes the pages (images and text) and the creation time, before the
    # metadata that quotes it is written.
    meta = document_metadata(
        metadata,
        title=title,
        pages=len(kids),
        provenance=provenance or Provenance(),
        created=created,
        creator=PRODUCER,
        document_id=objects.digest(),
        read=read,
    )
    xmp = xmp_packet(meta)
    # PDF/A wants the metadata stream readable without decoding: no /Filter.
    xmp_stream = objects.add_stream(b"/Type /Metadata /Subtype /XML", xmp)
    lang = _text_string(meta.language)
    objects.set(
        catalog,
        b"<< /Type /Catalog /Pages %d 0 R /Metadata %d 0 R /OutputIntents [%d 0 R] /Lang %s >>"
        % (page_tree, xmp_stream, intent, lang),
    )
    info = objects.add(_info(meta.info_entries()))
    pdf = objects.serialise(catalog, info, meta.document_id)
    log.debug("PDF/A assembled: %d pages, %d bytes", len(kids), len(pdf))
    return pdf
