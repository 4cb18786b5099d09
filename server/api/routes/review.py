"""`/api/review`: the review queue — versions that conflict with the current version of their
document, and documents under Nghị định 30's duplicate warning — and reviewers' decisions
(`server.repository.reviews`).

A province admin reviews every unit's cases, a unit officer those whose records are all of the
units it sees; another is answered 403 exactly as a case that does not exist. Reading a case
shows citizens' data side by side: each read and each decision is audited, by the code that
loads it (`server.repository.disclosures`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from server.api.deps import CurrentUser, Principal, ReaderDep, SessionDep, require_role
from server.api.params import NO_CONTROL
from server.api.responses import PARSED_BODY, SIGNED_IN, errors
from server.api.routes.search import _visible
from server.errors import RepositoryError, ReviewError, ReviewInputError
from server.models import RecordPublic, ReviewKind, ReviewVerdict, Role
from server.repository import disclosures
from server.repository.reviews import MAX_REASON, Case

router = APIRouter(
    prefix="/review",
    tags=["review"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)
_NOT_YOURS = errors(403, _403="Not a case this account may see (or no such case).")
CaseKey = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-zA-Z-]+$")]


class CasePublic(BaseModel):
    """A case of the queue and its records (a conflict: the conflicting version first)."""

    kind: ReviewKind
    key: str = Field(description="The conflicting record's id, or the duplicate key.")
    newest: dt.datetime
    records: list[RecordPublic]


class DecisionPublic(BaseModel):
    """A reviewer's decision."""

    kind: ReviewKind
    verdict: ReviewVerdict
    reason: str
    username: str
    decided_at: dt.datetime
    record_id: str | None
    other_id: str | None
    duplicate_key: str | None


class CaseWithDecisions(CasePublic):
    """A case and the decisions taken on it, newest first."""

    decisions: list[DecisionPublic]


class DecisionRequest(BaseModel):
    """A reviewer's decision: the verdict and why."""

    verdict: ReviewVerdict = Field(
        description="conflict: replace or reject; duplicate: distinct or duplicate."
    )
    reason: str = Field(min_length=5, max_length=MAX_REASON, pattern=NO_CONTROL)


def _case(case: Case) -> CasePublic:
    return CasePublic(
        kind=case.kind,
        key=case.key,
        newest=case.newest,
        records=[RecordPublic.model_validate(r) for r in case.records],
    )


def _not_found(user: Principal, kind: ReviewKind, key: str) -> HTTPException:
    if user.role is Role.PROVINCE_ADMIN:
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {kind.value} case {key}")
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        detail=f"{kind.value} case {key} is not among the cases of your unit: ask a province "
        "admin if you need it",
    )


@router.get("", responses=errors(503))
def review_queue(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CasePublic]:
    """The open cases, newest first: conflicts waiting, and duplicate warnings undecided."""
    visible = _visible(session, user)
    try:
        cases = disclosures.review_queue(session, reader, visible=visible, limit=limit)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    return [_case(c) for c in cases]


@router.get("/{kind}/{key}", responses={**_NOT_YOURS, **errors(404, 503)})
def review_case(
    session: SessionDep, user: CurrentUser, reader: ReaderDep, kind: ReviewKind, key: CaseKey
) -> CaseWithDecisions:
    """A case, its records side by side, and the decisions taken on it."""
    visible = _visible(session, user)
    try:
        found = disclosures.review_case(session, reader, kind, key, visible=visible)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    if found is None:
        raise _not_found(user, kind, key)
    case, decisions = found
    return CaseWithDecisions(
        **_case(case).model_dump(),
        decisions=[DecisionPublic.model_validate(d, from_attributes=True) for d in decisions],
    )


@router.post(
    "/{kind}/{key}",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_YOURS,
        **PARSED_BODY,
        **errors(404, 409, 422, 503, _409="The case was decided meanwhile: reload it."),
    },
)
def decide(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    kind: ReviewKind,
    key: CaseKey,
    body: DecisionRequest,
) -> DecisionPublic:
    """Decide a case: replace or reject a conflicting version; find documents under the
    duplicate warning distinct (the warning is lifted) or duplicates indeed."""
    visible = _visible(session, user)
    try:
        made = disclosures.decide_review(
            session, reader, kind, key, body.verdict, body.reason, visible=visible
        )
    except ReviewInputError as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "verdict"), "msg": str(e), "input": None}]
        ) from e
    except ReviewError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(e)) from e
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    if made is None:
        raise _not_found(user, kind, key)
    return DecisionPublic.model_validate(made, from_attributes=True)
