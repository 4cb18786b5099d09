"""`/api/audit`: the audit log of personal data, for auditors (and province admins).

`GET /api/audit` pages through the log newest first with filters (`actor`, `action`,
`record_id`, `from`/`to` on the entry's time) and an opaque cursor bound to the filters and the
account (keyset on the entry's place, so entries written meanwhile never shift a page; a page is
at most `MAX_LIMIT` entries). It answers no total: counting a filtered log that grows with every
read would scan it on every page.

Entries hold personal data: a search's query may be a citizen's name or CCCD (`cccd=...`), an
entry names the record read. An auditor needs them as they are to judge whether a read was
justified, so they are served whole, and the read is itself a disclosure: it is loaded through
`server.repository.disclosures.audit_entries`, which writes one `audit.read` entry with the
request's query in the same transaction (one per page read, never one per entry shown, so
reading the log's reads adds nothing more than any read; a page never contains its own entry).

`GET /api/audit/verify` checks the hash chain (`server.repository.audit.verify_chain`, as
`sohoa server audit verify` does) and names the first entry changed, removed or moved. Its
answer holds no personal data (places and hashes), so it is not audited.

A unit officer gets 403: the log names other units' citizens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import CurrentUser, ReaderDep, SessionDep, require_role
from server.api.params import NO_CONTROL
from server.api.responses import SIGNED_IN, errors
from server.errors import RepositoryError, SearchInputError
from server.models import AuditEntry, Role
from server.repository import audit, disclosures
from server.search.query import CursorCodec, Position

MAX_LIMIT = 200
"""The most entries one page holds."""

router = APIRouter(
    prefix="/audit",
    tags=["audit"],
    dependencies=[Depends(require_role(Role.AUDITOR, Role.PROVINCE_ADMIN))],
    responses=SIGNED_IN,
)


class AuditEntryPublic(BaseModel):
    """One entry of the audit log as stored, with its place and hashes (to check by hand)."""

    seq: int = Field(description="The entry's place in the chain: 1, 2, ...")
    at: dt.datetime
    username: str
    role: str
    action: str = Field(description="record.read, search, audit.read, ... (.refused: refused)")
    record_id: str | None
    query: str | None = Field(description="The request's parameters; may name a citizen.")
    client: str
    purpose: str | None
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    """A page of the audit log, newest first, and the cursor of the next page."""

    items: list[AuditEntryPublic]
    next: str | None = Field(description="Pass as `cursor` for the next page; null: last page.")


class ChainVerdict(BaseModel):
    """The audit log's hash chain, checked."""

    whole: bool
    entries: int = Field(description="How many entries were read.")
    first_bad: int | None = Field(description="The place of the first entry broken, if any.")
    what: str | None = Field(description="What happened to it (changed, removed, moved).")


def _text(max_length: int, description: str) -> Any:
    return Query(max_length=max_length, pattern=NO_CONTROL, description=description)


@router.get("", responses=errors(503))
def read_audit_log(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    reader: ReaderDep,
    actor: Annotated[str | None, _text(64, "Only the entries of this account.")] = None,
    action: Annotated[str | None, _text(32, "Only this action, e.g. search.")] = None,
    record_id: Annotated[str | None, _text(64, "Only the entries naming this record.")] = None,
    since: Annotated[
        dt.datetime | None, Query(alias="from", description="From this time (no zone: UTC).")
    ] = None,
    until: Annotated[
        dt.datetime | None, Query(alias="to", description="Up to this time (no zone: UTC).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, _text(256, "The `next` of the page before.")] = None,
) -> AuditPage:
    """The audit log, newest first, filtered; this read is itself written to the log
    (`audit.read`), since entries may name citizens."""
    which = audit.EntryFilter(actor, action, record_id, _utc(since, "from"), _utc(until, "to"))
    if which.since and which.until and which.since > which.until:
        raise _invalid("to", "to is before from: give a time range that runs forwards", until)
    codec: CursorCodec = request.app.state.cursors
    digest = _digest(which, user.username)
    try:
        before = codec.decode(cursor, digest).key if cursor else None
    except SearchInputError as e:
        raise _invalid("cursor", str(e), cursor) from e
    try:
        entries = disclosures.audit_entries(
            session, reader, which, limit=limit + 1, before=before, query=request.url.query
        )
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    more = len(entries) > limit
    page = entries[:limit]
    return AuditPage(
        items=[_public(e) for e in page],
        next=codec.encode(Position(0, page[-1].seq, 0), digest) if more else None,
    )


@router.get("/verify", responses=errors(503))
def verify_audit_log(session: SessionDep) -> ChainVerdict:
    """Check every entry against its hash and its predecessor's (as `sohoa server audit
    verify`) and name the first one changed, removed or moved."""
    try:
        count, broken = audit.verify_chain(session)
    except SQLAlchemyError as e:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"cannot read the audit log: {type(e).__name__}; try again, and check the "
            "database if it persists",
        ) from e
    return ChainVerdict(
        whole=broken is None,
        entries=count,
        first_bad=broken.seq if broken else None,
        what=broken.what if broken else None,
    )


def _utc(value: dt.datetime | None, parameter: str) -> dt.datetime | None:
    """`value` as an aware UTC time (a time without zone is taken as UTC)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:
        raise _invalid(parameter, f"{parameter} is out of range: give a real time", value) from None


def _digest(which: audit.EntryFilter, who: str) -> str:
    """What a cursor is bound to: these filters as `who` asks them."""
    parts = ["audit", who, which.username, which.action, which.record_id]
    parts += [str(which.since), str(which.until)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _invalid(parameter: str, reason: str, value: object) -> RequestValidationError:
    """A refusal in FastAPI's own 422 shape, which the description states for this route."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", parameter), "msg": reason, "input": str(value)}]
    )


def _public(entry: AuditEntry) -> AuditEntryPublic:
    return AuditEntryPublic.model_validate(entry, from_attributes=True)
