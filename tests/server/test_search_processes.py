"""The search index across processes: a result merged by one process (the ingest path,
`records.merge_result`) is found within seconds by two other searching processes, each with
its own `SearchIndex` on the shared folder, as two API processes would; and the index is
rebuilt from the database after it is lost."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.db import session_scope
from server.errors import IndexBehindError
from server.repository import devices, records
from server.search.index import SearchIndex
from server.search.query import SearchQuery, text_words

DEVICE = "probe-01.kiosk"
ROOT = Path(__file__).parents[2]


@dataclass(frozen=True)
class Verdict:
    valid: bool = True
    signer_common_name: str | None = DEVICE
    signing_time: dt.datetime | None = None


def merge(engine: Engine, name: str) -> str:
    with session_scope(engine) as s:
        if devices.get_device(s, DEVICE) is None:
            devices.register_device(s, DEVICE, "UBND xã Vạn Thắng", sha256_hex(b"cert"))
        outcome = records.merge_result(
            s,
            result_id=sha256_hex(name.encode()),
            device_id=DEVICE,
            fields={"ho_ten": name, "loai_van_ban": "GIẤY KHAI SINH"},
            verdict=Verdict(),
            pdf_path="x.pdf",
            pdf_size=1,
        )
    return outcome.record_id


def test_a_merged_result_is_found_by_every_searching_process(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "search"
    merge(db_engine, "Trần Thị Trước")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.server.search_probe", db_url, str(root),
             "Hồ Thị Sau", "10"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        for p in probes:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        merge(db_engine, "Hồ Thị Sau")
        for p in probes:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [p.communicate(timeout=30)[0].strip() for p in probes]
    finally:
        for p in probes:
            p.kill()
    assert all(a.startswith("found") for a in answers), answers
    assert all(float(a.split()[1]) < 5 for a in answers), answers


def test_the_index_is_rebuilt_from_the_database(db_engine: Engine, tmp_path: Path) -> None:
    wanted = merge(db_engine, "Katơr Thị Lài")
    index = SearchIndex(tmp_path / "search", db_engine, refresh_s=0.01)
    query = SearchQuery(name=text_words("kator thi lai", "name"))
    assert index.search(query, 5).ids == [wanted]
    shutil.rmtree(tmp_path / "search")  # lost
    assert index.rebuild() == 1
    assert SearchIndex(tmp_path / "search", db_engine).search(query, 5).ids == [wanted]


def test_an_index_far_behind_says_to_rebuild(db_engine: Engine, tmp_path: Path) -> None:
    for i in range(5):
        merge(db_engine, f"Pi Năng Thị {i}")
    index = SearchIndex(tmp_path / "search", db_engine, refresh_s=0.01, catch_up_max=3)
    query = SearchQuery(name=text_words("pi nang thi", "name"))
    with pytest.raises(IndexBehindError, match="sohoa server search rebuild"):
        index.search(query, 10)
    assert index.rebuild() == 5
    assert index.search(query, 10).total == 5
    merge(db_engine, "Pi Năng Thị 5")  # a few new ones: caught up as usual
    time.sleep(0.05)
    assert index.search(query, 10).total == 6


def test_an_index_of_an_earlier_version_says_to_rebuild(db_engine: Engine, tmp_path: Path) -> None:
    wanted = merge(db_engine, "Ma Thị Ngọc")
    root = tmp_path / "search"
    root.mkdir()
    (root / "index-1765000000000000000-1").mkdir()  # as version 1 named its folders
    (root / "current").write_text("index-1765000000000000000-1")
    index = SearchIndex(root, db_engine, refresh_s=0.01)
    query = SearchQuery(name=text_words("ma thi ngoc", "name"))
    with pytest.raises(IndexBehindError, match=r"earlier version.*sohoa server search rebuild"):
        index.search(query, 5)
    assert index.rebuild() == 1
    assert index.search(query, 5).ids == [wanted]
