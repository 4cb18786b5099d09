"""The outbox on a real SQLite file: idempotent add, survival across reopen and SIGKILL, corrupt
files detected, and the ack transitions."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.outbox import Outbox, State
from protocol.messages import Ack, AckStatus, RejectReason, sha256_hex

REPO = Path(__file__).resolve().parents[2]
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


WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from edge.outbox import Outbox
    box = Outbox(Path(sys.argv[1]))
    for i in range(100_000):
        pdf = b"%PDF-1.7\\n" + os.urandom(64 * 1024) + b"\\n%%EOF\\n"
        result_id = box.add(pdf, {"n": str(i)}, "2025-04-01T03:00:00+00:00")
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
