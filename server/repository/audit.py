"""The audit log of personal data (Nghị định 13/2023): append-only and hash-chained.

Rules of this module:
- An entry is written in the same transaction as the load it records (`server.repository.
  disclosures`): if it cannot be written, the data is not served.
- Each entry carries the SHA-256 of the previous entry's canonical form (`prev_hash`; the
  first carries `GENESIS`) and of its own (`entry_hash`). A writer first moves the head
  (`AuditHead`: the newest place and hash) on by one: that update takes the head's row lock
  (PostgreSQL) or the database's write lock (SQLite), so writers take turns, each chains to
  the one before, and places are 1, 2, ... with no gap but a removal.
- `verify_chain` walks the log in order and names the first entry that was changed, removed
  or moved, then checks the log's end against the head (the newest entries removed). Someone
  who can rewrite the whole log and the head can hide anything: keep the head's hash
  elsewhere now and then (a printed report, another system) to anchor it. It reads the head
  first and the entries up to the head's place after it, so that entries appended meanwhile (a
  live server goes on writing) are left to the next check instead of reported as removed.
- `list_entries` reads the log newest first, by place, for the audit API
  (`server.api.routes.audit`, through `server.repository.disclosures.audit_entries`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from server.models import AuditEntry, AuditHead

GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
READ_BATCH = 1000


@dataclass(frozen=True)
class Reader:
    """Who loads personal data, as the audit log records it."""

    username: str
    role: str
    client: str
    """The client's address."""
    purpose: str | None = None
    """Why, as the caller said (`X-Purpose` or `purpose`)."""


