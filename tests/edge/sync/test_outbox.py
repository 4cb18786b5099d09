"""The outbox on a real SQLite file: idempotent add, survival across reopen and SIGKILL, corrupt
files detected, the ack transitions, what the protocol refuses, retention, the status the kiosk
and the heartbeat show, and the migration from schema 1. The randomised kill -9 test is in
test_outbox_crash.py."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.sync.outbox import SCHEMA_VERSION, Outbox, State
from protocol.messages import MAX_TEXT, Ack, AckStatus, sha256_hex
from protocol.reasons import RejectReason

REPO = Path(__file__).resolve().parents[3]
FIELDS = {"so_ky_hieu": "12/QĐ-UBND", "ho_ten": "Trần Thị Bình", "cccd": None}
CREATED = "2025-04-01T03:00:00+00:00"


def pdf(n: int) -> bytes:
    return b"%PDF-1.7\n" + f"result {n}\n".encode() + os.urandom(32) + b"\n%%EOF\n"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox") as box:
        yield box


def test_add_stores_the_pdf_content_addressed_before_the_row(outbox: Outbox) -> None:
    data = pdf(1)
    result_id = outbox.add(data, FIELDS, CREATED)
    assert result_id == sha256_hex(data)
    blob = outbox.directory / "blobs" / result_id[:2] / f"{result_id}.pdf"
    assert blob.read_bytes() == data
    assert blob.stat().st_mode & 0o077 == 0
    item = outbox.get(result_id)
    assert (item.state, item.attempts, item.record_id) == (State.QUEUED, 0, None)
    assert dict(item.fields) == FIELDS
    assert outbox.load_pdf(result_id) == data


def test_adding_the_same_bytes_twice_is_a_no_op(outbox: Outbox) -> None:
    data = pdf(2)
    first = outbox.add(data, FIELDS, CREATED)
    outbox.mark_sent(first)
    again = outbox.add(data, {"so_ky_hieu": "changed"}, "2030-01-01T00:00:00+00:00")
    assert again == first
    item = outbox.get(first)
    assert (item.state, item.attempts, dict(item.fields)) == (State.SENT, 1, FIELDS)
    assert outbox.counts()[State.SENT] == 1
    assert sum(outbox.counts().values()) == 1


def test_the_outbox_survives_reopening(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o") as box:
        ids = [box.add(pdf(i), FIELDS, f"2025-04-01T03:00:0{i}+00:00") for i in range(3)]
        box.mark_sent(ids[0])
    with Outbox(tmp_path / "o") as box:
        assert [i.result_id for i in box.pending()] == ids
        assert box.get(ids[0]).state is State.SENT
        assert box.load_pdf(ids[2]).startswith(b"%PDF")
    with sqlite3.connect(tmp_path / "o" / "outbox.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_damaged_or_missing_pdf_is_an_outbox_error(outbox: Outbox) -> None:
    result_id = outbox.add(pdf(3), FIELDS, CREATED)
    blob = outbox.blob_path(result_id)
    blob.write_bytes(blob.read_bytes().replace(b"result", b"resulT"))
    with pytest.raises(OutboxError, match="damaged"):
        outbox.load_pdf(result_id)
    blob.unlink()
    with pytest.raises(OutboxError, match="missing"):
        outbox.load_pdf(result_id)


def test_adding_again_repairs_a_damaged_pdf(outbox: Outbox) -> None:
    data = pdf(4)
    result_id = outbox.add(data, FIELDS, CREATED)
    outbox.blob_path(result_id).write_bytes(b"garbage")
    assert outbox.add(data, FIELDS, CREATED) == result_id
    assert outbox.load_pdf(result_id) == data


def test_acks_move_results_to_their_final_state(outbox: Outbox) -> None:
    a, b, c, d = (outbox.add(pdf(i), FIELDS, CREATED) for i in range(10, 14))
    for result_id in (a, b, c):
        outbox.mark_sent(result_id)

    assert outbox.apply_ack(Ack(a, AckStatus.ACCEPTED, record_id="rec-a")) is State.ACKED
    assert outbox.apply_ack(Ack(b, AckStatus.DUPLICATE, record_id="rec-b")) is State.ACKED
    rejected = Ack(c, AckStatus.REJECTED, RejectReason.SIGNATURE, "signer not registered")
    assert outbox.apply_ack(rejected) is State.REJECTED
    assert outbox.apply_ack(Ack("f" * 64, AckStatus.ACCEPTED)) is None

    assert outbox.get(a).record_id == "rec-a"
    assert outbox.get(a).acked_at is not None
    assert outbox.get(b).record_id == "rec-b"
    assert outbox.get(c).last_error == "signature: signer not registered"
    assert [i.result_id for i in outbox.pending()] == [d]
    assert outbox.counts() == {State.QUEUED: 1, State.SENT: 0, State.ACKED: 2, State.REJECTED: 1}

    # The first answer stands: a late duplicate ack changes nothing.
    assert outbox.apply_ack(Ack(c, AckStatus.ACCEPTED, record_id="rec-c")) is State.REJECTED
    assert outbox.get(c).record_id is None
    with pytest.raises(OutboxError, match="not waiting"):
        outbox.mark_sent(a)


def test_an_unknown_result_is_an_outbox_error(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="not in the outbox"):
        outbox.get("0" * 64)


def test_an_unwritable_folder_is_an_outbox_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(blocker / "outbox")


def test_an_item_carries_its_size_and_metadata(outbox: Outbox) -> None:
    data = pdf(20)
    result_id = outbox.add(data, FIELDS, CREATED, {"pages": "2", "app_version": "0.1.0"})
    item = outbox.get(result_id)
    assert item.size == len(data)
    assert dict(item.metadata) == {"pages": "2", "app_version": "0.1.0"}
    assert outbox.pending()[0].size == len(data)


@pytest.mark.parametrize(
    ("fields", "metadata", "created_at", "complaint"),
    [
        ({"trich_yeu": "x" * (MAX_TEXT + 1)}, {}, CREATED, "field trich_yeu is longer than 4096"),
        ({"": "empty key"}, {}, CREATED, "unknown field ''"),
        ({"ghi_chu": "a key no one reads"}, {}, CREATED, "unknown field 'ghi_chu'"),
        ({}, {"Pages": "2"}, CREATED, "metadata key 'Pages'"),
        ({}, {"note": "y" * (MAX_TEXT + 1)}, CREATED, "metadata note is longer than 4096"),
        ({}, {}, "yesterday", "created_at must be an ISO 8601"),
    ],
)
def test_what_the_protocol_would_refuse_is_refused_at_add(
    outbox: Outbox,
    fields: dict[str, str | None],
    metadata: dict[str, str],
    created_at: str,
    complaint: str,
) -> None:
    with pytest.raises(OutboxError, match=f"cannot be queued: {complaint}"):
        outbox.add(pdf(21), fields, created_at, metadata)
    assert sum(outbox.counts().values()) == 0
    assert not any(outbox.blob_dir.rglob("*.pdf"))


def test_a_need_chunks_ack_is_not_an_answer(outbox: Outbox) -> None:
    result_id = outbox.add(pdf(22), FIELDS, CREATED)
    outbox.mark_sent(result_id)
    need = Ack(result_id, AckStatus.NEED_CHUNKS, missing=(1, 3), chunk_size=65536)
    assert outbox.apply_ack(need) is State.SENT
    assert outbox.answer(need) == (State.SENT, False)
    assert outbox.answer(Ack(result_id, AckStatus.ACCEPTED, record_id="r")) == (State.ACKED, True)
    assert outbox.answer(Ack(result_id, AckStatus.DUPLICATE, record_id="r")) == (State.ACKED, False)


def test_status_counts_ages_errors_and_the_revocation(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o") as box:
        assert box.status().queue_depth == 0 and box.status().oldest_pending_age_s is None
        old = box.add(pdf(30), FIELDS, "2025-04-01T00:00:00+00:00")
        box.add(pdf(31), FIELDS, "2025-04-01T08:00:00+07:00")  # the same instant, +07:00
        done = box.add(pdf(32), FIELDS, "2025-03-01T00:00:00")  # no offset: UTC
        box.mark_sent(old)
        box.apply_ack(Ack(done, AckStatus.ACCEPTED, record_id="r"))
        now = dt.datetime(2025, 4, 2, tzinfo=dt.UTC).timestamp()
        status = box.status(now)
        assert status.counts[State.QUEUED] == 1 and status.counts[State.SENT] == 1
        assert status.queue_depth == 2
        assert status.oldest_pending_age_s == pytest.approx(24 * 3600)
        assert status.last_error is None and status.revoked is None

        box.set_last_error("broker unreachable")
        box.set_revoked("appliance reported lost")
    with Outbox(tmp_path / "o") as box:  # both survive a restart
        status = box.status()
        assert status.last_error == "broker unreachable" and status.last_error_at
        assert box.revoked() == status.revoked == "appliance reported lost"
        box.clear_revoked()
        box.set_last_error(None)
        assert box.revoked() is None and box.status().last_error is None


def test_answered_results_are_purged_after_the_retention(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o", retention_s=3600) as box:
        acked, rejected, waiting = (box.add(pdf(i), FIELDS, CREATED) for i in range(40, 43))
        box.apply_ack(Ack(acked, AckStatus.ACCEPTED, record_id="r"))
        box.apply_ack(Ack(rejected, AckStatus.REJECTED, RejectReason.SIGNATURE, "bad"))
        assert box.purge() == 0  # kept for the retention
        assert box.purge(now=time.time() + 3601) == 2
        assert [i.result_id for i in box.pending()] == [waiting]
        assert sum(box.counts().values()) == 1
        assert not box.blob_path(acked).exists() and not box.blob_path(rejected).exists()
        assert box.load_pdf(waiting).startswith(b"%PDF")
        # Signed again after the purge, the same bytes queue again (the server says duplicate).
        assert box.add(box.load_pdf(waiting), FIELDS, CREATED) == waiting


def test_opening_removes_orphans_and_half_written_files(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o") as box:
        kept = box.add(pdf(50), FIELDS, CREATED)
        shard = box.blob_path(kept).parent
    orphan_pdf = pdf(51)
    orphan = tmp_path / "o" / "blobs" / sha256_hex(orphan_pdf)[:2] / f"{sha256_hex(orphan_pdf)}.pdf"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(orphan_pdf)  # its row never committed
    half = shard / f".{kept}.pdf.abc123.tmp"
    half.write_bytes(b"%PDF-1.7 half")  # a write cut short
    with Outbox(tmp_path / "o") as box:
        assert not orphan.exists() and not half.exists()
        assert box.load_pdf(kept).startswith(b"%PDF")


def test_a_schema_1_outbox_is_migrated(tmp_path: Path) -> None:
    directory = tmp_path / "o"
    data = pdf(60)
    result_id = sha256_hex(data)
    blob = directory / "blobs" / result_id[:2] / f"{result_id}.pdf"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    with sqlite3.connect(directory / "outbox.db") as db:
        db.executescript(SCHEMA_1)
        db.execute(
            "INSERT INTO result (result_id, state, fields, created_at, attempts) "
            "VALUES (?, 'sent', '{}', ?, 2)",
            (result_id, CREATED),
        )
    with Outbox(directory) as box:
        item = box.get(result_id)
        assert (item.state, item.size, item.attempts) == (State.SENT, len(data), 2)
        assert box.status().oldest_pending_age_s is not None
    with sqlite3.connect(directory / "outbox.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_outbox_from_a_newer_sohoa_is_refused(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o"):
        pass
    with sqlite3.connect(tmp_path / "o" / "outbox.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(OutboxError, match="newer Sohoa"):
        Outbox(tmp_path / "o")


SCHEMA_1 = """
CREATE TABLE result (
    result_id  TEXT PRIMARY KEY CHECK (length(result_id) = 64),
    state      TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'acked', 'rejected')),
    fields     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    acked_at   TEXT,
    record_id  TEXT
);
CREATE INDEX result_state ON result (state);
PRAGMA user_version = 1;
"""


WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from edge.sync.outbox import Outbox
    box = Outbox(Path(sys.argv[1]))
    for i in range(100_000):
        pdf = b"%PDF-1.7\\n" + os.urandom(64 * 1024) + b"\\n%%EOF\\n"
        result_id = box.add(pdf, {"so_ky_hieu": str(i)}, "2025-04-01T03:00:00+00:00")
        print(result_id, flush=True)
    """
)


