"""The outbox queues only the fields signed into the PDF's XMP (`edge.pdf.xmp.signed_metadata`):
the header travels unsigned, and the server refuses one that differs. Real PDFs made by
`edge.pdf.assemble`, one signed on a SoftHSM token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from edge.errors import OutboxError
from edge.ocr.model import OcrPage
from edge.pdf.assemble import assemble_pdf
from edge.signing.pades import DocumentSigner
from edge.sync.outbox import Outbox
from tests.fixtures.token import UNIT, SigningIdentity, make_pdf

CREATED = "2025-04-01T03:00:00+00:00"
FIELDS: dict[str, str | None] = {
    "so_ky_hieu": "12/QĐ-UBND",
    "ho_ten": "Trần Thị Bình",
    "cccd": None,
}


def assembled(fields: dict[str, str | None] = FIELDS) -> bytes:
    image = Image.new("L", (827, 1169), 255)
    return assemble_pdf([(image, OcrPage("", (), 827, 1169, 100, 0.0))], metadata=fields)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox") as box:
        yield box


def test_the_signed_fields_are_queued(outbox: Outbox, signing_identity: SigningIdentity) -> None:
    signer = DocumentSigner(signing_identity.token, signing_identity.key_id, organisation=UNIT)
    signed = signer.sign(assembled())
    result_id = outbox.add(signed, {**FIELDS, "so_ky_hieu": "12 / QĐ-UBND"}, CREATED)
    assert outbox.get(result_id).fields["ho_ten"] == FIELDS["ho_ten"]


def test_fields_that_differ_from_the_xmp_are_refused_naming_the_key(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="cccd") as refused:
        outbox.add(assembled(), {**FIELDS, "cccd": "000000000001"}, CREATED)
    assert "000000000001" not in str(refused.value) and "before signing" in str(refused.value)
    assert outbox.pending() == []


def test_header_fields_beside_a_pdf_without_them_are_refused(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="carries no fields"):
        outbox.add(make_pdf(), {"ho_ten": "Nguyen Van Forged"}, CREATED)
    assert outbox.add(make_pdf(), {"ho_ten": None}, CREATED)  # nothing claimed: queued


def test_a_page_count_other_than_the_signed_one_is_refused(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="page count"):
        outbox.add(assembled(), FIELDS, CREATED, {"pages": "3"})
