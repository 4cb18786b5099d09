"""The staging store of chunked results: what `protocol.receiver` calls "the caller's store", on
the repository's database (SQLite or PostgreSQL), so that any ingest worker, in any process,
can finish a transfer another started.

Rules of this module:
- Unlike the repository's other modules it never commits: the ingest worker owns each
  transaction, so a message's store writes and the answer it publishes after them are one unit.
- Every write happens under `lock(session, device_id, result_id)`, taken first in the
  transaction: on PostgreSQL a transaction-scoped advisory lock on the (device, result) pair;
  on SQLite `BEGIN IMMEDIATE` (SQLite has one writer anyway; taking the write lock first means
  the transaction never has to upgrade a stale read snapshot, which SQLite refuses with
  "database is locked" instead of waiting). So two workers staging the last two chunks at once
  take turns, and the second sees the first's chunk and completes the transfer.
- Staging skips a result that has been merged meanwhile from the same device (checked under the
  lock). A record stored from another device is not this device's to know about: its transfer
  goes on, and verification refuses what it did not sign (`protocol.receiver`).
- Quotas: what a device has staged (its chunks' bytes, and `STAGED_MANIFEST_BYTES` per staged
  manifest) and what every device has staged are loaded with the state of a chunk or a
  manifest, under a lock on the device's registry row (`SELECT ... FOR NO KEY UPDATE` on
  PostgreSQL, taken after the per-result lock; SQLite's `BEGIN IMMEDIATE` already lets one
  writer in at a time). So two workers staging chunks of different results of one device take
  turns between reading the device's total and staging, and cannot both take its last bytes.
  The global cap likewise: on PostgreSQL a transaction-scoped advisory lock of its own
  (`STAGING_TOTAL_LOCK`), taken after the device's row, serializes every staging's read of the
  total and its write; on SQLite `BEGIN IMMEDIATE` does. So workers staging for different
  devices at once cannot pass the cap either. The price on PostgreSQL: stagings (a chunk's
  insert, and a transfer's assembly when its last chunk comes) take turns across every device;
  verification and merging, the slow steps, run after the commit, outside the lock.
- Locks are always taken in one order (the result's, the device's row, the staging total), so
  two stagings never wait for each other in a cycle.
- Chunk bytes are read back one chunk at a time; nothing here holds more than one result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy import ColumnElement, delete, func, insert, select, text
from sqlmodel import Session, col

from protocol.chunking import Reassembly
from protocol.errors import ProtocolError
from protocol.messages import ResultChunk, ResultManifest
from protocol.receiver import STAGED_MANIFEST_BYTES, DeviceStanding, StagedChunk, TransferState
from server.models import Device, DeviceStatus, Record, Transfer, TransferChunk, utc_now

log = logging.getLogger(__name__)

EXPIRY_BATCH = 200
"""Transfers expired per statement (keeps each delete short)."""

STAGING_TOTAL_LOCK = int.from_bytes(
    hashlib.sha256(b"sohoa staging total").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock key of the global staging total (a fixed 64-bit key; the
per-result keys are hashes of a device and result id, so they practically never meet it)."""


