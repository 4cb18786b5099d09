"""`/api/search`, `/api/citizens/{cccd}/results`, `/api/results/{id}/reuse`: finding the results
the state already issued to a citizen, and reusing one for a new dossier.

Search is accent-insensitive and ranked (`server.search.index`), with filters and an opaque
cursor; a citizen's results come straight from the database, newest first, each with its
validity and how often it was reused. A province admin sees every unit; a unit officer the
units its own unit covers (`units.visible_units`, merges included): a result elsewhere is
answered 403 exactly as one that does not exist, and a filter naming another unit is refused.
Every parameter is checked before use; a bad one is answered 422 with the reason. Every load
of personal data is audited by the code that loads it (`server.repository.disclosures`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from server.api.deps import CurrentUser, Principal, ReaderDep, SessionDep, require_role
from server.api.params import NO_CONTROL
from server.api.responses import SIGNED_IN, errors
from server.errors import RepositoryError, SearchError, SearchInputError
from server.models import MergeState, Record, Role
from server.repository import disclosures, results
from server.search.index import SearchIndex
from server.search.query import (
    MAX_LIMIT,
    CursorCodec,
    SearchQuery,
    check_cccd,
    check_code,
    check_dates,
    check_doc_type,
    check_so_ky_hieu,
    text_words,
)

router = APIRouter(
    tags=["search"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)

_DOSSIER = re.compile(r"^([0-9A-Za-z.]{1,32})-([0-9]{6})-([0-9]{4})$")
_CCCD_PATTERN = r"^[0-9]{12}$"
_BAD_INPUT = errors(422, 503)
_DENIED = errors(403, _403="Outside the units this account may see (or no unit set).")


class ResultItem(BaseModel):
    """A result as search and citizen lookup show it."""

    id: str
    result_id: str
    so_ky_hieu: str | None
    ngay_ban_hanh: str | None
    co_quan_ban_hanh: str | None
    loai_van_ban: str | None
    trich_yeu: str | None
    ho_ten: str | None
    cccd: str | None
    ngay_sinh: str | None
    unit_code: str | None
    procedure_code: str | None
    received_at: dt.datetime
    signature_valid: bool
    version: int = Field(default=1, description="Its place among its document's versions.")
    merge_state: MergeState = Field(
        default=MergeState.CURRENT,
        description="current; superseded (a search finds old versions too: see "
        "`superseded_by`); needs_review (conflicts with the current version).",
    )
    superseded_by: str | None = None
    duplicate_warning: bool = Field(
        default=False,
        description="Nghị định 30's duplicate warning: another document of its issuer bears "
        "its số ký hiệu in the same year.",
    )


class SearchPage(BaseModel):
    """A page of search results, how many match in all, and the cursor of the next page."""

    items: list[ResultItem]
    total: int
    next: str | None = Field(description="Pass as `cursor` for the next page; null: last page.")


class CitizenResult(ResultItem):
    """A result on file for a citizen, with whether it can be relied on and its reuses."""

    validity: str = Field(
        description="valid (its signature verified) or signature_invalid (do not reuse)."
    )
    reuse_count: int


class CitizenResults(BaseModel):
    """What is on file for one citizen, newest first."""

    cccd: str
    items: list[CitizenResult]


class ReuseRequest(BaseModel):
    """The new dossier a result is reused for."""

    dossier_code: str = Field(
        max_length=64,
        description="The dossier's code per Thông tư 01/2018/TT-VPCP: <unit code>-YYMMDD-NNNN, "
        "e.g. 000.00.15.H41-251206-0001.",
    )


class ReuseRecorded(BaseModel):
    """A reuse, recorded."""

    record_id: str
    dossier_code: str
    recorded: bool = Field(description="False: this dossier had already reused this result.")
    reuse_count: int


@router.get("/search", responses={**_BAD_INPUT, **_DENIED})
def search(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    cccd: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=2000)] = None,
    so_ky_hieu: Annotated[str | None, Query(max_length=256)] = None,
    procedure: Annotated[str | None, Query(max_length=256)] = None,
    doc_type: Annotated[str | None, Query(max_length=256)] = None,
    unit: Annotated[str | None, Query(max_length=256)] = None,
    issued_from: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    issued_to: Annotated[str | None, Query(alias="to", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> SearchPage:
    """Results matching free text `q` (fields and recognised text) and the filters, accents
    ignored, ranked: every word as typed first, then with its tones as typed, then the rest;
    newest first within each. `unit` takes the unit's subtree; `doc_type` the result type as
    printed (accents ignored); `from`/`to` bound the issue date (YYYY-MM-DD, inclusive)."""
    visible = _visible(session, user)
    try:
        start, end = check_dates(issued_from, issued_to)
        query = SearchQuery(
            text=text_words(q, "q"),
            name=text_words(name, "name"),
            cccd=check_cccd(cccd),
            so_ky_hieu=check_so_ky_hieu(so_ky_hieu),
            procedure=check_code(procedure, "procedure"),
            doc_type=check_doc_type(doc_type),
            units=_units_filter(session, check_code(unit, "unit"), visible),
            issued_from=start,
            issued_to=end,
        )
        codec: CursorCodec = request.app.state.cursors
        digest = query.digest(user.username)
        after = codec.decode(cursor, digest) if cursor else None
    except SearchInputError as e:
        raise _invalid(("query", e.parameter), str(e), e.value) from e
    index: SearchIndex = request.app.state.search
    try:
        hits = index.search(query, limit, after)
    except SearchError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    try:
        records = disclosures.search_results(
            session, reader, hits.ids, visible=visible, query=request.url.query
        )
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    return SearchPage(
        items=[_item(r) for r in records],
        total=hits.total,
        next=codec.encode(hits.next, digest) if hits.next is not None else None,
    )


@router.get("/citizens/{cccd}/results", responses={**_BAD_INPUT, **_DENIED})
def citizen_results(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    cccd: Annotated[str, Path(pattern=_CCCD_PATTERN, description="The citizen's CCCD: 12 digits.")],
) -> CitizenResults:
    """Every result on file for the citizen (within the units this account sees), newest
    issue first, each with its validity and how many dossiers reused it."""
    visible = _visible(session, user)
    try:
        found = disclosures.citizen_results(session, reader, cccd, visible=visible)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    counts = results.reuse_counts(session, [r.id for r in found])
    return CitizenResults(
        cccd=cccd,
        items=[
            CitizenResult(
                **_item(r).model_dump(),
                validity="valid" if r.signature_valid else "signature_invalid",
                reuse_count=counts.get(r.id, 0),
            )
            for r in found
        ],
    )


@router.post(
    "/results/{record_id}/reuse",
    responses={
        **_BAD_INPUT,
        **_DENIED,
        **errors(
            400,
            404,
            409,
            _404="No such result.",
            _409="Not the current version of its document: reuse the one `detail` names.",
        ),
    },
)
def reuse_result(
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    record_id: Annotated[str, Path(max_length=36, pattern=NO_CONTROL)],
    body: ReuseRequest,
) -> ReuseRecorded:
    """Record that this result is reused for a new dossier (once per dossier) and count it."""
    code = _check_dossier(body.dossier_code)
    visible = _visible(session, user)
    try:
        record = disclosures.result_for_reuse(session, reader, record_id, visible=visible)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    if record is None and visible is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"result {record_id} is not among the results of your unit: ask a province "
            "admin if you need it",
        )
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no result {record_id}")
    if record.merge_state is not MergeState.CURRENT:
        # A dossier must rest on what the repository answers for the document today.
        raise HTTPException(status.HTTP_409_CONFLICT, detail=_not_reusable(record))
    try:
        recorded = results.record_reuse(session, record.id, code, user.username)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    count = results.reuse_counts(session, [record.id]).get(record.id, 0)
    return ReuseRecorded(
        record_id=record.id, dossier_code=code, recorded=recorded, reuse_count=count
    )


def _not_reusable(record: Record) -> str:
    """Why a version that is not current cannot be reused, and what to do."""
    if record.merge_state is MergeState.SUPERSEDED:
        return (
            f"result {record.id} is superseded by {record.superseded_by}: reuse the current "
            "version (GET /api/results/{id}/versions lists them)"
        )
    return (
        f"result {record.id} waits for review (it conflicts with the current version of its "
        "document): reuse the current version, or have it corrected first"
    )


def _visible(session: SessionDep, user: Principal) -> frozenset[str] | None:
    """The unit codes `user` may see; None for all of them."""
    if user.role is Role.PROVINCE_ADMIN:
        return None
    if user.unit is None:  # a unit officer without a unit sees nothing, never everything
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"account {user.username} has no unit: ask a province admin to set one",
        )
    return results.visible_units_of(session, user.unit)


def _units_filter(
    session: SessionDep, unit: str | None, visible: frozenset[str] | None
) -> frozenset[str] | None:
    """The units a result must belong to: `unit`'s subtree (merges included) within
    `visible`."""
    if unit is None:
        return visible
    subtree = results.subtree_of(session, unit)
    if not subtree:
        raise SearchInputError(
            "unit", f"unit {unit} is not a unit of the repository: give a unit code"
        )
    if visible is not None and unit not in visible:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"unit {unit} is outside the units your account sees: ask a province admin",
        )
    return subtree if visible is None else subtree & visible


def _check_dossier(code: str) -> str:
    """A dossier code of Thông tư 01/2018/TT-VPCP: <unit code>-YYMMDD-NNNN (a real date)."""
    match = _DOSSIER.match(code.strip())
    bad = (
        "dossier_code must be <unit code>-YYMMDD-NNNN (Thông tư 01/2018/TT-VPCP), "
        "e.g. 000.00.15.H41-251206-0001"
    )
    if match is None:
        raise _invalid(("body", "dossier_code"), bad, code)
    yymmdd = match.group(2)
    try:
        dt.date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        raise _invalid(("body", "dossier_code"), f"{bad}: {yymmdd} is not a date", code) from None
    if match.group(3) == "0000":
        raise _invalid(("body", "dossier_code"), f"{bad}: numbering starts at 0001", code)
    return match.group(0)


def _invalid(loc: tuple[str, str], reason: str, value: object) -> RequestValidationError:
    """A refusal in FastAPI's own 422 shape (`detail`: a list of {loc, msg, type}), so that the
    OpenAPI schema describes every 422 of these routes, ours and the framework's alike."""
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": reason, "input": value}]
    )


def _item(record: Record) -> ResultItem:
    return ResultItem.model_validate(record, from_attributes=True)
