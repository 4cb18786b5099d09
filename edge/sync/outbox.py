"""The appliance's outbox: every signed result waits here, across power cuts and days offline,
until the server's application ack arrives, and a while after (the retention).

Rules of this module:
- The PDF is stored content-addressed, `blobs/ab/abcdef….pdf` (its SHA-256, the result's
  identity), written atomically (temp file, fsync, rename, fsync of the folder) BEFORE its row is
  committed, inside the same SQLite write transaction. A crash in between leaves at most an
  unreferenced file or a temp file, never a row without its PDF; the next `Outbox()` removes
  them. Adding the same bytes again reuses (or repairs) the file.
- SQLite in WAL mode with `synchronous=FULL`: a committed row survives power loss. Every
  change that touches both a row and a file runs under `BEGIN IMMEDIATE`, the database's one
  write lock, so that the kiosk and the sync agent (two processes) never interleave them: an
  orphan sweep cannot delete the file of an add in progress.
- A result moves QUEUED -> SENT (published, maybe several times) -> ACKED (the server stored it,
  or already had it) or REJECTED (the server refused it, with its reason). Nothing is forgotten
  before a final answer; a need_chunks ack is not one (`apply_ack` ignores it). Answered results
  are kept for the retention (the officer can still see them), then `purge` deletes the row and
  then the file (a crash in between leaves an orphan file, swept later).
- The fields it queues are those signed into the PDF's XMP (`add` refuses others): the header
  travels unsigned, and the server stores only what was signed.
- Beside the results it keeps the appliance's sync standing: the last error, and the
  revocation (a revoked appliance sends nothing, even after a restart).
- One connection shared under a lock, so threads of one process may share an Outbox.
- Citizen data: the outbox's folders are 0700, its database and PDFs 0600.
- Sealed (encrypted at rest, `edge.sync.sealing`) when opened with a `Sealer`: each PDF file and
  each result's fields are AES-GCM ciphertexts bound to the result's id; names, states, sizes,
  dates and metadata (no personal data) stay readable, so the agent's bookkeeping needs no
  key. The standing records the data key's check value: an outbox once sealed is opened only
  with that key, and a writer without it (or with another) is refused. A plaintext outbox
  opened with a sealer is sealed there and then: its fields in one transaction with the
  marker, then its files one by one (each rewritten atomically, the clear copy overwritten
  with zeros; a crash resumes at the next open); SQLite's secure_delete and a checkpoint keep
  the clear fields from lingering in the database's free pages and its WAL.
- `wipe` erases every result (rows, files, the database's free pages) and stops the outbox
  like a revocation; with the token's sealing key destroyed first (`edge.sync.at_rest`),
  nothing left of it can be decrypted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edge.errors import OutboxError, PdfError
from edge.pdf.xmp import signed_metadata
from edge.sync.sealing import (
    Purpose,
    Sealer,
    is_sealed,
    is_sealed_text,
    overwrite_and_remove,
)
from protocol.errors import ProtocolError
from protocol.messages import MAX_CHUNK_COUNT, MAX_RESULT_BYTES, Ack, ResultManifest, sha256_hex
from protocol.signed_metadata import header_mismatch
from support.files import (
    GROUP_DIR,
    GROUP_FILE,
    PRIVATE_DIR,
    PRIVATE_FILE,
    private_dir,
    private_file,
    write_atomic,
)
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

DB_FILE = "outbox.db"
BLOB_DIR = "blobs"
SCHEMA_VERSION = 2
DEFAULT_RETENTION_S = 30 * 24 * 3600.0
"""How long an answered result is kept before `purge` deletes it (30 days)."""

_BLOB_NAME = re.compile(r"[0-9a-f]{64}\.pdf")
_SEALED = "sealed"
"""The standing key of a sealed outbox: its data key's check value."""
_FILES_SEALED = "sealed_files"
"""The standing key saying every PDF file of a sealed outbox is sealed ("done")."""
_WIPED = "wiped"
"""The standing key of a wiped outbox: why (it takes no result until enrolled again)."""
_CHECK_DEVICE = "outbox-check"
"""A valid device id used only to run the protocol's own checks on a result being added."""


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


WAITING_STATES = (State.QUEUED, State.SENT)
"""The states of a result still waiting for the server's answer."""
_WAITING = tuple(s.value for s in WAITING_STATES)
_ANSWERED = (State.ACKED.value, State.REJECTED.value)
_COLUMNS = (
    "result_id, state, size, fields, metadata, created_at, attempts, last_error, acked_at, "
    "record_id"
)
_Row = tuple[str, str, int, str, str, str, int, str | None, str | None, str | None]

