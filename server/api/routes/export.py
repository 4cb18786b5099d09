"""`GET /api/results/{id}/export.zip`: a result exported per Nghị định 30/2020, its signed PDF
exactly as the appliance sent it and its metadata as XML (`server.export_nd30`), in one ZIP.

The same people may export a result as may read it (`server.api.routes.records`): a province
admin any, a unit officer those of its unit's subtree and of the units merged into it; another
unit's result is answered 403 exactly as one that does not exist. The load goes through
`server.repository.disclosures.export_record`, which writes the audit entry (`record.export`,
or `record.export.refused`) in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response, status

from server.api.deps import BlobsDep, CurrentUser, ReaderDep, SessionDep, require_role
from server.api.responses import SIGNED_IN, errors
from server.api.routes.records import RecordId, _not_audited, _unit_of
from server.errors import RepositoryError
from server.export_nd30 import export_zip
from server.models import Role
from server.repository import disclosures

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/results",
    tags=["records"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A ZIP of `<result_id>.pdf` (the signed original) and `<result_id>.xml` "
        "(Nghị định 30 Phụ lục VI metadata).",
    },
    **errors(
        403,
        404,
        500,
        503,
        _403="Not among the results of your unit (or no such result), or no unit.",
        _404="No such result (province admin).",
        _503="The audit entry could not be written, so nothing was served.",
    ),
}


@router.get("/{record_id}/export.zip", response_class=Response, responses=_RESPONSES)
def export_result(
    session: SessionDep, user: CurrentUser, reader: ReaderDep, blobs: BlobsDep, record_id: RecordId
) -> Response:
    """The result's Nghị định 30 export: its signed PDF (SHA-256 = result_id) and its metadata
    as XML, zipped."""
    unit = _unit_of(user)
    try:
        record = disclosures.export_record(session, reader, record_id, unit=unit)
    except RepositoryError as e:
        raise _not_audited(e) from e
    if record is None and unit is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"result {record_id} is not among the results of your unit ({unit}): "
            "ask a province admin if you need it",
        )
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no result {record_id}")
    try:
        pdf = blobs.resolve(record.pdf_path).read_bytes()
        body = export_zip(record, pdf)
    except (RepositoryError, OSError) as e:
        log.error("cannot export record %s: its signed PDF is not in the blob store", record_id)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"the signed PDF of result {record_id} cannot be read from the blob store: "
            f"{e}; tell the repository's operator",
        ) from e
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{record.result_id}-nd30.zip"'},
    )
