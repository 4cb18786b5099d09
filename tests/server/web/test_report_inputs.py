"""Importing the reports' inputs: targets and issued counts, checked whole before anything is
stored, with the line and what is wrong; importing again replaces."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.errors import DataFileError
from server.models import IssuedTally, UnitTarget
from server.reports.inputs import read_issued, read_targets, store_issued, store_targets


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "input.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("unit_code,volume\n22516,5\n", "header"),
        ("unit_code,volume,deadline\n22516,0,\n", ":2: volume"),
        ("unit_code,volume,deadline\n22516,12a,\n", ":2: volume"),
        ("unit_code,volume,deadline\n# a comment\n22516,5,31/12/2025\n", ":3: deadline"),
    ],
)
def test_a_malformed_targets_file_is_refused_with_its_line(
    tmp_path: Path, text: str, why: str
) -> None:
    with pytest.raises(DataFileError, match=why):
        read_targets(_file(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("unit_code,month,issued,electronic\n22516,2025-13,5,1\n", "month"),
        ("unit_code,month,issued,electronic\n22516,2025-07,5,6\n", "more results issued"),
        ("unit_code,month,issued,electronic\n22516,2025-07,-5,1\n", "whole numbers"),
    ],
)
def test_a_malformed_issued_file_is_refused(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(DataFileError, match=why):
        read_issued(_file(tmp_path, text))


def test_targets_of_unknown_units_store_nothing(
    tmp_path: Path, db_engine: Engine, khanh_hoa_units: None
) -> None:
    path = _file(tmp_path, "unit_code,volume,deadline\n22516,5,\n99999,7,\n")
    with Session(db_engine) as s:
        with pytest.raises(DataFileError, match="99999"):
            store_targets(s, path, read_targets(path))
        assert s.exec(select(UnitTarget)).all() == []


def test_importing_again_replaces(tmp_path: Path, db_engine: Engine, khanh_hoa_units: None) -> None:
    with Session(db_engine) as s:
        first = _file(tmp_path, "unit_code,volume,deadline\n22516,5,2026-12-31\n")
        assert store_targets(s, first, read_targets(first)) == 1
        again = _file(tmp_path, "unit_code,volume,deadline\n22516,9,\n")
        store_targets(s, again, read_targets(again))
        target = s.exec(select(UnitTarget)).one()
        assert (target.volume, target.deadline) == (9, None)
        issued = _file(tmp_path, "unit_code,month,issued,electronic\n22516,2025-07,10,4\n")
        store_issued(s, issued, read_issued(issued))
        row = s.exec(select(IssuedTally)).one()
        assert (row.month, row.issued, row.electronic) == ("2025-07", 10, 4)
