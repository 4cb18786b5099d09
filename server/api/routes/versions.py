"""`/api/results/{id}/versions` and `/api/results/{id}/corrections`: a document's history, and
an officer's correction of one field, which is a new version (`server.repository.versions`).

The same people may see a result's versions as may read it (a province admin any, a unit
officer those of its unit's subtree and of the units merged into it; versions of other units are
left out); another unit's result is answered 403 exactly as one that does not exist, as
`/api/records/{id}` does. Corrections: province admins and unit officers (their own units'
results only). A value is checked here before anything is written (a CCCD is 12 digits, a
date is YYYY-MM-DD on the calendar, text is what the signed XMP could carry); a bad one is
answered 422 with the reason. Loads and corrections are audited in the same transaction
(`server.repository.disclosures`).
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field, field_validator, model_validator

from protocol.messages import FIELD_KEYS, MAX_TEXT
from protocol.xmltext import xml_text_problem
from server.api.deps import CurrentUser, Principal, ReaderDep, SessionDep, require_role
from server.api.responses import PARSED_BODY, SIGNED_IN, errors
from server.api.routes.records import RecordId
from server.api.routes.search import _visible
from server.errors import CorrectionConflictError, RepositoryError
from server.models import CorrectionPublic, RecordVersionPublic, RecordVersionsPublic, Role
from server.repository import disclosures

router = APIRouter(
    prefix="/results",
    tags=["records"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)

_CCCD = re.compile(r"^[0-9]{12}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATE_FIELDS = frozenset({"ngay_ban_hanh", "ngay_sinh"})
MIN_YEAR, MAX_YEAR = 1880, 2100
"""Dates on results (as the appliance checks them): nobody alive was born before 1880."""

_RESPONSES = errors(
    403,
    404,
    503,
    _403="Not among the results of your unit (or no such result), or no unit.",
    _404="No such result (province admin).",
    _503="The audit entry could not be written, so nothing was served.",
)


class CorrectionRequest(BaseModel):
    """One field of a result, corrected, and why."""

    field: str = Field(description=f"One of {', '.join(FIELD_KEYS)}.")
    value: str = Field(
        max_length=MAX_TEXT,
        description="The corrected value: a CCCD of 12 digits, a date as YYYY-MM-DD.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Why (kept with the version).")

    @field_validator("field")
    @classmethod
    def _known(cls, field: str) -> str:
        if field not in FIELD_KEYS:
            raise ValueError(f"field must be one of {', '.join(FIELD_KEYS)}")
        return field

    @field_validator("reason")
    @classmethod
    def _reason(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("reason must say why the field is corrected")
        problem = xml_text_problem(reason)
        if problem:
            raise ValueError(f"reason {problem}")
        return reason.strip()

    @model_validator(mode="after")
    def _value(self) -> CorrectionRequest:
        value = self.value.strip()
        problem = xml_text_problem(value)
        if problem:
            raise ValueError(f"value {problem}")
        if not value:
            raise ValueError(f"value of {self.field} is empty: give the corrected value")
        if self.field == "cccd" and not _CCCD.match(value):
            raise ValueError("a cccd is a citizen identity number of 12 digits")
        if self.field in DATE_FIELDS:
            _check_date(value, self.field)
        self.value = value
        return self


def _check_date(value: str, field: str) -> None:
    bad = f"{field} must be a date as YYYY-MM-DD (e.g. 2022-01-05)"
    if not _DATE.match(value):
        raise ValueError(bad)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{bad}: {value} is not on the calendar") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(f"{bad}, between {MIN_YEAR} and {MAX_YEAR}")


class CorrectionMadePublic(BaseModel):
    """A correction, made: the new version and what was corrected."""

    record: RecordVersionPublic
    correction: CorrectionPublic


@router.get("/{record_id}/versions", responses=_RESPONSES)
def result_versions(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    record_id: RecordId,
) -> RecordVersionsPublic:
    """Every version of the result's document, oldest first (then those waiting for review),
    each with its state and the correction that made it, if any."""
    visible = _visible(session, user)
    try:
        found = disclosures.record_versions(session, reader, record_id, visible=visible)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    if found is None:
        raise _not_found(user, record_id, visible)
    asked, rows = found
    return RecordVersionsPublic(
        record_id=asked.id,
        natural_key=asked.natural_key,
        data=[
            RecordVersionPublic.model_validate(
                {
                    **record.model_dump(),
                    "correction": (
                        CorrectionPublic.model_validate(c, from_attributes=True) if c else None
                    ),
                }
            )
            for record, c in rows
        ],
    )


@router.post(
    "/{record_id}/corrections",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_RESPONSES,
        **PARSED_BODY,
        **errors(
            409,
            422,
            _409="The version is superseded, or the correction collides.",
            _422="The field, value or reason is not acceptable; `detail` says why.",
        ),
    },
)
def correct_result(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    record_id: RecordId,
    body: CorrectionRequest,
) -> CorrectionMadePublic:
    """Correct one field of the result's current version, with a reason: the correction is a
    new version (the signed original and the version corrected are kept as they were)."""
    visible = _visible(session, user)
    try:
        made = disclosures.correct_record(
            session,
            reader,
            record_id,
            visible=visible,
            field=body.field,
            value=body.value,
            reason=body.reason,
        )
    except CorrectionConflictError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(e)) from e
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    if made is None:
        raise _not_found(user, record_id, visible)
    return CorrectionMadePublic(
        record=RecordVersionPublic.model_validate(made.record.model_dump()),
        correction=CorrectionPublic.model_validate(made.correction, from_attributes=True),
    )


def _not_found(user: Principal, record_id: str, visible: frozenset[str] | None) -> HTTPException:
    """403 for an officer (another unit's result and none at all alike), 404 for an admin."""
    if visible is not None:
        return HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"result {record_id} is not among the results of your unit ({user.unit}): "
            "ask a province admin if you need it",
        )
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no result {record_id}")
