"""The appliance's outbox: every signed result waits here, across power cuts and days offline,
until the server's application ack arrives.

Rules of this module:
- The PDF is stored content-addressed, `blobs/ab/abcdef….pdf` (its SHA-256, the result's
  identity), written atomically (temp file, fsync, rename) BEFORE its row is committed. A crash
  in between leaves at most an unreferenced file, never a row without its PDF; adding the same
  bytes again reuses it.
- One SQLite table, WAL journal, `synchronous=FULL`: a committed row survives power loss.
- A result moves QUEUED -> SENT (published, maybe several times) -> ACKED (the server stored it,
  or already had it) or REJECTED (the server refused it, with its reason). Nothing is forgotten
  before an answer arrives.
- One connection shared under a lock, so the kiosk and the sync agent may use one Outbox from
  different threads.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from edge.errors import OutboxError
from protocol.messages import MAX_RESULT_BYTES, Ack, AckStatus, sha256_hex
from support.files import write_atomic
from support.lifecycle import Closeable

DB_FILE = "outbox.db"
BLOB_DIR = "blobs"
SCHEMA_VERSION = 1


class State(Enum):
    """Where a result stands in the outbox."""

    QUEUED = "queued"
    """Stored, never published."""
    SENT = "sent"
    """Published at least once; waiting for the server's application ack."""
    ACKED = "acked"
    """The server stored it (or already had it): `record_id` names the record."""
    REJECTED = "rejected"
    """The server refused it: `last_error` says why. It is not sent again."""


_WAITING = (State.QUEUED.value, State.SENT.value)
_Row = tuple[str, str, str, str, int, str | None, str | None, str | None]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS result (
    result_id  TEXT PRIMARY KEY CHECK (length(result_id) = 64),
    state      TEXT NOT NULL CHECK (state IN ({", ".join(repr(s.value) for s in State)})),
    fields     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    acked_at   TEXT,
    record_id  TEXT
);
CREATE INDEX IF NOT EXISTS result_state ON result (state);
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class OutboxItem:
    """One result in the outbox (without its PDF: `Outbox.load_pdf` reads that).

    Attributes:
        result_id: SHA-256 hex of the signed PDF.
        state: where it stands.
        fields: the fields the officer confirmed.
        created_at: when it was signed (ISO 8601, UTC).
        attempts: how many times it was published.
        last_error: why the server rejected it, or the last problem sending it.
        acked_at: when the server's answer arrived (ISO 8601, UTC).
        record_id: the repository record, once acked.
    """

    result_id: str
    state: State
    fields: Mapping[str, str | None]
    created_at: str
    attempts: int = 0
    last_error: str | None = None
    acked_at: str | None = None
    record_id: str | None = None


