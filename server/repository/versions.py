"""The versions of a document: which record is current, which it superseded, which conflict
with it; Nghị định 30's duplicate warning; officers' corrections.

A result's identity is the SHA-256 of its signed PDF (`result_id`): the same PDF delivered
twice is one record (`records.merge_result`). Beside it, a document has a **natural key**: its
issuer (`co_quan_ban_hanh`), số ký hiệu and issue date (`ngay_ban_hanh`), each normalised (NFC,
casefolded, runs of whitespace made one space; the số ký hiệu without spaces and without the
leading zeros of its number, "05 / QĐ-UBND" = "5/qđ-ubnd"), stored as a 128-bit hash of the three
(`Record.natural_key`). A record missing one of the three has no natural key and is never
grouped with another.

The merge rule, applied under a lock on the natural key (`lock`), for a result whose PDF is not
stored yet:
1. No natural key, or no current record under it: the result is stored `current`, version 1.
2. A current record under the key whose **identity fields** agree (`IDENTITY_FIELDS`: the
   citizen's name, CCCD, date of birth and the result type; two values agree when they are
   equal after normalisation or one of them is missing): the result is a new version. It is
   stored `current` with version = the current's + 1 and `supersedes` = its id; the old row is
   marked `superseded` with `superseded_by` = the new id. Its document columns, its PDF and its
   hash are never touched: only `merge_state`, `superseded_by` and `duplicate_warning`, the
   merge's bookkeeping, are ever updated on a stored row.
3. A current record under the key whose identity fields conflict (another citizen under the
   same number and date): the result is stored `needs_review`, version 1, beside the current
   one, which stays current; neither replaces the other.
The database holds rule 2's outcome too: a partial unique index lets one record per natural key
be current (`ux_record_current_natural_key`). Versions follow the order in which the server
merged them, not their signing times.

**Nghị định 30's duplicate warning** (same số, ký hiệu and cơ quan ban hành): numbering restarts
every year (Nghị định 30/2020 Điều 15), so "05/QĐ-UBND" of 2023 and of 2024 are two legitimate
documents; the warning compares the issuer, the số ký hiệu and the issue **year**
(`Record.duplicate_key`). A record carries `duplicate_warning` when the repository holds another
document under its duplicate key: a record of another natural key (same number, same year,
another date), or a `needs_review` record of the same natural key (another citizen under the
same number and date). Versions of one document are one document, never each other's
duplicates. The flag is set on the new record and on the ones it duplicates, when merged.

**Corrections**: an officer corrects one field of a current (or needs-review) version with a
reason (`correct`). The correction is a new record, a new version: the corrected version's
columns with the field changed, the same signed PDF (`pdf_path`; its `result_id` is the SHA-256
of the correction, since the PDF's own hash names the signed original), `corrects` and
`supersedes` naming the corrected version, which is marked superseded and kept as it was; a
`RecordCorrection` row keeps the field, the value as read and as corrected, who, when and why.
A correction that would give its document the natural key of another current document is
refused (`CorrectionConflictError`). Nothing here commits: `records.merge_result` and
`disclosures.correct_record` (which writes the audit entry in the same transaction) do.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, literal_column, or_, text, update
from sqlmodel import Session, col, select

from server.errors import CorrectionConflictError
from server.models import MergeState, Record, RecordCorrection, utc_now
from server.repository import tallies

IDENTITY_FIELDS = ("ho_ten", "cccd", "ngay_sinh", "loai_van_ban")
"""The fields whose disagreement makes a result with a known natural key a conflict rather
than a new version: whose result it is, and what kind of result."""

KEY_FIELDS = ("co_quan_ban_hanh", "so_ky_hieu", "ngay_ban_hanh")
"""The fields of the natural key."""

IS_CURRENT = col(Record.merge_state) == literal_column("'current'")
NOT_CURRENT = col(Record.merge_state) != literal_column("'current'")
"""The conditions of the natural key's two partial indexes, as literals: SQLite uses a partial
index only for a query whose WHERE spells its condition (a bound parameter does not)."""

_SPACES = re.compile(r"\s+")
_LEADING_ZEROS = re.compile(r"^0+(?=\d)")
_YEAR = re.compile(r"^(\d{4})-")


@functools.lru_cache(maxsize=65_536)  # issuers and dates repeat: a load computes each once
def normalise(value: str) -> str:
    """`value` as compared: NFC, casefolded, whitespace runs made one space, trimmed."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    return _SPACES.sub(" ", folded).strip()


