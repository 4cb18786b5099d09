"""A repository with review cases, stored through the real merge (`records.merge_result`):

- conflict A: "5/QĐ-UBND" of 1 August 2025 of Phường Phan Rang (22759), for Nguyễn Văn An;
  then the same number and date for Trần Thị Bình: stored `needs_review` (and, by Nghị định
  30's rule, both under the duplicate warning);
- duplicates D: "7/QĐ-UBND" of 1 March and of 1 September 2025, same issuer (22759);
- conflict X, of another unit (Xã Vạn Thắng, 22516): "9/QĐ-UBND".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from server.blobs import BlobStore
from server.db import session_scope
from server.models import Record
from server.repository import devices, records


@dataclass(frozen=True)
class _Verdict:
    valid: bool = True
    signer_common_name: str | None = "review-test"
    signing_time: dt.datetime | None = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Cases:
    """The records of each case, by name."""

    a1: str
    a2: str
    d1: str
    d2: str
    x1: str
    x2: str


def store(
    engine: Engine,
    data_dir: Path,
    code: str,
    number: str,
    issued: str,
    name: str,
    n: int,
    received_at: dt.datetime | None = None,
) -> str:
    """Merge one result of unit `code` (its issuer named after the unit), received at
    `received_at` (default: `n` hours into 1 October 2025); its record id."""
    with session_scope(engine) as s:
        if devices.get_device(s, f"review-{code}") is None:
            devices.register_device(s, f"review-{code}", f"UBND {code}", "cd" * 32, unit_code=code)
    pdf = f"%PDF-1.7 review {n}".encode()
    with session_scope(engine) as s:
        outcome = records.merge_result(
            s,
            result_id=hashlib.sha256(pdf).hexdigest(),
            device_id=f"review-{code}",
            fields={
                "so_ky_hieu": number,
                "ngay_ban_hanh": issued,
                "co_quan_ban_hanh": f"Cơ quan thử {code}",
                "loai_van_ban": "QUYẾT ĐỊNH",
                "ho_ten": name,
            },
            verdict=_Verdict(),
            pdf_path=BlobStore(data_dir).put(pdf),
            pdf_size=len(pdf),
            received_at=received_at
            or dt.datetime(2025, 10, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n),
        )
    return outcome.record_id


def fill(engine: Engine, data_dir: Path) -> Cases:
    """Store the cases of this module's docstring."""
    return Cases(
        a1=store(engine, data_dir, "22759", "5/QĐ-UBND", "2025-08-01", "Nguyễn Văn An", 1),
        a2=store(engine, data_dir, "22759", "5/QĐ-UBND", "2025-08-01", "Trần Thị Bình", 2),
        d1=store(engine, data_dir, "22759", "7/QĐ-UBND", "2025-03-01", "Lê Văn Cường", 3),
        d2=store(engine, data_dir, "22759", "7/QĐ-UBND", "2025-09-01", "Phạm Thị Dung", 4),
        x1=store(engine, data_dir, "22516", "9/QĐ-UBND", "2025-08-02", "Võ Văn Em", 5),
        x2=store(engine, data_dir, "22516", "9/QĐ-UBND", "2025-08-02", "Đỗ Thị Gấm", 6),
    )


def record(engine: Engine, record_id: str) -> Record:
    """The record `record_id` as stored now."""
    with Session(engine) as s:
        found = s.get(Record, record_id)
    assert found is not None
    return found
