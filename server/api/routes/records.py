"""`/api/records`: the verified results of the repository and their signed PDFs.

`GET /api/records/{id}/pdf` returns the PDF exactly as the device sent it (its SHA-256 is the
record's result_id); `?variant=ltv` returns the centre's long-term-validation copy instead (the
same bytes plus a DSS and, with a TSA, a document timestamp), once it is made.

Records carry personal data: a province admin sees every unit's, a unit officer only those of
its unit's subtree and of the units merged into it (`server.repository.records._of_unit`; a
record of no unit is a province admin's only); another unit's record is answered 403 exactly as
one that does not exist, so an officer cannot learn which ids exist elsewhere; an auditor none.
Every load is audited by the loading code itself (`server.repository.disclosures`), refusals
included; the caller may say why with `X-Purpose` or `?purpose=`.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import FileResponse

from server.api.deps import (
    BlobsDep,
    CurrentUser,
    Principal,
    ReaderDep,
    SessionDep,
    require_role,
)
from server.api.params import MAX_OFFSET, NO_CONTROL
from server.api.responses import SIGNED_IN, errors
from server.errors import RepositoryError
from server.models import Record, RecordPublic, RecordsPublic, Role
from server.repository import disclosures
from server.repository.audit import Reader
from server.repository.common import MAX_PAGE
from server.repository.records import RecordState

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/records",
    tags=["records"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)
_NOT_YOURS = (
    "Not among the results of your unit (answered so whether it exists or not), or no unit."
)
RecordId = Annotated[str, Path(max_length=64, pattern=NO_CONTROL)]


class PdfVariant(Enum):
    """Which stored PDF of a record to return."""

    ORIGINAL = "original"
    """The bytes the device sent, as signed."""
    LTV = "ltv"
    """The centre's long-term-validation copy (PAdES B-LT / B-LTA)."""


@router.get("", responses=errors(403, 503, _403="The account is a unit officer without a unit."))
def list_records(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    state: Annotated[
        RecordState | None,
        Query(
            description="Only the records in this state: current, superseded, needs_review "
            "(conflicting versions), duplicate_warning (Nghị định 30's duplicate warning)."
        ),
    ] = None,
) -> RecordsPublic:
    """A page of records (every version, each with its `merge_state`), newest first, and how
    many there are in all (a unit officer's: its unit's)."""
    try:
        page, count = disclosures.list_records(
            session, reader, limit=limit, offset=offset, unit=_unit_of(user), state=state
        )
    except RepositoryError as e:
        raise _not_audited(e) from e
    return RecordsPublic(data=[RecordPublic.model_validate(r) for r in page], count=count)


@router.get("/{record_id}", responses=errors(403, 404, 503, _403=_NOT_YOURS))
def read_record(
    session: SessionDep, user: CurrentUser, reader: ReaderDep, record_id: RecordId
) -> RecordPublic:
    """One record: its fields, origin and signature verdict."""
    return RecordPublic.model_validate(
        _record_or_404(session, user, reader, record_id, "record.read")
    )


@router.get(
    "/{record_id}/pdf",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The signed PDF.",
        },
        **errors(
            403,
            404,
            500,
            503,
            _403=_NOT_YOURS,
            _404="No such record, or (`variant=ltv`) no long-term copy yet.",
        ),
    },
)
def read_record_pdf(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    blobs: BlobsDep,
    record_id: RecordId,
    variant: Annotated[PdfVariant, Query()] = PdfVariant.ORIGINAL,
) -> FileResponse:
    """The signed PDF exactly as the device sent it (its SHA-256 is the record's result_id), or
    with `variant=ltv` the centre's long-term-validation copy (404 until it is made)."""
    record = _record_or_404(session, user, reader, record_id, "record.pdf")
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


def _unit_of(user: Principal) -> str | None:
    """The unit (a code) whose view of the records `user` has; None for all of them."""
    if user.role is Role.PROVINCE_ADMIN:
        return None
    if user.unit is None:  # a unit officer without a unit sees nothing, never everything
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"account {user.username} has no unit: ask a province admin to set one",
        )
    return user.unit


def _not_audited(error: RepositoryError) -> HTTPException:
    log.error("a load of personal data was not served: its audit entry could not be written")
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error))


def _record_or_404(
    session: SessionDep, user: Principal, reader: Reader, record_id: str, action: str
) -> Record:
    unit = _unit_of(user)
    try:
        record = disclosures.read_record(session, reader, record_id, unit=unit, action=action)
    except RepositoryError as e:
        raise _not_audited(e) from e
    if record is None and unit is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"record {record_id} is not among the results of your unit ({unit}): "
            "ask a province admin if you need it",
        )
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no record {record_id}")
    return record
