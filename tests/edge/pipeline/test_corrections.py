"""The officer's corrections travel inside the signed document: `with_fields` assembles the PDF
again with them before signing (real OCR, a real SoftHSM token), the outbox queues the corrected
fields beside it and refuses the fields as first read, which the signed XMP no longer says."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import FieldError, OutboxError, PdfError
from edge.ocr import OcrPool
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import signed_metadata
from edge.pipeline.run import ProcessedDocument, StageSeconds, process_document, with_fields
from edge.pipeline.stages import PageImages
from edge.sample_document import render_sample_result
from edge.signing.pades import DocumentSigner
from edge.sync.outbox import Outbox
from tests.fixtures.token import UNIT, SigningIdentity

CREATED = "2025-04-01T03:00:00+00:00"
CORRECTIONS = {"ho_ten": "Đặng Thị Hiệu Đính", "cccd": "036190000123"}


@pytest.fixture(scope="module")
def processed(pool: OcrPool) -> ProcessedDocument:
    sample = render_sample_result(2)
    return process_document([PageImages.upright(sample.image, 300)], pool)


def test_corrected_fields_are_signed_into_the_xmp_and_only_they_can_be_queued(
    processed: ProcessedDocument, signing_identity: SigningIdentity, tmp_path: Path
) -> None:
    corrected = with_fields(processed, CORRECTIONS)
    assert corrected.fields == {**processed.fields, **CORRECTIONS}
    assert corrected.pages == processed.pages
    assert check_pdfa(corrected.pdf) == []  # still PDF/A: the Info dictionary follows the XMP
    signer = DocumentSigner(signing_identity.token, signing_identity.key_id, organisation=UNIT)
    signed = signer.sign(corrected.pdf)
    in_xmp = signed_metadata(signed)
    assert in_xmp is not None and in_xmp.pages == 1
    assert {k: in_xmp.fields[k] for k in corrected.fields} == corrected.fields
    # The values as read are signed too, for the corrected fields only: the server keeps both.
    assert in_xmp.read == {k: processed.fields.get(k) for k in CORRECTIONS}
    assert all(processed.fields.get(k) != v for k, v in CORRECTIONS.items())
    with Outbox(tmp_path / "outbox") as outbox:
        with pytest.raises(OutboxError, match="ho_ten") as refused:
            outbox.add(signed, processed.fields, CREATED)  # the fields as first read
        assert CORRECTIONS["ho_ten"] not in str(refused.value)
        result_id = outbox.add(signed, corrected.fields, CREATED)
        assert dict(outbox.get(result_id).fields) == corrected.fields


def test_corrected_twice_the_value_read_is_still_the_first_reading(
    processed: ProcessedDocument,
) -> None:
    once = with_fields(processed, {"ho_ten": "Tên Thứ Nhất"})
    twice = with_fields(once, {"ho_ten": CORRECTIONS["ho_ten"], "cccd": CORRECTIONS["cccd"]})
    in_xmp = signed_metadata(twice.pdf)
    assert in_xmp is not None
    assert in_xmp.read == {k: processed.fields.get(k) for k in CORRECTIONS}
    back = with_fields(twice, {k: processed.fields.get(k) for k in CORRECTIONS})
    restored = signed_metadata(back.pdf)
    assert restored is not None and restored.read == {}  # put back as read: nothing corrected


def test_a_document_that_kept_no_pages_cannot_be_corrected() -> None:
    bare = ProcessedDocument(pages=(), fields={}, pdf=b"", seconds=StageSeconds())
    with pytest.raises(PdfError, match="process the pages again"):
        with_fields(bare, CORRECTIONS)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\ufffe"])
def test_a_correction_the_signed_document_cannot_carry_is_refused_naming_the_field(
    processed: ProcessedDocument, char: str
) -> None:
    pasted = {**CORRECTIONS, "ho_ten": f"Đặng Thị{char} Hiệu Đính"}
    with pytest.raises(FieldError, match=f"field ho_ten .*U\\+{ord(char):04X}.*retype") as refused:
        with_fields(processed, pasted)
    assert "Đặng" not in str(refused.value)