def lock(session: Session, device_id: str, result_id: str) -> None:
    """Take the per-(device, result) lock for the rest of `session`'s transaction.

    Must be the first statement of a fresh transaction (on SQLite it begins it).
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        digest = hashlib.sha256(f"{device_id}\0{result_id}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif bind.dialect.name == "sqlite":
        # pysqlite begins transactions lazily (before the first write); begin it ourselves,
        # taking the write lock now, with the busy timeout of server.db.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def load_state(
    session: Session, device_id: str, result_id: str, *, with_quota: bool = False
) -> TransferState:
    """What the store knows of `result_id` from `device_id` (`protocol.receiver.TransferState`).

    Args:
        with_quota: also sum the bytes staged for the device and for every device (a chunk or
            a manifest needs them), first locking the device's row and the staging total until
            the transaction ends, so that the sums stay true until what is staged after them is
            committed.
    """
    # FOR NO KEY UPDATE (key_share): it queues other stagings for this device, but not the
    # inserts of records and staged rows that merely reference the device (their foreign key
    # checks take FOR KEY SHARE). SQLite ignores it: its writers already take turns.
    device = session.get(
        Device, device_id, with_for_update={"key_share": True} if with_quota else None
    )
    if with_quota and session.get_bind().dialect.name == "postgresql":
        # The global cap's sum, atomic with what is staged after it (SQLite: BEGIN IMMEDIATE).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STAGING_TOTAL_LOCK})
    if device is None:
        standing = DeviceStanding.UNKNOWN
    elif device.status is DeviceStatus.REVOKED:
        standing = DeviceStanding.REVOKED
    else:
        standing = DeviceStanding.ACTIVE
    chunks = {
        row.idx: StagedChunk(row.idx, row.size, row.chunk_size, row.sha256)
        for row in session.execute(
            select(
                col(TransferChunk.idx),
                col(TransferChunk.size),
                col(TransferChunk.chunk_size),
                col(TransferChunk.sha256),
            ).where(
                col(TransferChunk.device_id) == device_id,
                col(TransferChunk.result_id) == result_id,
            )
        )
    }
    return TransferState(
        record_id=record_id_of(session, result_id, device_id),
        manifest=_manifest(session.get(Transfer, (device_id, result_id))),
        chunks=chunks,
        device=standing,
        device_staged_bytes=staged_bytes_of(session, device_id) if with_quota else 0,
        staged_bytes_total=staged_bytes_of(session) if with_quota else 0,
    )


def record_id_of(session: Session, result_id: str, device_id: str) -> str | None:
    """The record holding `result_id` if `device_id` stored it, else None (also when another
    device did: the answer must not tell one device what another stored)."""
    found = session.execute(
        select(col(Record.id)).where(
            col(Record.result_id) == result_id, col(Record.device_id) == device_id
        )
    )
    return found.scalar_one_or_none()


def staged_bytes_of(session: Session, device_id: str | None = None) -> int:
    """The bytes staged for `device_id` over all its transfers, or for every device with None:
    its chunks' bytes, and `STAGED_MANIFEST_BYTES` for each staged manifest."""
    chunk_bytes = select(func.coalesce(func.sum(TransferChunk.nbytes), 0))
    manifests = select(func.count()).select_from(Transfer).where(col(Transfer.size).is_not(None))
    if device_id is not None:
        chunk_bytes = chunk_bytes.where(col(TransferChunk.device_id) == device_id)
        manifests = manifests.where(col(Transfer.device_id) == device_id)
    total = session.execute(chunk_bytes).scalar_one()
    count = session.execute(manifests).scalar_one()
    return int(total) + int(count) * STAGED_MANIFEST_BYTES


def stage_manifest(session: Session, manifest: ResultManifest) -> bool:
    """Store `manifest` as its result's staged manifest (replacing any other), unless the result
    has been merged meanwhile. Returns whether it was stored."""
    if record_id_of(session, manifest.result_id, manifest.device_id) is not None:
        return False
    row = session.get(Transfer, (manifest.device_id, manifest.result_id))
    if row is None:
        row = Transfer(device_id=manifest.device_id, result_id=manifest.result_id)
    row.size = manifest.size
    row.chunk_size = manifest.chunk_size
    row.result_fields = dict(manifest.fields)
    row.signed_at = manifest.created_at
    row.result_metadata = dict(manifest.metadata)
    row.touched_at = utc_now()
    session.add(row)
    session.flush()
    return True