def _number(so_ky_hieu: str) -> str:
    """A số ký hiệu as compared: normalised, without spaces or its number's leading zeros."""
    return _LEADING_ZEROS.sub("", _SPACES.sub("", normalise(so_ky_hieu)))


def _digest(*parts: str) -> str:
    """128 bits of the SHA-256 of `parts`, in hex: collisions are out of reach at any number
    of results, and the keys' indexes stay half the size."""
    # Joined by U+001F, which no field holds (a signed field is XML text: no C0 controls).
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _parts(fields: Mapping[str, Any]) -> tuple[str, str, str] | None:
    issuer, number, issued = (fields.get(k) for k in KEY_FIELDS)
    if not (isinstance(issuer, str) and isinstance(number, str) and isinstance(issued, str)):
        return None
    parts = (normalise(issuer), _number(number), normalise(issued))
    return parts if all(parts) else None


def keys(fields: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(`natural_key(fields)`, `duplicate_key(fields)`), normalising once."""
    parts = _parts(fields)
    if parts is None:
        return None, None
    year = _YEAR.match(parts[2])
    return (
        _digest("natural", *parts),
        _digest("duplicate", parts[0], parts[1], year.group(1)) if year else None,
    )


def natural_key(fields: Mapping[str, Any]) -> str | None:
    """The natural key of a document with `fields` (`_digest` of its normalised issuer, số ký
    hiệu and issue date), or None when one of them is missing or blank."""
    parts = _parts(fields)
    return _digest("natural", *parts) if parts else None


def duplicate_key(fields: Mapping[str, Any]) -> str | None:
    """What Nghị định 30's duplicate warning compares: issuer, số ký hiệu, issue year (the
    number restarts every year); None without all three (the date must start YYYY-)."""
    parts = _parts(fields)
    year = _YEAR.match(parts[2]) if parts else None
    return _digest("duplicate", parts[0], parts[1], year.group(1)) if parts and year else None


def identity_agrees(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new`'s identity fields agree with `current`'s (equal once normalised, or one
    of the two missing)."""
    for key in IDENTITY_FIELDS:
        a, b = current.get(key), new.get(key)
        if a and b and normalise(str(a)) != normalise(str(b)):
            return False
    return True


def lock(session: Session, keys: Iterable[str]) -> None:
    """Take the locks of `keys` (natural keys; `record:<id>` for one version) for the rest of
    `session`'s transaction, so that two merges or corrections of one document take turns and
    cannot both become current.

    PostgreSQL: a transaction-scoped advisory lock per key, in sorted order (two lockers never
    wait for each other in a cycle). SQLite: the database's write lock, `BEGIN IMMEDIATE`,
    unless the transaction already began (`server.repository.staging.lock` begins it so in
    ingest; pysqlite begins a transaction only before a write, so one already begun holds it).
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        for key in sorted(set(keys)):
            digest = hashlib.sha256(f"sohoa natural key\0{key}".encode()).digest()
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": int.from_bytes(digest[:8], "big", signed=True)},
            )
    elif bind.dialect.name == "sqlite":
        connection = session.connection()
        if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class Placement:
    """Where a new record goes among its document's versions (`place`)."""

    version: int
    merge_state: MergeState
    supersedes: str | None
    """The current record it replaces (to be marked superseded), if any."""
    duplicate_warning: bool
    duplicates: tuple[str, ...]
    """Other records it duplicates (Nghị định 30), to be flagged."""


def place(
    session: Session,
    fields: Mapping[str, Any],
    *,
    key: str | None,
    dup_key: str | None,
    exclude: str | None = None,
) -> Placement:
    """Where a record with `fields` goes (the module's rule), read under `lock(key)`.

    Args:
        exclude: a record to leave out of the comparison (a needs-review version being
            corrected).
    """
    version, state, supersedes = 1, MergeState.CURRENT, None
    if key is not None:
        current = session.exec(select(Record).where(Record.natural_key == key, IS_CURRENT)).first()
        if current is not None and current.id != exclude:
            if identity_agrees(current.model_dump(), fields):
                version, supersedes = current.version + 1, current.id
            else:
                state = MergeState.NEEDS_REVIEW
    duplicates = _duplicates(session, key, dup_key, state, exclude)
    return Placement(version, state, supersedes, bool(duplicates), duplicates)


