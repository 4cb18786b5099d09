"""A small repository whose report figures are computed by hand (see `EXPECTED`), stored
through the real merge and reuse paths so that the monthly tallies are kept as in production.

Phường Phan Rang (22759, formed 1 July 2025) covers the old wards 22750, 22753, 22756, 22762,
22765 and the old 22759 (Kinh Dinh); Xã Vạn Thắng (22516) covers only itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from server.blobs import BlobStore
from server.db import session_scope
from server.models import IssuedTally, UnitTarget
from server.repository import devices, records, results


@dataclass(frozen=True)
class _Verdict:
    valid: bool = True
    signer_common_name: str | None = "tally-test"
    signing_time: dt.datetime | None = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# (device's unit, received at (UTC), số ký hiệu, issue date)
STORED = (
    ("22762", "2024-03-10T03:00", "1/2024", "2024-03-01"),
    ("22762", "2024-03-11T03:00", "2/2024", "2024-03-02"),
    ("22762", "2025-06-20T03:00", "3/2025", "2025-06-01"),
    ("22759", "2025-08-05T03:00", "10/2025", "2025-08-01"),
    ("22759", "2025-08-06T03:00", "11/2025", "2025-08-02"),
    ("22759", "2025-08-07T03:00", "12/2025", "2025-08-03"),
    # 18:00 UTC on 30 September is 1 October in Việt Nam: an October result.
    ("22759", "2025-09-30T18:00", "13/2025", "2025-09-30"),
    ("22516", "2025-09-15T03:00", "1/2025", "2025-09-10"),
    ("22516", "2025-09-16T03:00", "2/2025", "2025-09-11"),
    # A rescan of 10/2025: a second version of a document already counted, not counted again.
    ("22759", "2025-09-01T03:00", "10/2025", "2025-08-01"),
)
TARGETS = (("22762", 10, None), ("22759", 8, dt.date(2026, 12, 31)), ("22516", 2, None))
ISSUED = (("22759", "2025-08", 10, 4), ("22762", "2024-03", 5, 5))
REUSED = "10/2025"
"""The document reused, for two dossiers (in the month the test runs)."""


def fill(engine: Engine, data_dir: Path) -> None:
    """Store `STORED` through the merge, reuse `REUSED` twice, set `TARGETS` and `ISSUED`."""
    blobs = BlobStore(data_dir)
    with session_scope(engine) as s:
        for code in ("22762", "22759", "22516"):
            devices.register_device(s, f"tally-{code}", f"Đơn vị {code}", "ab" * 32, unit_code=code)
    for n, (code, received, number, issued) in enumerate(STORED):
        pdf = f"%PDF-1.7 tally {n}".encode()
        with session_scope(engine) as s:
            records.merge_result(
                s,
                result_id=hashlib.sha256(pdf).hexdigest(),
                device_id=f"tally-{code}",
                fields={
                    "so_ky_hieu": number,
                    "ngay_ban_hanh": issued,
                    "co_quan_ban_hanh": f"Cơ quan thử {code}",
                },
                verdict=_Verdict(),
                pdf_path=blobs.put(pdf),
                pdf_size=len(pdf),
                received_at=_utc(received),
            )
    with session_scope(engine) as s:
        current = [
            r.id
            for r in records.list_records(s, limit=50)
            if r.so_ky_hieu == REUSED and r.merge_state.value == "current"
        ]
        assert len(current) == 1
        for dossier in ("000.00.15.H41-251206-0001", "000.00.15.H41-251206-0002"):
            results.record_reuse(s, current[0], dossier, "officer")
        for code, volume, deadline in TARGETS:
            s.add(UnitTarget(unit_code=code, volume=volume, deadline=deadline))
        for code, month, issued_count, electronic in ISSUED:
            s.add(
                IssuedTally(unit_code=code, month=month, issued=issued_count, electronic=electronic)
            )
        s.commit()