@dataclass(frozen=True)
class EntryFilter:
    """Which entries an auditor asks for; None: any."""

    username: str | None = None
    action: str | None = None
    record_id: str | None = None
    since: dt.datetime | None = None
    """Inclusive, aware."""
    until: dt.datetime | None = None
    """Inclusive, aware."""


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain is broken: the entry named and what happened to it."""

    seq: int
    what: str


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash is taken over: its fields but `seq` and `entry_hash`, as JSON
    with sorted keys and the time in UTC to the microsecond (so that moving an entry to
    another place keeps its hash and shows as a move)."""
    fields = {
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "username": entry.username,
        "role": entry.role,
        "action": entry.action,
        "record_id": entry.record_id,
        "query": entry.query,
        "client": entry.client,
        "purpose": entry.purpose,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(entry: AuditEntry) -> str:
    """The SHA-256 (hex) of `entry`'s canonical form."""
    return hashlib.sha256(canonical(entry)).hexdigest()


# The statements of `append`, built once (it runs on every request that reads personal data).
_MOVE_HEAD = (
    sa.update(AuditHead)
    .where(col(AuditHead.id) == 1)
    .values(seq=col(AuditHead.seq) + 1)
    .returning(col(AuditHead.seq), col(AuditHead.entry_hash))
)
_HASH_HEAD = (
    sa.update(AuditHead).where(col(AuditHead.id) == 1).values(entry_hash=sa.bindparam("hash"))
)
_INSERT = sa.insert(AuditEntry)


def append(
    session: Session,
    reader: Reader,
    action: str,
    *,
    now: dt.datetime,
    record_id: str | None = None,
    query: str | None = None,
) -> AuditEntry:
    """Write the next entry in `session`'s transaction (the caller commits it with what it
    records); the entry returned is not in the session.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the head could not be moved (the database is busy
            or the migration is missing); the caller rolls back.
    """
    connection = session.connection()
    seq, prev_hash = connection.execute(_MOVE_HEAD).one()
    entry = AuditEntry(
        seq=seq,
        at=now,
        username=reader.username,
        role=reader.role,
        action=action,
        record_id=record_id,
        query=query[:1024] if query else None,
        client=reader.client[:64],
        purpose=reader.purpose,
        prev_hash=prev_hash,
        entry_hash="",
    )
    entry.entry_hash = entry_hash(entry)
    connection.execute(_HASH_HEAD, {"hash": entry.entry_hash})
    # A plain INSERT on the same connection, not `session.add`: the same transaction without
    # the ORM's flush of one new object on every request that reads personal data.
    connection.execute(_INSERT, entry.model_dump())
    return entry


def list_entries(
    session: Session, which: EntryFilter, *, limit: int, before: int | None = None
) -> list[AuditEntry]:
    """Up to `limit` entries matching `which`, newest first, placed before `before` if given
    (keyset pagination on `seq`: entries appended meanwhile never shift a page)."""
    query = select(AuditEntry)
    if which.username is not None:
        query = query.where(AuditEntry.username == which.username)
    if which.action is not None:
        query = query.where(AuditEntry.action == which.action)
    if which.record_id is not None:
        query = query.where(AuditEntry.record_id == which.record_id)
    if which.since is not None:
        query = query.where(col(AuditEntry.at) >= which.since)
    if which.until is not None:
        query = query.where(col(AuditEntry.at) <= which.until)
    if before is not None:
        query = query.where(col(AuditEntry.seq) < before)
    return list(session.exec(query.order_by(col(AuditEntry.seq).desc()).limit(limit)).all())


def verify_chain(session: Session) -> tuple[int, ChainBreak | None]:
    """Walk the log in order and check every entry against its hash and its predecessor's.

    The head is read first and the walk stops at its place: a writer commits its entry with
    the head, so every entry up to the head read is there, and those appended after it (the
    server goes on serving) are the next check's.

    Returns:
        (how many entries were read, the first break or None when the chain is whole).
    """
    head = session.get(AuditHead, 1)
    if head is None:
        return 0, ChainBreak(0, "the audit head is missing: the log's end cannot be checked")
    count = 0
    previous: AuditEntry | None = None
    entries = session.exec(
        select(AuditEntry).where(col(AuditEntry.seq) <= head.seq).order_by(col(AuditEntry.seq))
    ).yield_per(READ_BATCH)
    for entry in entries:
        count += 1
        expected = previous.seq + 1 if previous else 1
        if entry.seq != expected:
            last_missing = entry.seq - 1
            span = (
                f"entry {expected}"
                if last_missing == expected
                else (f"entries {expected} to {last_missing}")
            )
            return count, ChainBreak(expected, f"{span} removed (the log jumps to {entry.seq})")
        if entry_hash(entry) != entry.entry_hash:
            return count, ChainBreak(
                entry.seq, f"entry {entry.seq} changed: its content no longer matches its hash"
            )
        vouched = previous.entry_hash if previous else GENESIS
        if entry.prev_hash != vouched:
            return count, _link_break(session, entry, previous)
        previous = entry
    return count, _end_break(head, previous)


def _end_break(head: AuditHead, last: AuditEntry | None) -> ChainBreak | None:
    """Whether the log ends where its head says (None) or not (the newest entries removed)."""
    seq, last_hash = (last.seq, last.entry_hash) if last else (0, GENESIS)
    if head.seq > seq:
        span = f"entry {seq + 1}" if head.seq == seq + 1 else f"entries {seq + 1} to {head.seq}"
        return ChainBreak(seq + 1, f"{span} removed (the newest; the head names {head.seq})")
    if (head.seq, head.entry_hash) != (seq, last_hash):
        return ChainBreak(seq, f"entry {seq} changed, or the head: they do not match")
    return None


def _link_break(session: Session, entry: AuditEntry, previous: AuditEntry | None) -> ChainBreak:
    """What broke the link from `previous` to `entry` (which both match their own hashes)."""
    follows = session.exec(
        select(AuditEntry.seq).where(AuditEntry.entry_hash == entry.prev_hash)
    ).first()
    if follows is not None:
        return ChainBreak(
            entry.seq,
            f"entry {entry.seq} moved: it follows entry {follows} in the chain, not "
            f"entry {entry.seq - 1} (entries reordered)",
        )
    if previous is None:
        return ChainBreak(
            entry.seq, f"entry {entry.seq} is not the first of the chain: entries before it removed"
        )
    return ChainBreak(
        previous.seq,
        f"entry {previous.seq} changed (its hash made anew) or an entry after it removed: "
        f"entry {entry.seq} vouches for another",
    )