def _duplicates(
    session: Session,
    key: str | None,
    dup_key: str | None,
    state: MergeState,
    exclude: str | None,
) -> tuple[str, ...]:
    """The records a new record of (`key`, `dup_key`, `state`) is a Nghị định 30 duplicate of:
    those of its duplicate key but another natural key; those of its natural key too when it
    conflicts; its natural key's conflicting records when it is a version."""
    if dup_key is None:
        return ()
    statement = select(Record.id).where(Record.duplicate_key == dup_key)
    if state is not MergeState.NEEDS_REVIEW:
        statement = statement.where(
            or_(
                col(Record.natural_key) != key,
                col(Record.merge_state) == MergeState.NEEDS_REVIEW,
            )
        )
    if exclude is not None:
        statement = statement.where(col(Record.id) != exclude)
    return tuple(session.exec(statement).all())


def apply(session: Session, record: Record, placement: Placement) -> None:
    """Write `placement`: `record` (not yet added) gets its version and state, the record it
    supersedes is marked so, the records it duplicates are flagged; `record` is added.

    The old rows' updates go first, as statements of their own, so that the partial unique
    index never sees two current versions.
    """
    record.version = placement.version
    record.merge_state = placement.merge_state
    record.supersedes = placement.supersedes
    record.duplicate_warning = placement.duplicate_warning
    if placement.supersedes is not None:
        session.execute(
            update(Record)
            .where(col(Record.id) == placement.supersedes)
            .values(merge_state=MergeState.SUPERSEDED, superseded_by=record.id)
        )
    if placement.duplicates:
        session.execute(
            update(Record)
            .where(
                col(Record.id).in_(placement.duplicates), col(Record.duplicate_warning).is_(False)
            )
            .values(duplicate_warning=True)
        )
    session.add(record)
    if record.version == 1 and record.corrects is None:  # a new document, not a new version
        tallies.count(session, record.unit_code, record.received_at, digitized=1)


# --- corrections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectionMade:
    """A correction, made (not committed yet): the new version and its correction row."""

    record: Record
    correction: RecordCorrection


