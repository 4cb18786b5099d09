"""The audit log of personal data (Nghị định 13/2023): append-only and hash-chained.

Rules of this module:
- An entry is written in the same transaction as the load it records (`server.repository.
  disclosures`): if it cannot be written, the data is not served.
- Each entry carries the SHA-256 of the previous entry's canonical form (`prev_hash`; the
  first carries `GENESIS`) and of its own (`entry_hash`). Entries are numbered 1, 2, ... by
  the writer under a lock on the last one, so a gap is a removal, never a skipped sequence
  value; two writers racing for the same number collide on the primary key and one retries.
- `verify_chain` walks the log in order and names the first entry that was changed, removed
  or moved. Only what an entry after it still vouches for can be checked: removing the newest
  entries leaves a shorter, whole chain (keep `entries` and the last hash elsewhere to see it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlmodel import Session, col, select

from server.models import AuditEntry

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


def append(
    session: Session,
    reader: Reader,
    action: str,
    *,
    now: dt.datetime,
    record_id: str | None = None,
    query: str | None = None,
) -> AuditEntry:
    """Add the next entry to `session` (the caller commits it with what it records).

    Raises:
        sqlalchemy.exc.IntegrityError: at commit, if another writer took the same place
            (the caller retries the whole unit of work).
    """
    last = session.exec(
        select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(1).with_for_update()
    ).first()
    entry = AuditEntry(
        seq=last.seq + 1 if last else 1,
        at=now,
        username=reader.username,
        role=reader.role,
        action=action,
        record_id=record_id,
        query=query[:1024] if query else None,
        client=reader.client[:64],
        purpose=reader.purpose,
        prev_hash=last.entry_hash if last else GENESIS,
        entry_hash="",
    )
    entry.entry_hash = entry_hash(entry)
    session.add(entry)
    return entry


def verify_chain(session: Session) -> tuple[int, ChainBreak | None]:
    """Walk the log in order and check every entry against its hash and its predecessor's.

    Returns:
        (how many entries were read, the first break or None when the chain is whole).
    """
    count = 0
    previous: AuditEntry | None = None
    entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).yield_per(READ_BATCH)
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
    return count, None


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
