"""`sohoa server seed` on SQLite and PostgreSQL: synthetic results that look like a province's
(valid CCCDs for their holders, units in force on the issue date, minority names, repeat
citizens, versions and NĐ 30 duplicates), loaded by the bulk path and searchable once the
index is rebuilt."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from server.db import session_scope
from server.models import MergeState, Record
from server.repository import units, versions
from server.search.index import SearchIndex
from server.search.query import SearchQuery
from server.seed import seed

CCCD = re.compile(r"^(0[0-9]{2})([0-3])([0-9]{2})([0-9]{6})$")


def test_seeded_results_are_plausible_and_searchable(db_engine: Engine, tmp_path: Path) -> None:
    added, _ = seed(db_engine, tmp_path, 3000, seed_value=7, batch=1000)
    assert added == 3000
    with session_scope(db_engine) as s:
        rows = list(s.execute(sa.select(Record)).scalars())
        assert len(rows) == 3000
        for r in rows:
            assert r.cccd is not None and r.ngay_sinh is not None and r.ngay_ban_hanh is not None
            match = CCCD.match(r.cccd)
            assert match, r.cccd
            born = dt.date.fromisoformat(r.ngay_sinh)
            century = 0 if born.year < 2000 else 2
            assert int(match.group(2)) in (century, century + 1)
            assert int(match.group(3)) == born.year % 100
            issued = dt.date.fromisoformat(r.ngay_ban_hanh)
            assert r.unit_code is not None
            assert units.version_at(s, r.unit_code, issued) is not None  # in force that day
            assert r.received_at.date() >= issued
            assert r.ocr_text is not None and len(r.ocr_text.split()) >= 150
        names = [r.ho_ten or "" for r in rows]
        assert any(n.startswith(("Y ", "H'")) for n in names)  # Êđê
        assert any(n.split()[0] in ("Mấu", "Katơr", "Chamaléa", "Pi") for n in names)  # Raglai
        assert any(n.split()[0] in ("Đàng", "Quảng", "Thuận") for n in names)  # Chăm
        assert Counter(n.split()[0] for n in names).most_common(1)[0][0] == "Nguyễn"
        per_citizen = Counter(r.cccd for r in rows)
        assert 0.02 < sum(1 for n in per_citizen.values() if n > 1) / len(per_citizen) < 0.15
        rescans = Counter((r.so_ky_hieu, r.co_quan_ban_hanh, r.ngay_ban_hanh) for r in rows)
        assert 0 < sum(n - 1 for n in rescans.values()) < 100
        # versions and NĐ 30 duplicates in small shares, chained as the merge chains them
        by_id = {r.id: r for r in rows}
        superseded = [r for r in rows if r.merge_state is MergeState.SUPERSEDED]
        assert 0.01 < len(superseded) / len(rows) < 0.03
        for old in superseded:
            new = by_id[old.superseded_by or ""]
            assert (new.version, new.supersedes, new.merge_state) == (2, old.id, MergeState.CURRENT)
            assert new.natural_key == old.natural_key == versions.natural_key(old.model_dump())
            assert (new.cccd, new.ho_ten) == (old.cccd, old.ho_ten)
        flagged = [r for r in rows if r.duplicate_warning]
        assert 0.001 < len(flagged) / len(rows) < 0.012
        assert all(r.duplicate_key == versions.duplicate_key(r.model_dump()) for r in flagged)
        pairs = Counter(r.duplicate_key for r in flagged)
        assert all(n >= 2 for n in pairs.values())
        someone = rows[123]
    # a second run numbers above the first's: no document takes another's natural key
    assert seed(db_engine, tmp_path, 500, seed_value=8, batch=250)[0] == 500
    index = SearchIndex(tmp_path / "search", db_engine)
    assert index.rebuild() == 3500
    hits = index.search(SearchQuery(cccd=someone.cccd), 50)
    assert someone.id in hits.ids


def test_the_seed_and_rebuild_commands(tmp_path: Path) -> None:
    env = {**os.environ, "SOHOA_SERVER_DATA_DIR": str(tmp_path / "data")}
    seeded = subprocess.run(
        [sys.executable, "-m", "cli", "server", "seed", "--results", "300"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    assert "300 synthetic results added" in seeded.stdout
    assert "search index rebuilt: 300 results" in seeded.stdout
    rebuilt = subprocess.run(
        [sys.executable, "-m", "cli", "server", "search", "rebuild"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "search index rebuilt: 300 results" in rebuilt.stdout
