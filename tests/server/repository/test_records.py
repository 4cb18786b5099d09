"""The records on real databases (SQLite and PostgreSQL): the idempotent merge, listings, and the
long-term-validation copies."""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from protocol.messages import FIELD_KEYS, sha256_hex
from server.blobs import BlobStore
from server.db import session_scope
from server.errors import RepositoryError
from server.models import LtvStatus, Record
from server.repository import devices, records

DEVICE = "commune-01.kiosk"
CERT_SHA = sha256_hex(b"a DER certificate")


@dataclass(frozen=True)
class Verdict:
    """The part of a verification verdict the merge stores."""

    valid: bool = True
    signer_common_name: str | None = DEVICE
    signing_time: dt.datetime | None = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)


FIELDS = {
    "so_ky_hieu": "05/QĐ-UBND",
    "ngay_ban_hanh": "2022-01-05",
    "co_quan_ban_hanh": "UBND XÃ VẠN THẮNG",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc công nhận hộ gia đình văn hóa",
    "ho_ten": "Nguyễn Thị Lan",
    "cccd": "056185000123",
    "ngay_sinh": "1985-04-12",
    "nguoi_ky": "Trần Văn Hùng",
}


def _register(engine: Engine, device_id: str = DEVICE) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", CERT_SHA)


def _merge(engine: Engine, pdf: bytes, device_id: str = DEVICE, **kw: Any) -> records.MergeOutcome:
    with session_scope(engine) as s:
        return records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields=kw.pop("fields", FIELDS),
            verdict=kw.pop("verdict", Verdict()),
            pdf_path=BlobStore(Path("/unused")).relative_path(sha256_hex(pdf)),
            pdf_size=len(pdf),
            **kw,
        )


# --- merge ---------------------------------------------------------------------------------------


def test_merge_stores_a_result_once(db_engine: Engine) -> None:
    _register(db_engine)
    pdf = b"%PDF-1.7 signed result one"
    first = _merge(db_engine, pdf)
    again = _merge(db_engine, pdf, fields={"so_ky_hieu": "changed"})
    assert first.created and not again.created
    assert again.record_id == first.record_id
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 1
        record = records.get_record(s, first.record_id)
        assert record is not None
        assert record.so_ky_hieu == FIELDS["so_ky_hieu"]  # the first delivery stays
        assert record.result_id == sha256_hex(pdf)
        assert record.signature_valid is True
        assert record.signing_time == Verdict().signing_time
        assert record.pdf_size == len(pdf)
        by_result = records.get_record_by_result(s, sha256_hex(pdf))
        assert by_result is not None and by_result.id == first.record_id


def test_merge_normalises_fields_to_nfc_and_ignores_unknown_keys(db_engine: Engine) -> None:
    _register(db_engine)
    nfd = {k: unicodedata.normalize("NFD", v) for k, v in FIELDS.items()}
    outcome = _merge(db_engine, b"%PDF nfd", fields={**nfd, "extra_key": "x", "cccd": None})
    with session_scope(db_engine) as s:
        record = records.get_record(s, outcome.record_id)
        assert record is not None
        stored = {k: getattr(record, k) for k in FIELD_KEYS}
    assert stored == {**FIELDS, "cccd": None}
    assert not hasattr(Record, "extra_key")


def test_received_at_is_stored_in_utc_and_naive_times_are_refused(db_engine: Engine) -> None:
    _register(db_engine)
    hanoi = dt.timezone(dt.timedelta(hours=7))
    local = dt.datetime(2025, 6, 1, 9, 0, tzinfo=hanoi)
    outcome = _merge(db_engine, b"%PDF tz", received_at=local)
    with session_scope(db_engine) as s:
        record = records.get_record(s, outcome.record_id)
        assert record is not None
        assert record.received_at == local
        assert record.received_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(RepositoryError):
        _merge(db_engine, b"%PDF naive", received_at=dt.datetime(2025, 6, 1, 9, 0))


def test_merge_from_an_unregistered_device_is_refused(db_engine: Engine) -> None:
    with pytest.raises(RepositoryError, match="nobody"):
        _merge(db_engine, b"%PDF orphan", device_id="nobody")
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 0


def test_concurrent_deliveries_of_one_result_make_one_record(db_engine: Engine) -> None:
    _register(db_engine)
    pdf = b"%PDF-1.7 raced"
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes: list[records.MergeOutcome] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        with Session(db_engine) as s:
            s.connection()  # open the connection before the race, not inside it
            barrier.wait()
            try:
                outcomes.append(
                    records.merge_result(
                        s,
                        result_id=sha256_hex(pdf),
                        device_id=DEVICE,
                        fields=FIELDS,
                        verdict=Verdict(),
                        pdf_path="blobs/xx",
                        pdf_size=len(pdf),
                    )
                )
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(o.created for o in outcomes) == 1
    assert len({o.record_id for o in outcomes}) == 1
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 1


def test_list_records_pages_newest_first(db_engine: Engine) -> None:
    _register(db_engine)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids = [
        _merge(db_engine, f"%PDF {i}".encode(), received_at=start + dt.timedelta(hours=i)).record_id
        for i in range(5)
    ]
    with session_scope(db_engine) as s:
        page1 = [r.id for r in records.list_records(s, limit=2)]
        page2 = [r.id for r in records.list_records(s, limit=2, offset=2)]
        rest = [r.id for r in records.list_records(s, limit=10, offset=4)]
        assert records.count_records(s) == 5
    assert page1 + page2 + rest == list(reversed(ids))


# --- long-term-validation copies -----------------------------------------------------------------


def test_a_long_term_copy_is_stored_once_and_only_on_a_pending_record(db_engine: Engine) -> None:
    _register(db_engine)
    first, second = _merge(db_engine, b"%PDF one"), _merge(db_engine, b"%PDF two")
    with session_scope(db_engine) as s:
        assert [r.id for r in records.pending_ltv(s)] == [first.record_id, second.record_id]
        records.note_ltv_failure(s, first.record_id, "the TSA did not answer")
        path = BlobStore(Path("/unused")).relative_path(sha256_hex(b"copy"))
        assert records.store_ltv_copy(
            s, first.record_id, status=LtvStatus.B_LT, pdf_path=path, size=4
        )
        # A second server finishing the same record later changes nothing.
        assert not records.store_ltv_copy(
            s, first.record_id, status=LtvStatus.B_LTA, pdf_path="elsewhere", size=5
        )
        with pytest.raises(RepositoryError, match="not pending"):
            records.store_ltv_copy(
                s, second.record_id, status=LtvStatus.PENDING, pdf_path=path, size=4
            )
    with session_scope(db_engine) as s:
        record = records.get_record(s, first.record_id)
        assert record is not None
        assert record.ltv_status is LtvStatus.B_LT and record.ltv_pdf_path == path
        assert record.ltv_error is None and record.ltv_size == 4
        assert record.ltv_at is not None and record.ltv_at.tzinfo is not None
        assert [r.id for r in records.pending_ltv(s)] == [second.record_id]