class Outbox(Closeable):
    """The durable queue of signed results in `directory` (`outbox.db` and `blobs/`).

    Raises:
        OutboxError: the folder or database cannot be opened.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blob_dir = directory / BLOB_DIR
        self._lock = threading.Lock()
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every write below is one explicit transaction.
            self._db = sqlite3.connect(
                directory / DB_FILE, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(
                    f"the outbox database {directory / DB_FILE} cannot use WAL (got {mode}): "
                    "put data_dir on a local file system"
                )
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(
                f"cannot open the outbox in {directory}: {e}; check that data_dir is writable "
                "and not full"
            ) from e

    def add(self, pdf: bytes, fields: Mapping[str, str | None], created_at: str) -> str:
        """Store a signed result; adding the same bytes again is a no-op.

        Args:
            pdf: the signed PDF.
            fields: the fields the officer confirmed (DESIGN.md keys), strings or None.
            created_at: when it was signed, ISO 8601 in UTC.

        Returns:
            The result id (SHA-256 hex of `pdf`).

        Raises:
            OutboxError: the result is too large to send, or could not be stored (disk full?).
        """
        if len(pdf) > MAX_RESULT_BYTES:
            raise OutboxError(
                f"the signed PDF is {len(pdf) // (1024 * 1024)} MiB, over the "
                f"{MAX_RESULT_BYTES // (1024 * 1024)} MiB a result may be: scan at a lower "
                "resolution or split the document"
            )
        result_id = sha256_hex(pdf)
        fields_json = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)
        path = self.blob_path(result_id)
        with self._lock:
            try:
                # The file first (also when the row exists: adding again repairs a damaged file).
                if not self._blob_ok(path, result_id):
                    write_atomic(path, pdf, mode=0o600)
                if self._row(result_id) is not None:
                    return result_id
                self._db.execute(
                    "INSERT OR IGNORE INTO result (result_id, state, fields, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (result_id, State.QUEUED.value, fields_json, created_at),
                )
            except (OSError, sqlite3.Error) as e:
                raise OutboxError(
                    f"cannot store result {result_id[:12]}… in the outbox: {e}; free disk "
                    "space and sign it again"
                ) from e
        return result_id

    def get(self, result_id: str) -> OutboxItem:
        """The outbox's record of `result_id`.

        Raises:
            OutboxError: no such result.
        """
        with self._lock:
            row = self._row(result_id)
        if row is None:
            raise OutboxError(f"result {result_id[:12]}… is not in the outbox")
        return _item(row)

    def pending(self) -> list[OutboxItem]:
        """The results waiting for an answer (QUEUED or SENT), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT result_id, state, fields, created_at, attempts, last_error, acked_at, "
                "record_id FROM result WHERE state IN (?, ?) ORDER BY created_at, rowid",
                _WAITING,
            ).fetchall()
        return [_item(r) for r in rows]

    def blob_path(self, result_id: str) -> Path:
        """Where the PDF of `result_id` lives."""
        return self.blob_dir / result_id[:2] / f"{result_id}.pdf"

    def load_pdf(self, result_id: str) -> bytes:
        """The signed PDF of `result_id`, checked against its identity.

        Raises:
            OutboxError: the file is missing or damaged (its hash differs).
        """
        path = self.blob_path(result_id)
        try:
            pdf = path.read_bytes()
        except OSError as e:
            raise OutboxError(
                f"the PDF of result {result_id[:12]}… is missing from the outbox ({path}): "
                f"{e.strerror}; capture and sign the document again"
            ) from e
        if sha256_hex(pdf) != result_id:
            raise OutboxError(
                f"the PDF of result {result_id[:12]}… is damaged on disk ({path}: its SHA-256 "
                "differs); check the storage and capture and sign the document again"
            )
        return pdf

    def mark_sent(self, result_id: str) -> None:
        """Record that `result_id` was published (once more).

        Raises:
            OutboxError: no such result waiting for an answer.
        """
        self._update(
            "UPDATE result SET state = ?, attempts = attempts + 1 "
            "WHERE result_id = ? AND state IN (?, ?)",
            (State.SENT.value, result_id, *_WAITING),
            result_id,
        )

    def note_error(self, result_id: str, message: str) -> None:
        """Record the last problem sending `result_id` (it stays waiting)."""
        self._update(
            "UPDATE result SET last_error = ? WHERE result_id = ? AND state IN (?, ?)",
            (message, result_id, *_WAITING),
            result_id,
        )

    def apply_ack(self, ack: Ack) -> State | None:
        """Apply the server's application ack: ACCEPTED or DUPLICATE -> ACKED with its
        `record_id`; REJECTED -> REJECTED with the reason. A result already answered keeps its
        first answer.

        Returns:
            The result's state afterwards, or None if the outbox does not know the result.
        """
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if ack.status is AckStatus.REJECTED:
            reason = ack.reason.value if ack.reason else "unknown"
            error = f"{reason}: {ack.detail}" if ack.detail else reason
            sql = "UPDATE result SET state = ?, last_error = ?, acked_at = ? "
            params: tuple[str | None, ...] = (State.REJECTED.value, error, now)
        else:
            sql = "UPDATE result SET state = ?, record_id = ?, acked_at = ?, last_error = NULL "
            params = (State.ACKED.value, ack.record_id, now)
        with self._lock:
            try:
                self._db.execute(
                    sql + "WHERE result_id = ? AND state IN (?, ?)",
                    (*params, ack.result_id, *_WAITING),
                )
            except sqlite3.Error as e:
                raise OutboxError(f"cannot record the server's answer: {e}") from e
            row = self._row(ack.result_id)
        return State(row[1]) if row is not None else None

    def counts(self) -> dict[State, int]:
        """How many results are in each state (every state present, zero included)."""
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM result GROUP BY state").fetchall()
        counts = dict.fromkeys(State, 0)
        counts.update({State(state): n for state, n in rows})
        return counts

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL back into it)."""
        with self._lock:
            self._db.close()

    # --- internals (callers hold the lock) ---

    def _row(self, result_id: str) -> _Row | None:
        row: _Row | None = self._db.execute(
            "SELECT result_id, state, fields, created_at, attempts, last_error, acked_at, "
            "record_id FROM result WHERE result_id = ?",
            (result_id,),
        ).fetchone()
        return row

    def _update(self, sql: str, params: tuple[str, ...], result_id: str) -> None:
        with self._lock:
            try:
                changed = self._db.execute(sql, params).rowcount
            except sqlite3.Error as e:
                raise OutboxError(f"cannot update the outbox: {e}") from e
        if changed == 0:
            raise OutboxError(f"result {result_id[:12]}… is not waiting in the outbox")

    @staticmethod
    def _blob_ok(path: Path, result_id: str) -> bool:
        try:
            return sha256_hex(path.read_bytes()) == result_id
        except OSError:
            return False


def _item(row: _Row) -> OutboxItem:
    result_id, state, fields, created_at, attempts, last_error, acked_at, record_id = row
    return OutboxItem(
        result_id=result_id,
        state=State(state),
        fields=MappingProxyType(json.loads(fields)),
        created_at=created_at,
        attempts=attempts,
        last_error=last_error,
        acked_at=acked_at,
        record_id=record_id,
    )