_CREATE = f"""
CREATE TABLE IF NOT EXISTS result (
    result_id   TEXT PRIMARY KEY CHECK (length(result_id) = 64),
    state       TEXT NOT NULL CHECK (state IN ({", ".join(repr(s.value) for s in State)})),
    size        INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
    fields      TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{{}}',
    created_at  TEXT NOT NULL,
    created_ts  REAL NOT NULL DEFAULT 0,
    queued_ts   REAL NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    acked_at    TEXT,
    answered_ts REAL,
    record_id   TEXT
);
CREATE INDEX IF NOT EXISTS result_state ON result (state, created_ts);
CREATE TABLE IF NOT EXISTS standing (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Version 1 had neither sizes, metadata, timestamps for ages and retention, nor the standing.
_MIGRATE_FROM_1 = """
ALTER TABLE result ADD COLUMN size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0);
ALTER TABLE result ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE result ADD COLUMN created_ts REAL NOT NULL DEFAULT 0;
ALTER TABLE result ADD COLUMN queued_ts REAL NOT NULL DEFAULT 0;
ALTER TABLE result ADD COLUMN answered_ts REAL;
DROP INDEX IF EXISTS result_state;
"""


@dataclass(frozen=True)
class OutboxItem:
    """One result in the outbox (without its PDF: `Outbox.load_pdf` reads that).

    Attributes:
        result_id: SHA-256 hex of the signed PDF.
        state: where it stands.
        fields: the fields the officer confirmed.
        created_at: when it was signed (ISO 8601, UTC).
        size: the signed PDF's length in bytes.
        metadata: free-form facts about the result (strings, no personal data).
        attempts: how many times it was published.
        last_error: why the server rejected it, or the last problem sending it.
        acked_at: when the server's answer arrived (ISO 8601, UTC).
        record_id: the repository record, once acked.
    """

    result_id: str
    state: State
    fields: Mapping[str, str | None]
    created_at: str
    size: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None
    acked_at: str | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class OutboxStatus:
    """What the officer (TUI) and the server (heartbeat) need to see of the outbox.

    Attributes:
        counts: how many results are in each state (every state present).
        oldest_pending_age_s: seconds since the oldest result still waiting was signed, or None
            when nothing waits.
        last_error: the last problem syncing (no personal data), or None.
        last_error_at: when it happened, ISO 8601 UTC.
        revoked: why the appliance was revoked (it sends nothing), or None.
        link_up: whether the sync agent last said it was connected to the broker (it notes
            each connection and each loss), or None when it never said.
        link_at: when it last said so, ISO 8601 UTC.
        last_answer_at: when the server's last answer (ack or refusal) arrived, ISO 8601 UTC.
    """

    counts: Mapping[State, int]
    oldest_pending_age_s: float | None
    last_error: str | None
    last_error_at: str | None
    revoked: str | None
    link_up: bool | None = None
    link_at: str | None = None
    last_answer_at: str | None = None

    @property
    def queue_depth(self) -> int:
        """Results waiting for the server's answer (queued or sent)."""
        return sum(self.counts[s] for s in WAITING_STATES)