def correct(
    session: Session,
    record_id: str,
    *,
    visible: frozenset[str] | None,
    field: str,
    value: str,
    reason: str,
    username: str,
    role: str,
    now: dt.datetime | None = None,
) -> CorrectionMade | None:
    """Correct `field` of version `record_id` to `value`: a new version (the module's rules).
    `value` is checked by the caller (`server.api.routes.versions`). Does not commit.

    Args:
        visible: the units whose records the officer may correct (None: every unit).

    Returns:
        The new version, or None when `record_id` is not among the visible records.

    Raises:
        CorrectionConflictError: the version is superseded, or the correction would give it the
            natural key of another current document.
    """
    source = session.get(Record, record_id)
    if source is None or (visible is not None and source.unit_code not in visible):
        return None
    fields = source.model_dump()
    changed = {**fields, field: value}
    key, dup_key = keys(changed)
    # The version's own lock too: one without a natural key has no other to take turns on.
    lock(session, [f"record:{source.id}", *(k for k in (source.natural_key, key) if k)])
    session.refresh(source)  # read again under the lock: a merge may have superseded it
    if source.merge_state is MergeState.SUPERSEDED:
        raise CorrectionConflictError(
            f"version {record_id} was superseded by {source.superseded_by}: correct the "
            "current version",
            current=source.superseded_by,
        )
    when = now or utc_now()
    new_id = str(uuid.uuid4())
    if source.merge_state is MergeState.CURRENT:
        holder = (
            session.exec(
                select(Record.id).where(
                    Record.natural_key == key,
                    IS_CURRENT,
                    col(Record.id) != source.id,
                )
            ).first()
            if key is not None
            else None
        )
        if holder is not None:
            raise CorrectionConflictError(
                f"another current result ({holder}) has this issuer, số ký hiệu and date: "
                "check both documents before correcting"
            )
        dups = _duplicates(session, key, dup_key, MergeState.CURRENT, source.id)
        placement = Placement(source.version + 1, MergeState.CURRENT, source.id, bool(dups), dups)
    else:  # needs review: placed anew (a corrected name may make it a version after all)
        found = place(session, changed, key=key, dup_key=dup_key, exclude=source.id)
        placement = Placement(
            found.version if found.supersedes else source.version + 1,
            found.merge_state,
            found.supersedes,
            found.duplicate_warning,
            found.duplicates,
        )
    # A correction's own identity, 64 hex digits like a PDF's (its PDF is the source's).
    correction_id = hashlib.sha256(
        json.dumps(
            ["correction", source.result_id, source.id, field, value, reason, username,
             when.isoformat()],
            ensure_ascii=False,
        ).encode()
    ).hexdigest()  # fmt: skip
    columns = {
        k: v
        for k, v in source.model_dump().items()
        if k not in ("id", "result_id", "received_at", "ltv_status", "ltv_at", "ltv_size",
                     "ltv_pdf_path", "ltv_error")
    }  # fmt: skip
    columns.update(
        {
            field: value,
            "id": new_id,
            "result_id": correction_id,
            "received_at": when,
            "natural_key": key,
            "duplicate_key": dup_key,
            "corrects": source.id,
            "superseded_by": None,
        }
    )
    record = Record(**columns)
    row = RecordCorrection(
        record_id=new_id,
        corrects=source.id,
        field=field,
        read_value=fields.get(field),
        value=value,
        reason=reason,
        username=username,
        role=role,
        corrected_at=when,
    )
    if placement.supersedes != source.id:  # a needs-review version corrected: it is done with
        session.execute(
            update(Record)
            .where(col(Record.id) == source.id)
            .values(merge_state=MergeState.SUPERSEDED, superseded_by=new_id)
        )
    apply(session, record, placement)
    session.add(row)
    session.flush()  # written now: the caller's audit detaches what it returns before commit
    return CorrectionMade(record, row)


# --- history -------------------------------------------------------------------------------------


def history(
    session: Session, record_id: str, *, visible: frozenset[str] | None
) -> tuple[Record, list[tuple[Record, RecordCorrection | None]]] | None:
    """The record `record_id` and every version of its document (oldest first: by version, then
    by when each was merged), each with the correction that made it; the records conflicting
    with it (needs review) included. None when `record_id` is not among the visible records.

    A version of a document is any record sharing its natural key, or linked to it by
    `supersedes` (a correction may change the key); only the visible ones are returned.
    """
    asked = session.get(Record, record_id)
    if asked is None or (visible is not None and asked.unit_code not in visible):
        return None
    found: dict[str, Record] = {asked.id: asked}
    frontier = [asked]
    while frontier:  # the chain through supersedes/superseded_by and shared natural keys
        keys = {r.natural_key for r in frontier if r.natural_key}
        links = {x for r in frontier for x in (r.supersedes, r.superseded_by) if x}
        conditions = []
        if keys:  # each state through its own partial index
            conditions.append(and_(col(Record.natural_key).in_(sorted(keys)), IS_CURRENT))
            conditions.append(and_(col(Record.natural_key).in_(sorted(keys)), NOT_CURRENT))
        if links - found.keys():
            conditions.append(col(Record.id).in_(sorted(links - found.keys())))
        if not conditions:
            break
        more = [
            r for r in session.exec(select(Record).where(or_(*conditions))) if r.id not in found
        ]
        for r in more:
            found[r.id] = r
        frontier = more
    rows = [r for r in found.values() if visible is None or r.unit_code in visible]
    rows.sort(key=lambda r: (r.merge_state is MergeState.NEEDS_REVIEW, r.version, r.received_at))
    corrections = {
        c.record_id: c
        for c in session.exec(
            select(RecordCorrection).where(
                col(RecordCorrection.record_id).in_([r.id for r in rows])
            )
        )
    }
    return asked, [(r, corrections.get(r.id)) for r in rows]
