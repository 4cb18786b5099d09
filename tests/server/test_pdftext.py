"""`server.pdftext`: the words of a PDF's text layer reach the record and free-text search; a
PDF without one, or not a PDF, gives no text and no error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.db import session_scope
from server.models import Record
from server.pdftext import text_layer
from server.repository import devices, records
from server.search.index import SearchIndex
from server.search.query import SearchQuery, text_words
from tests.fixtures.token import make_pdf


def pdf_with_text(words: str) -> bytes:
    """A one-page PDF whose content stream shows `words` (ASCII) in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({words}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


class Verdict:
    valid = True
    signer_common_name = "text-01"
    signing_time: dt.datetime | None = None


def test_text_layer_words_and_none() -> None:
    assert text_layer(pdf_with_text("Giay chung nhan quyen su dung dat")) == (
        "Giay chung nhan quyen su dung dat"
    )
    assert text_layer(make_pdf()) is None  # an image only
    assert text_layer(b"not a pdf at all") is None


def test_the_text_layer_is_searchable(db_engine: Engine, tmp_path: Path) -> None:
    pdf = pdf_with_text("Bien ban ban giao mat bang thua dat so 217")
    with session_scope(db_engine) as s:
        devices.register_device(s, "text-01", "UBND xã Vạn Thắng", sha256_hex(b"cert"))
        outcome = records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id="text-01",
            fields={"ho_ten": "Lê Văn Tám"},
            verdict=Verdict(),
            pdf_path="x.pdf",
            pdf_size=len(pdf),
            ocr_text=text_layer(pdf),
        )
        stored = s.get(Record, outcome.record_id)
        assert stored is not None and stored.ocr_text is not None and "217" in stored.ocr_text
    index = SearchIndex(tmp_path / "search", db_engine)
    hits = index.search(SearchQuery(text=text_words("ban giao mat bang", "q")), 5)
    assert hits.ids == [outcome.record_id]
