"""The outbox keeps citizen data to the sync agent's user (issue 14, item 6): after real use
its folders are 0700 and its database (with SQLite's -wal and -shm) and PDFs 0600, whatever the
umask; an outbox made before this rule is made private when it is opened. And the outbox
refuses a field no server could store, so that it never queues what would be rejected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.sync.outbox import BLOB_DIR, DB_FILE, Outbox

FIELDS = {"so_ky_hieu": "12/QĐ-UBND", "ho_ten": "Trần Thị Bình", "cccd": "001099012345"}
CREATED = "2025-04-01T03:00:00+00:00"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pdf() -> bytes:
    return b"%PDF-1.7\n" + os.urandom(64) + b"\n%%EOF\n"


def _assert_private(directory: Path) -> None:
    blobs = sorted((directory / BLOB_DIR).rglob("*.pdf"))
    assert blobs
    folders = {directory, directory / BLOB_DIR, *(p.parent for p in blobs)}
    assert {str(f): _mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    files = [*blobs, *(directory / f"{DB_FILE}{s}" for s in ("", "-wal", "-shm"))]
    assert all(f.exists() for f in files)
    assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}


def test_the_outbox_is_its_users_only_after_real_use(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which alone would make everything world-readable
    try:
        with Outbox(tmp_path / "appliance" / "outbox") as outbox:
            outbox.add(_pdf(), FIELDS, CREATED)
            outbox.add(_pdf(), FIELDS, CREATED)
            _assert_private(tmp_path / "appliance" / "outbox")
    finally:
        os.umask(old)


def test_an_outbox_made_world_readable_before_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    with Outbox(directory) as outbox:
        outbox.add(_pdf(), FIELDS, CREATED)
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with Outbox(directory) as outbox:
        outbox.add(_pdf(), FIELDS, CREATED)
        _assert_private(directory)


@pytest.mark.parametrize("bad", ["Nguy\ud800n", "Trần\x00Bình", "Trần\x07Bình"])
def test_a_field_no_server_could_store_is_refused_before_it_is_queued(
    tmp_path: Path, bad: str
) -> None:
    with Outbox(tmp_path / "outbox") as outbox:
        with pytest.raises(OutboxError, match="ho_ten"):
            outbox.add(_pdf(), {**FIELDS, "ho_ten": bad}, CREATED)
        assert outbox.status().queue_depth == 0