def test_sigkill_after_add_returns_leaves_a_consistent_outbox(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    assert proc.stdout is not None
    reported = [proc.stdout.readline().strip() for _ in range(20)]
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through later adds
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(directory / "outbox.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Outbox(directory) as box:
        items = box.pending()
        ids = {i.result_id for i in items}
        assert set(reported) <= ids  # every add that returned is there
        for item in items:  # and no row lacks its PDF
            assert item.state is State.QUEUED
            assert sha256_hex(box.load_pdf(item.result_id)) == item.result_id


def test_a_result_added_by_another_process_is_noticed_cheaply(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o") as agent, Outbox(tmp_path / "o") as kiosk:
        agent.changed_elsewhere()  # the first look only notes where things stand
        assert agent.changed_elsewhere() is False
        kiosk.add(b"%PDF-1.7 kiosk", FIELDS, CREATED)
        assert agent.changed_elsewhere() is True
        assert agent.changed_elsewhere() is False
        result_id = agent.add(b"%PDF-1.7 agent", FIELDS, CREATED)
        assert agent.changed_elsewhere() is True  # a kiosk thread may share this object
        assert agent.changed_elsewhere() is False
        agent.mark_sent(result_id)  # the agent's own bookkeeping is not news to it
        assert agent.changed_elsewhere() is False
