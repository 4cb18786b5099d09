"""The units an officer sees are cached per API process (`units.tree_cached`) and yet a new unit
tree takes effect at the next request: imported in the same process, and imported by another
process (`sohoa server units import` beside a running API), on SQLite and PostgreSQL, for both
the records and the search routes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.api.main import create_app
from server.catalogue_files import KHANH_HOA_UNITS, read_units
from server.config import ServerSettings
from server.db import session_scope
from server.models import Record, Role
from server.repository import devices, units
from tests.server.signin import sign_in

ROOT = Path(__file__).parents[2]
OFFICERS_UNIT = "22516"
"""xã Vạn Thắng (since 1 July 2025)."""
OTHER = "22528"
"""phường Ninh Hòa: unrelated to xã Vạn Thắng, until the edited file merges it into it."""
CURRENT = "22528,Ninh Hòa,phuong,56,2025-07-01,,,confirmed,[NQ1667] k.57; code: [CV1027]"
MERGED = "22528,Ninh Hòa,phuong,56,2025-07-01,2026-01-01,22516,confirmed,made up: merged"


@pytest.fixture
def client(db_url: str, db_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(db_engine) as s:
        units.import_units(s, read_units(KHANH_HOA_UNITS))
        devices.register_device(s, "cache-01.kiosk", "UBND xã Vạn Thắng", sha256_hex(b"cert"))
        s.add(
            Record(
                result_id=sha256_hex(uuid.uuid4().bytes),
                device_id="cache-01.kiosk",
                signature_valid=True,
                pdf_size=1,
                pdf_path="placeholder.pdf",
                received_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                ho_ten="Phạm Thị Ninh",
                cccd="056190000777",
                unit_code=OTHER,
            )
        )
        s.commit()
    settings = ServerSettings(
        database_url=db_url, data_dir=tmp_path / "data", search_refresh_s=0.001
    )
    with TestClient(create_app(settings, db_engine)) as c:
        sign_in(c, db_engine, Role.UNIT_OFFICER, unit=OFFICERS_UNIT)
        yield c


def _merged_file(tmp_path: Path) -> Path:
    """The shipped units file, with phường Ninh Hòa merged into xã Vạn Thắng."""
    text = KHANH_HOA_UNITS.read_text(encoding="utf-8")
    assert CURRENT in text
    path = tmp_path / "units-merged.csv"
    path.write_text(text.replace(CURRENT, MERGED), encoding="utf-8")
    return path


def _seen(client: TestClient) -> tuple[int, int]:
    """How many results the officer sees through the records list and through search."""
    listed = client.get("/api/records").json()["count"]
    found = client.get("/api/search", params={"q": "pham thi ninh"}).json()["total"]
    return listed, found


def test_an_import_in_the_same_process_changes_what_an_officer_sees_at_once(
    client: TestClient, db_engine: Engine, tmp_path: Path
) -> None:
    assert _seen(client) == (0, 0)  # the cache now holds the tree without the merge
    with session_scope(db_engine) as s:
        units.import_units(s, read_units(_merged_file(tmp_path)))
    assert _seen(client) == (1, 1)


def test_an_import_by_another_process_changes_what_an_officer_sees_at_once(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    assert _seen(client) == (0, 0)
    done = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "server", "units",
         "import", str(_merged_file(tmp_path))],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SOHOA_SERVER_DATABASE_URL": db_url,
            "SOHOA_SERVER_DATA_DIR": str(tmp_path / "data"),
        },
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "1 superseding" in done.stdout, done.stdout + done.stderr
    assert _seen(client) == (1, 1)
