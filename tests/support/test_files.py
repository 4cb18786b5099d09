"""write_atomic leaves the old file or the new one, whole, and no temp files behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from support.files import write_atomic


def test_writes_and_replaces_with_the_mode_asked(tmp_path: Path) -> None:
    key = tmp_path / "sub" / "key.pem"
    write_atomic(key, b"old", mode=0o600)
    write_atomic(key, b"new", mode=0o600)
    assert key.read_bytes() == b"new"
    assert key.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in key.parent.iterdir()] == ["key.pem"]


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "x").write_text("a non-empty folder cannot be replaced by a file")
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert target.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]


def test_concurrent_writers_of_one_path_leave_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=write_atomic, args=(path, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["blob"]
