"""kill -9 at random instants: a child process works the outbox (adds of 1-300 KB PDFs, marks
sent, acks, rejections, purges) and prints a journal line after each operation returns; the
test kills it with SIGKILL at a random moment, many times over the same outbox, and after each
kill checks that:

- the database passes `PRAGMA integrity_check` and opens;
- every file under a result's name holds exactly the bytes of that name (a half-written file is
  only ever a temp file, never taken for a result), and after opening no temp or orphan file is
  left;
- every row has its file, of its size and hash;
- every operation the journal reports is there: an added result exists, and nothing answered
  goes back to waiting (nothing acknowledged is lost); a result is gone only if a purge of
  answered results was under way or done.

SIGKILL leaves the OS page cache intact: this shows crash consistency of the process and of
SQLite/rename ordering; power loss additionally relies on the fsyncs (synchronous=FULL, file and
folder fsync in `support.files.write_atomic` and `edge.sync.outbox._make_dir`).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest

from edge.sync.outbox import Outbox, OutboxItem, State
from protocol.messages import sha256_hex

REPO = Path(__file__).resolve().parents[3]
KILLS = 30

CHILD = textwrap.dedent(
    """
    import os, random, sys
    from pathlib import Path
    from edge.sync.outbox import Outbox, OutboxItem, State
    from protocol.messages import Ack, AckStatus
    from protocol.reasons import RejectReason

    rnd = random.Random(int(sys.argv[2]))
    box = Outbox(Path(sys.argv[1]), retention_s=0.0)
    print("ready", flush=True)
    n = 0
    while True:
        roll = rnd.random()
        pending = box.pending()
        if roll < 0.4 or not pending:
            size = rnd.randint(1024, 300 * 1024)
            pdf = b"%PDF-1.7\\n" + os.urandom(size) + b"\\n%%EOF\\n"
            rid = box.add(pdf, {"so_ky_hieu": f"{n}/QD"}, "2025-04-01T03:00:00+00:00")
            n += 1
            print("add", rid, flush=True)
        elif roll < 0.65:
            rid = rnd.choice(pending).result_id
            box.mark_sent(rid)
            print("sent", rid, flush=True)
        elif roll < 0.8:
            rid = rnd.choice(pending).result_id
            box.apply_ack(Ack(rid, AckStatus.ACCEPTED, record_id="rec-" + rid[:8]))
            print("acked", rid, flush=True)
        elif roll < 0.9:
            rid = rnd.choice(pending).result_id
            box.apply_ack(Ack(rid, AckStatus.REJECTED, RejectReason.SIGNATURE, "bad"))
            print("rejected", rid, flush=True)
        else:
            print("purging", flush=True)
            box.purge()
            print("purged", flush=True)
    """
)

RANK = {"queued": 0, "sent": 1, "acked": 2, "rejected": 2}


class Journal:
    """What the child reported, folded over all its lives."""

    def __init__(self) -> None:
        self.expect: dict[str, str] = {}
        """result id -> the last state the child reported for it."""
        self.limbo: set[str] = set()
        """Answered results a purge was deleting when the child died: present or gone."""
        self.gone: set[str] = set()
        """Results a completed purge deleted."""
        self.seen: Counter[str] = Counter()
        """How many operations of each kind completed."""

    def apply(self, lines: list[str]) -> None:
        purging: set[str] = set()
        for line in lines:
            word, _, rid = line.partition(" ")
            self.seen[word] += 1
            if word == "add":
                self.expect[rid] = "queued"
            elif word in ("sent", "acked", "rejected"):
                self.expect[rid] = word
            elif word == "purging":
                purging = {r for r, s in self.expect.items() if RANK[s] == 2} | self.limbo
            elif word == "purged":
                for r in purging:
                    self.expect.pop(r, None)
                self.limbo -= purging
                self.gone |= purging
                purging = set()
        for r in purging:  # killed mid-purge
            self.expect.pop(r, None)
            self.limbo.add(r)


def run_child(directory: Path, seed: int, kill_after: float) -> list[str]:
    """Start the child, let it work `kill_after` seconds after it is ready, SIGKILL it; return
    the complete journal lines it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(seed)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None
    ready = threading.Event()
    chunks: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        chunks.append(first)
        ready.set()
        chunks.append(proc.stdout.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert ready.wait(30), "the outbox child did not start"
        threading.Event().wait(kill_after)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    text = b"".join(chunks).decode()
    lines = text.split("\n")
    assert lines[0] == "ready"
    return [line for line in lines[1:-1] if line]  # the last piece may be cut mid-line


def check(directory: Path, journal: Journal) -> None:
    with sqlite3.connect(directory / "outbox.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    blobs = directory / "blobs"
    for path in blobs.rglob("*.pdf"):
        if not path.name.startswith("."):
            # Whatever the crash, a file under a result's name is that result, whole.
            assert sha256_hex(path.read_bytes()) == path.stem, f"{path} is not whole"
    with Outbox(directory) as box:
        rows = {item.result_id: item for state in State for item in _all(box, state)}
        for result_id, item in rows.items():
            data = box.load_pdf(result_id)  # exists, and its hash is its name
            assert len(data) == item.size
        on_disk = {p.stem for p in blobs.rglob("*") if p.is_file()}
        assert on_disk == set(rows), "a temp or orphan file survived opening"
        for result_id, reported in journal.expect.items():
            assert result_id in rows, f"result {result_id[:12]} ({reported}) was lost"
            state = rows[result_id].state.value
            assert RANK[state] >= RANK[reported], f"{result_id[:12]}: {reported} -> {state}"
            if RANK[reported] == 2:
                assert state == reported, f"{result_id[:12]}: {reported} -> {state}"
            if reported == "acked":
                assert rows[result_id].record_id == f"rec-{result_id[:8]}"
        assert not journal.gone & set(rows), "a purged result came back"
        for result_id in journal.limbo & set(rows):
            assert RANK[rows[result_id].state.value] == 2
    # What the outbox holds now is what the next life starts from: an operation that committed
    # but died before its journal line is no loss (it moved forward), and a purge in the next
    # life may delete it.
    journal.expect = {result_id: item.state.value for result_id, item in rows.items()}
    journal.limbo.clear()


def _all(box: Outbox, state: State) -> list[OutboxItem]:
    """Every row in `state` (ids straight from the database, items through `get`)."""
    with sqlite3.connect(box.directory / "outbox.db") as db:
        query = "SELECT result_id FROM result WHERE state = ?"
        ids = [r[0] for r in db.execute(query, (state.value,))]
    return [box.get(i) for i in ids]


@pytest.mark.slow
def test_the_outbox_survives_kill_9_at_random_moments(tmp_path: Path) -> None:
    rnd = random.Random(20251127)
    directory = tmp_path / "outbox"
    journal = Journal()
    for kill in range(KILLS):
        lines = run_child(directory, seed=kill, kill_after=rnd.uniform(0.0, 0.4))
        journal.apply(lines)
        check(directory, journal)
    seen = journal.seen
    print(f"{KILLS} kills over {sum(seen.values())} operations: {dict(seen)}")
    assert sum(seen.values()) > 100, "the child hardly worked: the kills proved little"
    for word in ("add", "sent", "acked", "rejected", "purged"):
        assert seen[word] > 0, f"never saw {word}: {dict(seen)}"