def stage_chunk(session: Session, chunk: ResultChunk) -> bool:
    """Store `chunk`'s bytes under its result and index (replacing any chunk staged there),
    unless the result has been merged meanwhile. Returns whether it was stored."""
    if record_id_of(session, chunk.result_id, chunk.device_id) is not None:
        return False
    key = (chunk.device_id, chunk.result_id)
    row = session.get(Transfer, key)
    now = utc_now()
    if row is None:
        row = Transfer(device_id=chunk.device_id, result_id=chunk.result_id, started_at=now)
    row.touched_at = now
    session.add(row)
    session.flush()
    where = _chunk_key(chunk.device_id, chunk.result_id)
    session.execute(delete(TransferChunk).where(*where, col(TransferChunk.idx) == chunk.index))
    # Core, not the ORM: the bytes are not kept in the session's identity map.
    session.execute(
        insert(TransferChunk).values(
            device_id=chunk.device_id,
            result_id=chunk.result_id,
            idx=chunk.index,
            size=chunk.size,
            chunk_size=chunk.chunk_size,
            sha256=chunk.sha256,
            nbytes=len(chunk.data),
            data=chunk.data,
            staged_at=now,
        )
    )
    return True


def drop(
    session: Session, device_id: str, result_id: str, indexes: tuple[int, ...] | None = None
) -> None:
    """Delete the chunks `indexes` of a staged result, or with None its manifest and every
    chunk."""
    where = _chunk_key(device_id, result_id)
    if indexes is None:
        session.execute(delete(TransferChunk).where(*where))
        # Through the ORM: a staged row loaded earlier in the transaction must not linger in the
        # session as if it still existed.
        row = session.get(Transfer, (device_id, result_id))
        if row is not None:
            session.delete(row)
            session.flush()
    elif indexes:
        session.execute(delete(TransferChunk).where(*where, col(TransferChunk.idx).in_(indexes)))


def assemble(session: Session, manifest: ResultManifest) -> tuple[bytes, str] | None:
    """Read the staged chunks of `manifest` back in index order, checking them through a
    `chunking.Reassembly`; returns the file and its SHA-256 hex, or None if a chunk is missing
    or of another geometry (another worker changed the staging: the sender's resume comes back
    for it). Holds one result's bytes, read one chunk at a time."""
    check = Reassembly(manifest)
    parts: list[bytes] = []
    where = _chunk_key(manifest.device_id, manifest.result_id)
    for index in range(manifest.chunk_count):
        row = session.execute(
            select(
                col(TransferChunk.size), col(TransferChunk.chunk_size), col(TransferChunk.data)
            ).where(*where, col(TransferChunk.idx) == index)
        ).first()
        if row is None or (row.size, row.chunk_size) != manifest.geometry:
            log.info(
                "result %s of device %s: chunk %d went missing before assembly; the device's "
                "resume asks again",
                manifest.result_id,
                manifest.device_id,
                index,
            )
            return None
        data = bytes(row.data)
        try:
            check.add(index, data)
        except ProtocolError as e:
            log.error("result %s: staged chunk %d is damaged: %s", manifest.result_id, index, e)
            drop(session, manifest.device_id, manifest.result_id, (index,))
            return None
        parts.append(data)
    return b"".join(parts), check.sha256()


def expire(session: Session, older_than: dt.datetime) -> int:
    """Delete transfers (manifest and chunks) not touched since `older_than`: abandoned ones,
    and chunks that came after their result was answered. Commits; returns how many went."""
    gone = 0
    while True:
        keys = session.execute(
            select(col(Transfer.device_id), col(Transfer.result_id))
            .where(col(Transfer.touched_at) < older_than)
            .limit(EXPIRY_BATCH)
        ).all()
        if not keys:
            return gone
        for device_id, result_id in keys:
            drop(session, device_id, result_id)
        session.commit()
        gone += len(keys)


def _chunk_key(device_id: str, result_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (
        col(TransferChunk.device_id) == device_id,
        col(TransferChunk.result_id) == result_id,
    )


def _manifest(row: Transfer | None) -> ResultManifest | None:
    if row is None or row.size is None or row.chunk_size is None:
        return None
    try:
        return ResultManifest(
            device_id=row.device_id,
            result_id=row.result_id,
            size=row.size,
            chunk_size=row.chunk_size,
            fields=row.result_fields or {},
            created_at=row.signed_at or "",
            metadata=row.result_metadata or {},
        )
    except ProtocolError as e:  # staged by an older server with other rules: start afresh
        log.warning("staged manifest of result %s is unreadable now: %s", row.result_id, e)
        return None
