"""`/api/records`: the verified results of the repository and their signed PDFs.

`GET /api/records/{id}/pdf` returns the PDF exactly as the device sent it (its SHA-256 is the
record's result_id); `?variant=ltv` returns the centre's long-term-validation copy instead (the
same bytes plus a DSS and, with a TSA, a document timestamp), once it is made.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse

from server.api.deps import BlobsDep, SessionDep
from server.errors import RepositoryError
from server.models import Record, RecordPublic, RecordsPublic
from server.repository import records
from server.repository.common import MAX_PAGE

log = logging.getLogger(__name__)

router = APIRouter(prefix="/records", tags=["records"])


class PdfVariant(Enum):
    """Which stored PDF of a record to return."""

    ORIGINAL = "original"
    """The bytes the device sent, as signed."""
    LTV = "ltv"
    """The centre's long-term-validation copy (PAdES B-LT / B-LTA)."""


@router.get("")
def list_records(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RecordsPublic:
    """A page of records, newest first, and how many there are in all."""
    page = records.list_records(session, limit=limit, offset=offset)
    return RecordsPublic(
        data=[RecordPublic.model_validate(r) for r in page],
        count=records.count_records(session),
    )


@router.get("/{record_id}")
def read_record(session: SessionDep, record_id: str) -> RecordPublic:
    """One record: its fields, origin and signature verdict."""
    return RecordPublic.model_validate(_record_or_404(session, record_id))


@router.get(
    "/{record_id}/pdf",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "The signed PDF."}},
)
def read_record_pdf(
    session: SessionDep,
    blobs: BlobsDep,
    record_id: str,
    variant: Annotated[PdfVariant, Query()] = PdfVariant.ORIGINAL,
) -> FileResponse:
    """The signed PDF exactly as the device sent it (its SHA-256 is the record's result_id), or
    with `variant=ltv` the centre's long-term-validation copy (404 until it is made)."""
    record = _record_or_404(session, record_id)
    stored = record.pdf_path
    filename = f"{record.result_id}.pdf"
    if variant is PdfVariant.LTV:
        if record.ltv_pdf_path is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"record {record_id} has no long-term copy yet "
                f"(ltv_status {record.ltv_status.value})",
            )
        stored = record.ltv_pdf_path
        filename = f"{record.result_id}-{record.ltv_status.value}.pdf"
    try:
        path = blobs.resolve(stored)
    except RepositoryError as e:
        log.error("record %s points outside the blob store", record_id)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, detail=str(e)) from e
    if not path.is_file():
        log.error("the PDF of record %s is missing from the blob store", record_id)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"the signed PDF of record {record_id} is missing from the blob store",
        )
    return FileResponse(path, media_type="application/pdf", filename=filename)


def _record_or_404(session: SessionDep, record_id: str) -> Record:
    record = records.get_record(session, record_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no record {record_id}")
    return record