class Outbox(Closeable):
    """The durable queue of signed results in `directory` (`outbox.db` and `blobs/`).

    Args:
        directory: the outbox's folder (made if missing).
        retention_s: how long `purge` keeps an answered result.
        shared_with_group: the outbox is shared by the users of its folder's group (on an
            appliance the kiosk and the sync agent run as two users of group `sohoa`, and only
            the agent's reads the transport key): folders 2770 and files 0660. Otherwise (the
            default) everything is its owner's only, 0700 and 0600.
        sealer: seal the outbox with this data key (`edge.sync.sealing`; the appliance's
            settings give it through `edge.sync.at_rest.open_outbox`). A plaintext outbox is
            sealed on opening; a sealed one must be opened with its own key.
        keyless: open a sealed outbox without its key, to wipe it (`edge.sync.at_rest.wipe`):
            its counts, standing and `wipe` work, reading a result's fields or PDF does not.

    Raises:
        OutboxError: the folder or database cannot be opened; the outbox is sealed and no
            sealer (or another data key's) was given.
    """

    def __init__(
        self,
        directory: Path,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        shared_with_group: bool = False,
        sealer: Sealer | None = None,
        keyless: bool = False,
    ) -> None:
        if retention_s < 0:
            raise ValueError("retention_s cannot be negative")
        self.directory = directory
        self.blob_dir = directory / BLOB_DIR
        self.retention_s = retention_s
        self._dir_mode, self._file_mode = (
            (GROUP_DIR, GROUP_FILE) if shared_with_group else (PRIVATE_DIR, PRIVATE_FILE)
        )
        self._lock = threading.RLock()
        self._sealer = sealer
        self._keyless = keyless and sealer is None
        self._seen_version: int | None = None  # PRAGMA data_version at the last look
        self._added_here = False
        """Whether `add` committed through this object since `changed_elsewhere` last looked:
        SQLite's data_version does not count a connection's own commits, and a kiosk thread
        may share this object with the sync agent's."""
        try:
            _make_dir(self.blob_dir, self._dir_mode)
            # Citizen data: the folders are the agent's user's only, or its group's (also those
            # made before this rule), and so is the database (SQLite gives its -wal and -shm
            # its mode).
            for folder in (directory, self.blob_dir):
                private_dir(folder, self._dir_mode)
            for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm"):
                if name == DB_FILE or (directory / name).exists():
                    private_file(directory / name, self._file_mode)
            # Autocommit mode: the writes below open their transactions explicitly.
            self._db = sqlite3.connect(
                directory / DB_FILE, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(
                f"cannot open the outbox in {directory}: {e}; check that data_dir is writable "
                "and not full"
            ) from e
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(
                    f"the outbox database {directory / DB_FILE} cannot use WAL (got {mode}): "
                    "put data_dir on a local file system"
                )
            self._db.execute("PRAGMA synchronous=FULL")
            if sealer is not None:
                # What a sealed outbox deletes or replaces (a clear row being sealed, a purged
                # row) is overwritten with zeros in the database file, not left in free pages.
                self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
            sealed_now = self._check_sealing()
            self._sweep_orphans()
            if self._sealer is not None:
                self._seal_files(checkpoint=sealed_now)
        except (OSError, sqlite3.Error) as e:
            self._db.close()
            raise OutboxError(
                f"cannot open the outbox in {directory}: {e}; check that data_dir is writable "
                "and not full"
            ) from e
        except OutboxError:
            self._db.close()
            raise

    # --- results ---

    def add(
        self,
        pdf: bytes,
        fields: Mapping[str, str | None],
        created_at: str,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store a signed result; adding the same bytes again is a no-op (and repairs its file).

        Args:
            pdf: the signed PDF.
            fields: the fields the officer confirmed (DESIGN.md keys), strings or None.
            created_at: when it was signed, ISO 8601 in UTC.
            metadata: free-form facts (keys of a-z, 0-9, '_', '.', '-'; no personal data).

        Returns:
            The result id (SHA-256 hex of `pdf`).

        Raises:
            OutboxError: the result could never be sent (too large, a field too long, a bad
                date, fields that are not those signed into the PDF's XMP), or could not be
                stored (disk full?).
        """
        if len(pdf) > MAX_RESULT_BYTES:
            raise OutboxError(
                f"the signed PDF is {len(pdf) // (1024 * 1024)} MiB, over the "
                f"{MAX_RESULT_BYTES // (1024 * 1024)} MiB a result may be: scan at a lower "
                "resolution or split the document"
            )
        result_id = sha256_hex(pdf)
        meta = dict(metadata or {})
        _check_sendable(result_id, len(pdf), fields, created_at, meta)
        _check_signed_fields(pdf, fields, meta)
        fields_json = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)
        meta_json = json.dumps(meta, ensure_ascii=False, sort_keys=True)
        blob = pdf
        if self._sealer is not None:
            fields_json = self._sealer.seal_text(
                fields_json, result_id=result_id, purpose=Purpose.FIELDS
            )
            blob = self._sealer.seal(pdf, result_id=result_id, purpose=Purpose.PDF)
        path = self.blob_path(result_id)
        try:
            with self._write():
                self._check_writable()
                # The file first (also when the row exists: adding again repairs a damaged file).
                if not self._blob_ok(path, result_id):
                    _make_dir(path.parent, self._dir_mode)
                    write_atomic(path, blob, mode=self._file_mode)
                self._db.execute(
                    "INSERT OR IGNORE INTO result (result_id, state, size, fields, metadata, "
                    "created_at, created_ts, queued_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        result_id,
                        State.QUEUED.value,
                        len(pdf),
                        fields_json,
                        meta_json,
                        created_at,
                        _epoch(created_at),
                        time.time(),
                    ),
                )
                self._added_here = True
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
        return self._item(row)

    def changed_elsewhere(self) -> bool:
        """Whether a result may have been added since the last call: another connection (the
        kiosk's process) committed, or `add` ran through this object (a kiosk thread sharing
        it). A cheap check (SQLite's `data_version` and a flag) that the sync agent makes
        several times a second instead of listing the pending results; its own other writes
        (marking sent, answers) are not news to it."""
        with self._lock:
            ((version,),) = self._read("PRAGMA data_version", ())
            changed = version != self._seen_version or self._added_here
            self._seen_version = version
            self._added_here = False
        return bool(changed)

    def pending(self) -> list[OutboxItem]:
        """The results waiting for an answer (QUEUED or SENT), oldest first."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM result WHERE state IN (?, ?) "  # noqa: S608 - constant columns
            "ORDER BY created_ts, rowid",
            _WAITING,
        )
        return [self._item(r) for r in rows]

    def waiting_ids(self, limit: int | None = None) -> list[str]:
        """The ids of the results waiting for an answer, oldest first (at most `limit`)."""
        rows = self._read(
            "SELECT result_id FROM result WHERE state IN (?, ?) ORDER BY created_ts, rowid LIMIT ?",
            (*_WAITING, -1 if limit is None else limit),
        )
        return [r[0] for r in rows]

    def blob_path(self, result_id: str) -> Path:
        """Where the PDF of `result_id` lives."""
        return self.blob_dir / result_id[:2] / f"{result_id}.pdf"

    def load_pdf(self, result_id: str) -> bytes:
        """The signed PDF of `result_id`, checked against its identity (unsealed first in a
        sealed outbox).

        Raises:
            OutboxError: the file is missing or damaged (its hash differs, or its seal does not
                open: altered, or moved from another result).
        """
        path = self.blob_path(result_id)
        try:
            pdf = path.read_bytes()
        except OSError as e:
            raise OutboxError(
                f"the PDF of result {result_id[:12]}… is missing from the outbox ({path}): "
                f"{e.strerror}; capture and sign the document again"
            ) from e
        if is_sealed(pdf):
            pdf = self._need_sealer().open(pdf, result_id=result_id, purpose=Purpose.PDF)
        if sha256_hex(pdf) != result_id:
            raise OutboxError(
                f"the PDF of result {result_id[:12]}… is damaged on disk ({path}: its SHA-256 "
                "differs); check the storage and capture and sign the document again"
            )
        return pdf

    def mark_sent(self, result_id: str) -> None:
        """Record that `result_id` is being published (once more). The agent calls it before
        the first message goes, so that after a crash mid-way the result is resumed.

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
        """Record the last problem sending `result_id` (it stays waiting); it also becomes the
        outbox's last error."""
        with self._write():
            self._db.execute(
                "UPDATE result SET last_error = ? WHERE result_id = ? AND state IN (?, ?)",
                (message, result_id, *_WAITING),
            )
            self._set_standing("last_error", message)
            self._set_standing("last_error_at", _now_iso())

    def apply_ack(self, ack: Ack) -> State | None:
        """Apply the server's final application ack: ACCEPTED or DUPLICATE -> ACKED with its
        `record_id`; REJECTED -> REJECTED with the reason. A result already answered keeps its
        first answer. A need_chunks ack is not an answer and changes nothing.

        Returns:
            The result's state afterwards, or None if the outbox does not know the result.
        """
        return self.answer(ack)[0]

    def answer(self, ack: Ack) -> tuple[State | None, bool]:
        """`apply_ack`, also saying whether this ack changed the result (its first answer).

        Returns:
            (the state afterwards or None if unknown, whether this ack answered it).
        """
        if not ack.final:
            with self._lock:
                row = self._row(ack.result_id)
            return (State(row[1]) if row is not None else None), False
        now = _now_iso()
        if ack.reason is not None:
            error = f"{ack.reason.value}: {ack.detail}" if ack.detail else ack.reason.value
            sql = "UPDATE result SET state = ?, last_error = ?, acked_at = ?, answered_ts = ? "
            params: tuple[str | float | None, ...] = (State.REJECTED.value, error, now, time.time())
        else:
            sql = (
                "UPDATE result SET state = ?, record_id = ?, acked_at = ?, answered_ts = ?, "
                "last_error = NULL "
            )
            params = (State.ACKED.value, ack.record_id, now, time.time())
        try:
            with self._write():
                changed = self._db.execute(
                    sql + "WHERE result_id = ? AND state IN (?, ?)",
                    (*params, ack.result_id, *_WAITING),
                ).rowcount
                if changed:
                    self._set_standing("last_answer_at", now)
                row = self._row(ack.result_id)
        except sqlite3.Error as e:
            raise OutboxError(f"cannot record the server's answer: {e}") from e
        return (State(row[1]) if row is not None else None), changed > 0

    def purge(self, now: float | None = None) -> int:
        """Delete the results answered more than `retention_s` ago, rows first, then files.

        Args:
            now: the current time in seconds since the epoch (default: the clock).

        Returns:
            How many results were deleted.
        """
        cutoff = (time.time() if now is None else now) - self.retention_s
        try:
            with self._write():
                expired = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT result_id FROM result WHERE state IN (?, ?) AND answered_ts <= ?",
                        (*_ANSWERED, cutoff),
                    ).fetchall()
                ]
                self._db.executemany(
                    "DELETE FROM result WHERE result_id = ?", [(i,) for i in expired]
                )
            if expired:
                # A second transaction: the same bytes may have been added again meanwhile.
                with self._write():
                    for result_id in expired:
                        if self._row(result_id) is None:
                            self.blob_path(result_id).unlink(missing_ok=True)
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(f"cannot purge answered results from the outbox: {e}") from e
        return len(expired)

    def counts(self) -> dict[State, int]:
        """How many results are in each state (every state present, zero included)."""
        rows = self._read("SELECT state, count(*) FROM result GROUP BY state", ())
        counts = dict.fromkeys(State, 0)
        counts.update({State(state): n for state, n in rows})
        return counts

    # --- the appliance's standing ---

    def status(self, now: float | None = None) -> OutboxStatus:
        """Counts per state, the oldest waiting result's age, the last error, the revocation.

        Args:
            now: the current time in seconds since the epoch (default: the clock).
        """
        counts = self.counts()
        oldest = self._read("SELECT min(created_ts) FROM result WHERE state IN (?, ?)", _WAITING)[
            0
        ][0]
        standing = dict(self._read("SELECT key, value FROM standing", ()))
        age = None
        if oldest is not None:
            age = max(0.0, (time.time() if now is None else now) - oldest)
        link = standing.get("link")
        return OutboxStatus(
            counts=MappingProxyType(counts),
            oldest_pending_age_s=age,
            last_error=standing.get("last_error"),
            last_error_at=standing.get("last_error_at"),
            revoked=standing.get("revoked"),
            link_up=None if link is None else link == "up",
            link_at=standing.get("link_at"),
            last_answer_at=standing.get("last_answer_at"),
        )

    def set_link(self, up: bool) -> None:
        """Record that the sync agent connected to the broker (or lost it), for the kiosk,
        which runs in another process."""
        with self._write():
            self._set_standing("link", "up" if up else "down")
            self._set_standing("link_at", _now_iso())

    def listing(self, limit: int = 500) -> list[OutboxItem]:
        """Every result in the outbox, whatever its state, newest first (at most `limit`)."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM result "  # noqa: S608 - constant columns
            "ORDER BY created_ts DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [self._item(r) for r in rows]

    def count_created_since(self, since: float) -> int:
        """How many results were signed at or after `since` (seconds since the epoch)."""
        ((count,),) = self._read("SELECT count(*) FROM result WHERE created_ts >= ?", (since,))
        return int(count)

    def retry(self, result_id: str) -> None:
        """Queue a result the server refused once more, at the officer's request (after the
        cause was fixed on the server's side: the device registered, a CRL published). Only a
        refused result can be retried; one still waiting is resent by the agent on its own.

        Raises:
            OutboxError: no such refused result.
        """
        try:
            with self._write():
                changed = self._db.execute(
                    "UPDATE result SET state = ?, last_error = NULL, acked_at = NULL, "
                    "answered_ts = NULL, queued_ts = ? WHERE result_id = ? AND state = ?",
                    (State.QUEUED.value, time.time(), result_id, State.REJECTED.value),
                ).rowcount
        except sqlite3.Error as e:
            raise OutboxError(f"cannot update the outbox: {e}") from e
        if changed == 0:
            raise OutboxError(f"result {result_id[:12]}… is not a refused result of the outbox")

    def set_last_error(self, message: str | None) -> None:
        """Record the last problem syncing (None clears it), for the TUI and the heartbeat."""
        with self._write():
            if message is None:
                self._db.execute(
                    "DELETE FROM standing WHERE key IN ('last_error', 'last_error_at')"
                )
            else:
                self._set_standing("last_error", message)
                self._set_standing("last_error_at", _now_iso())

    def revoked(self) -> str | None:
        """Why the appliance was revoked, or None: a revoked appliance sends nothing."""
        rows = self._read("SELECT value FROM standing WHERE key = 'revoked'", ())
        return rows[0][0] if rows else None

    def set_revoked(self, reason: str) -> None:
        """Record that the server revoked this appliance (it survives restarts)."""
        with self._write():
            self._set_standing("revoked", reason or "revoked")
            self._set_standing("revoked_at", _now_iso())

    def clear_revoked(self) -> None:
        """Lift the revocation, and a wipe's stop (after the appliance is enrolled again)."""
        with self._write():
            self._db.execute(
                "DELETE FROM standing WHERE key IN ('revoked', 'revoked_at', ?, ?)",
                (_WIPED, f"{_WIPED}_at"),
            )

    @property
    def sealed(self) -> bool:
        """Whether this outbox is sealed (encrypted at rest) with this object's data key."""
        return self._sealer is not None

    @property
    def sealer(self) -> Sealer | None:
        """The data key this outbox is sealed with (the kiosk seals its drafts with it too), or
        None."""
        return self._sealer

    @staticmethod
    def sealed_with(directory: Path) -> str | None:
        """The data key check value the outbox in `directory` is sealed with, or None (no
        outbox there, or a plaintext one), read without opening it for writing."""
        path = directory / DB_FILE
        if not path.exists():
            return None
        try:
            db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30.0)
        except sqlite3.Error:
            return None
        try:
            row = db.execute("SELECT value FROM standing WHERE key = ?", (_SEALED,)).fetchone()
        except sqlite3.Error:
            return None  # no standing table yet: not sealed
        finally:
            db.close()
        return str(row[0]) if row else None

    def wipe(self, reason: str) -> tuple[int, int]:
        """Erase every result: rows, PDF files (a clear file overwritten with zeros first),
        orphans, and what the database keeps of them in free pages and its WAL; then stop the
        outbox as a revocation does (`revoked` says it was wiped, and `add` refuses) until
        `clear_revoked`. With the token's sealing key destroyed first, nothing left can be
        decrypted (`edge.sync.at_rest.wipe`).

        Args:
            reason: why (no personal data); shown as the revocation.

        Returns:
            (results erased, files removed).

        Raises:
            OutboxError: the database or a file could not be changed (run it again).
        """
        removed = 0
        try:
            with self._lock:
                self._db.execute("PRAGMA secure_delete=ON")
                with self._write():
                    ((count,),) = self._db.execute("SELECT count(*) FROM result").fetchall()
                    self._db.execute("DELETE FROM result")
                    self._db.execute(
                        "DELETE FROM standing WHERE key IN (?, ?)", (_SEALED, _FILES_SEALED)
                    )
                    self._set_standing("revoked", f"wiped: {reason}" if reason else "wiped")
                    self._set_standing("revoked_at", _now_iso())
                    self._set_standing(_WIPED, reason or "wiped")
                    self._set_standing(f"{_WIPED}_at", _now_iso())
                    for shard in list(self.blob_dir.iterdir()):
                        files = list(shard.iterdir()) if shard.is_dir() else [shard]
                        for path in files:
                            if _clear_file(path):
                                overwrite_and_remove(path)
                            else:
                                path.unlink(missing_ok=True)
                            removed += 1
                        if shard.is_dir():
                            shard.rmdir()
                self._compact()
        except (OSError, sqlite3.Error) as e:
            raise OutboxError(
                f"cannot wipe the outbox in {self.directory}: {e}; run the wipe again"
            ) from e
        log.warning("outbox wiped: %d result(s), %d file(s) erased", count, removed)
        return int(count), removed

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL back into it)."""
        with self._lock:
            self._db.close()

    # --- internals ---

    def _item(self, row: _Row) -> OutboxItem:
        """The item of a database row, its fields unsealed in a sealed outbox."""
        result_id, text = row[0], row[3]
        if is_sealed_text(text):
            text = self._need_sealer().open_text(text, result_id=result_id, purpose=Purpose.FIELDS)
        elif self._sealer is not None:
            raise OutboxError(
                f"the fields of result {result_id[:12]}… are in clear in a sealed outbox: the "
                f"database {self.directory / DB_FILE} was altered; check the storage"
            )
        return _item(row, text)

    def _need_sealer(self) -> Sealer:
        if self._sealer is None:
            raise OutboxError(
                f"the outbox in {self.directory} is sealed and was opened without its key: "
                "open it through the appliance's settings (outbox_sealing and its token)"
            )
        return self._sealer

    def _blob_ok(self, path: Path, result_id: str) -> bool:
        """Whether `path` holds the PDF of `result_id` as this outbox keeps it (sealed in a
        sealed outbox: a clear copy there is rewritten)."""
        try:
            data = path.read_bytes()
        except OSError:
            return False
        if is_sealed(data):
            if self._sealer is None:
                return False
            try:
                data = self._sealer.open(data, result_id=result_id, purpose=Purpose.PDF)
            except OutboxError:
                return False
        elif self._sealer is not None:
            return False
        return sha256_hex(data) == result_id

    def _check_writable(self) -> None:
        """Refuse a write into a wiped outbox, or one sealed otherwise than this object knows
        (another process sealed it since this one opened it, or the reverse). Hold the write
        lock."""
        standing = dict(
            self._db.execute(
                "SELECT key, value FROM standing WHERE key IN (?, ?)", (_SEALED, _WIPED)
            ).fetchall()
        )
        if _WIPED in standing:
            raise OutboxError(
                f"this appliance's outbox was wiped ({standing[_WIPED]}): it takes no result "
                "until the appliance is enrolled again"
            )
        mine = self._sealer.key_check if self._sealer is not None else None
        if standing.get(_SEALED) != mine:
            raise OutboxError(
                f"the outbox in {self.directory} was "
                f"{'sealed' if standing.get(_SEALED) else 'unsealed'} by another process since "
                "this one opened it: restart this program (kiosk and sync agent must share "
                "outbox_sealing)"
            )

    def _check_sealing(self) -> bool:
        """Compare the outbox's seal with this object's key; seal a plaintext outbox's fields
        (one transaction, with the marker) when a sealer is given.

        Returns:
            Whether rows were sealed now (a plaintext outbox's migration began).

        Raises:
            OutboxError: sealed and opened without its key (unless `keyless`), or with another.
        """
        with self._write():
            row = self._db.execute(
                "SELECT value FROM standing WHERE key = ?", (_SEALED,)
            ).fetchone()
            marker = row[0] if row else None
            if self._sealer is None:
                if marker is not None and not self._keyless:
                    raise OutboxError(
                        f"the outbox in {self.directory} is sealed (encrypted at rest): open it "
                        "with outbox_sealing on and its token configured, as the appliance's "
                        "kiosk and sync agent do (`edge.sync.at_rest.open_outbox`)"
                    )
                return False
            if marker is not None:
                if marker != self._sealer.key_check:
                    raise OutboxError(
                        f"the outbox in {self.directory} is sealed with another data key "
                        f"(key check {marker}, this one is {self._sealer.key_check}): its "
                        f"data key file was replaced or comes from another appliance; restore "
                        "the appliance's own data_dir/keys"
                    )
                return False
            rows = self._db.execute("SELECT result_id, fields FROM result").fetchall()
            for result_id, text in rows:
                if is_sealed_text(text):
                    continue  # sealed by a key of before (a wipe's leftover): never readable
                self._db.execute(
                    "UPDATE result SET fields = ? WHERE result_id = ?",
                    (
                        self._sealer.seal_text(text, result_id=result_id, purpose=Purpose.FIELDS),
                        result_id,
                    ),
                )
            self._set_standing(_SEALED, self._sealer.key_check)
            self._set_standing(_FILES_SEALED, "pending" if rows else "done")
        if rows:
            log.info("sealing a plaintext outbox: %d result(s)", len(rows))
        return bool(rows)

    def _seal_files(self, *, checkpoint: bool) -> None:
        """Seal the PDF files still in clear (a plaintext outbox being sealed), one write
        transaction per file, so that the kiosk waits for at most one; then note it done and
        fold the WAL, which held the clear fields' pages, back into the database."""
        sealer = self._need_sealer()
        row = self._db.execute(
            "SELECT value FROM standing WHERE key = ?", (_FILES_SEALED,)
        ).fetchone()
        if row is not None and row[0] == "done":
            return
        ids = [r[0] for r in self._db.execute("SELECT result_id FROM result").fetchall()]
        sealed = 0
        for result_id in ids:
            path = self.blob_path(result_id)
            with self._write():
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:
                    continue  # load_pdf says so when it is wanted
                try:
                    data = _read_all(fd)
                    if is_sealed(data) or sha256_hex(data) != result_id:
                        continue  # sealed already, or damaged: load_pdf says so
                    blob = sealer.seal(data, result_id=result_id, purpose=Purpose.PDF)
                    write_atomic(path, blob, mode=self._file_mode)
                    # The clear copy, unlinked by the rename but still open here: zeros over it.
                    os.pwrite(fd, bytes(len(data)), 0)
                    os.fsync(fd)
                    sealed += 1
                finally:
                    os.close(fd)
        with self._write():
            self._set_standing(_FILES_SEALED, "done")
        if sealed or checkpoint:
            self._compact()
            log.info("sealed %d PDF file(s) of the outbox", sealed)

    def _compact(self) -> None:
        """Fold the WAL into the database and truncate it, and rebuild the database without its
        free pages: what was deleted or replaced does not linger in either file."""
        with self._lock:
            try:
                self._db.execute("VACUUM")
            except sqlite3.OperationalError as e:  # another process is reading: not fatal
                log.warning("outbox not compacted now (%s): its free pages were zeroed", e)
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction holding the database's write lock (`BEGIN IMMEDIATE`), so
        that files and rows change together with respect to other processes."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT (disk full), which may leave the transaction open.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        with self._lock:
            try:
                rows: list[Any] = self._db.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise OutboxError(f"cannot read the outbox: {e}") from e
        return rows

    def _row(self, result_id: str) -> _Row | None:
        row: _Row | None = self._db.execute(
            f"SELECT {_COLUMNS} FROM result WHERE result_id = ?",  # noqa: S608 - constant columns
            (result_id,),
        ).fetchone()
        return row

    def _set_standing(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO standing (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _update(self, sql: str, params: tuple[str, ...], result_id: str) -> None:
        try:
            with self._write():
                changed = self._db.execute(sql, params).rowcount
        except sqlite3.Error as e:
            raise OutboxError(f"cannot update the outbox: {e}") from e
        if changed == 0:
            raise OutboxError(f"result {result_id[:12]}… is not waiting in the outbox")

    def _migrate(self) -> None:
        with self._write():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            exists = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'result'"
            ).fetchone()
            if version > SCHEMA_VERSION:
                raise OutboxError(
                    f"the outbox in {self.directory} was written by a newer Sohoa (schema "
                    f"{version}, this one reads {SCHEMA_VERSION}): update this appliance"
                )
            if exists and version < 2:
                for statement in _MIGRATE_FROM_1.strip().split(";\n"):
                    self._db.execute(statement)
                for result_id, created_at in self._db.execute(
                    "SELECT result_id, created_at FROM result"
                ).fetchall():
                    path = self.blob_path(result_id)
                    size = path.stat().st_size if path.exists() else 0
                    self._db.execute(
                        "UPDATE result SET size = ?, created_ts = ?, queued_ts = ? "
                        "WHERE result_id = ?",
                        (size, _epoch(created_at), time.time(), result_id),
                    )
            for statement in _CREATE.strip().split(";\n"):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _sweep_orphans(self) -> None:
        """Remove temp files and files no row names: what a crash between a file and its row,
        or between a purged row and its file, left behind; and make what stays its user's only
        (a folder or file made before that rule). Under the write lock, so no add in another
        process is between its file and its row."""
        with self._write():
            known = {r[0] for r in self._db.execute("SELECT result_id FROM result").fetchall()}
            for shard in self.blob_dir.iterdir():
                if not shard.is_dir():
                    continue
                private_dir(shard, self._dir_mode)
                for path in shard.iterdir():
                    if path.name.startswith(".") and path.name.endswith(".tmp"):
                        path.unlink(missing_ok=True)  # a write cut short: never valid
                    elif _BLOB_NAME.fullmatch(path.name) and path.name[:64] not in known:
                        path.unlink(missing_ok=True)
                    elif path.stat().st_mode & 0o777 != self._file_mode:
                        path.chmod(self._file_mode)


def _check_sendable(
    result_id: str,
    size: int,
    fields: Mapping[str, str | None],
    created_at: str,
    metadata: Mapping[str, str],
) -> None:
    """Refuse a result the protocol would refuse to carry (a field or metadata value over its
    4096-character limit, a bad key, a date that is not ISO 8601), by running the protocol's
    own checks on a manifest of it: queued, it would wait forever."""
    try:
        ResultManifest(
            device_id=_CHECK_DEVICE,
            result_id=result_id,
            size=size,
            chunk_size=max(1, -(-size // MAX_CHUNK_COUNT)),
            fields=fields,
            created_at=created_at,
            metadata=metadata,
        )
    except ProtocolError as e:
        raise OutboxError(
            f"this result cannot be queued: {e}; correct it in the review screen and sign again"
        ) from e


def _check_signed_fields(
    pdf: bytes, fields: Mapping[str, str | None], metadata: Mapping[str, str]
) -> None:
    """Refuse fields that are not those the PDF's XMP carries: the server stores the signed
    ones and refuses a header that differs (`protocol.signed_metadata`), so a correction the
    officer makes must go into the document before it is signed
    (`edge.pipeline.run.with_fields`), never into the header alone."""
    try:
        signed = signed_metadata(pdf)
    except PdfError as e:
        raise OutboxError(f"this result cannot be queued: {e}; sign the document again") from e
    if signed is None:
        return  # not a PDF at all: the server refuses it whatever its header says
    mismatch = header_mismatch(fields, signed, metadata=metadata)
    if mismatch is not None:
        raise OutboxError(f"this result cannot be queued: {mismatch}")


def _epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (a time without offset is taken as UTC)."""
    when = dt.datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _make_dir(path: Path, mode: int) -> None:
    """Make `path` (and its parents) with `mode`, and fsync each parent it was added to, so that
    a power cut cannot lose a folder that a committed row's file lives in."""
    if path.is_dir():
        return
    _make_dir(path.parent, mode)
    try:
        path.mkdir(mode=mode & 0o777)
    except FileExistsError:
        return
    path.chmod(mode)  # mkdir's mode passes through the umask
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    """The whole content of the open file `fd`."""
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _clear_file(path: Path) -> bool:
    """Whether `path` is a file that is not sealed (a PDF in clear, or anything else)."""
    try:
        with path.open("rb") as f:
            return not is_sealed(f.read(16))
    except OSError:
        return False


def _item(row: _Row, fields: str) -> OutboxItem:
    """An item of a database row, with its fields' JSON (unsealed, in a sealed outbox)."""
    (
        result_id,
        state,
        size,
        _stored_fields,
        metadata,
        created_at,
        attempts,
        last_error,
        acked_at,
        record_id,
    ) = row
    return OutboxItem(
        result_id=result_id,
        state=State(state),
        fields=MappingProxyType(json.loads(fields)),
        created_at=created_at,
        size=size,
        metadata=MappingProxyType(json.loads(metadata)),
        attempts=attempts,
        last_error=last_error,
        acked_at=acked_at,
        record_id=record_id,
    )
