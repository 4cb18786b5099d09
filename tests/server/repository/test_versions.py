"""Versions of a document on real databases (SQLite and PostgreSQL): a result with the same
issuer, số ký hiệu and date supersedes the current version (which stays as it was) or, naming
another citizen, waits for review; Nghị định 30's duplicate warning; concurrent merges of one
document leave exactly one current version."""

from __future__ import annotations

import itertools
import threading
import unicodedata
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from protocol.messages import sha256_hex
from server.db import MIGRATIONS_DIR, migrate, session_scope
from server.errors import CorrectionConflictError
from server.models import AuditEntry, MergeState, Record
from server.repository import disclosures, records, staging, versions
from server.repository.audit import Reader
from server.repository.records import RecordState
from tests.server.repository.test_records import DEVICE, FIELDS, Verdict, _merge, _register

DOCUMENT_COLUMNS = (
    "result_id", "device_id", "signature_valid", "signing_time", "received_at", "pdf_size",
    "pdf_path", "unit_code", "procedure_code", "natural_key", "duplicate_key", "version",
    "supersedes", *FIELDS,
)  # fmt: skip
"""What a stored row holds of its document: never changed once written."""


def _row(engine: Engine, record_id: str) -> Record:
    with session_scope(engine) as s:
        record = s.get(Record, record_id)
        assert record is not None
        return record


def _document(record: Record) -> dict[str, Any]:
    return {k: getattr(record, k) for k in DOCUMENT_COLUMNS}


def _states(engine: Engine) -> dict[str, tuple[MergeState, int, bool]]:
    with session_scope(engine) as s:
        return {
            r.id: (r.merge_state, r.version, r.duplicate_warning) for r in s.exec(select(Record))
        }


# --- the keys ------------------------------------------------------------------------------------


def test_the_natural_key_ignores_form_but_not_substance() -> None:
    key = versions.natural_key(FIELDS)
    assert key is not None
    assert versions.natural_key(
        {
            **FIELDS,
            "co_quan_ban_hanh": unicodedata.normalize("NFD", "  ubnd   xã Vạn THẮNG "),
            "so_ky_hieu": "5 / QĐ-UBND",
        }
    ) == key  # fmt: skip
    assert versions.natural_key({**FIELDS, "so_ky_hieu": "06/QĐ-UBND"}) != key
    assert versions.natural_key({**FIELDS, "ngay_ban_hanh": "2022-01-06"}) != key
    assert versions.natural_key({**FIELDS, "co_quan_ban_hanh": "UBND XÃ VẠN BÌNH"}) != key
    for part in ("so_ky_hieu", "ngay_ban_hanh", "co_quan_ban_hanh"):
        assert versions.natural_key({**FIELDS, part: None}) is None
        assert versions.natural_key({**FIELDS, part: "  "}) is None
    same_year = versions.duplicate_key({**FIELDS, "ngay_ban_hanh": "2022-11-30"})
    assert same_year == versions.duplicate_key(FIELDS) is not None
    assert versions.duplicate_key({**FIELDS, "ngay_ban_hanh": "2023-01-05"}) != same_year


# --- the merge rule ------------------------------------------------------------------------------


def test_a_new_version_supersedes_and_the_old_row_stays_as_it_was(db_engine: Engine) -> None:
    _register(db_engine)
    first = _merge(db_engine, b"%PDF v1")
    before = _document(_row(db_engine, first.record_id))
    second = _merge(db_engine, b"%PDF v2", fields={**FIELDS, "trich_yeu": "Sửa trích yếu"})
    third = _merge(db_engine, b"%PDF v3", fields={**FIELDS, "nguoi_ky": "Lê Văn Tám"})
    assert second.created and second.merge_state is MergeState.CURRENT
    assert second.supersedes == first.record_id and third.supersedes == second.record_id
    old = _row(db_engine, first.record_id)
    assert _document(old) == before  # nothing of the document overwritten
    assert (old.merge_state, old.superseded_by) == (MergeState.SUPERSEDED, second.record_id)
    assert _states(db_engine) == {
        first.record_id: (MergeState.SUPERSEDED, 1, False),
        second.record_id: (MergeState.SUPERSEDED, 2, False),
        third.record_id: (MergeState.CURRENT, 3, False),
    }
    assert _row(db_engine, second.record_id).trich_yeu == "Sửa trích yếu"
    again = _merge(db_engine, b"%PDF v1", fields={**FIELDS, "ho_ten": "Someone Else"})
    assert (again.created, again.record_id) == (False, first.record_id)  # idempotent by hash
    assert len(_states(db_engine)) == 3


def test_a_missing_identity_field_is_no_conflict(db_engine: Engine) -> None:
    _register(db_engine)
    first = _merge(db_engine, b"%PDF partial", fields={**FIELDS, "cccd": None})
    second = _merge(db_engine, b"%PDF fuller", fields={**FIELDS, "ho_ten": "NGUYỄN  THỊ LAN"})
    assert second.merge_state is MergeState.CURRENT and second.supersedes == first.record_id


@pytest.mark.parametrize(
    "change", [{"ho_ten": "Trần Văn Nam"}, {"cccd": "056190000999"}, {"loai_van_ban": "GIẤY"}]
)
def test_another_citizen_under_the_same_key_waits_for_review(
    db_engine: Engine, change: dict[str, str]
) -> None:
    _register(db_engine)
    first = _merge(db_engine, b"%PDF theirs")
    other = _merge(db_engine, b"%PDF conflicting", fields={**FIELDS, **change})
    assert other.created and other.merge_state is MergeState.NEEDS_REVIEW
    assert other.supersedes is None
    assert _states(db_engine) == {
        first.record_id: (MergeState.CURRENT, 1, True),  # neither replaces the other
        other.record_id: (MergeState.NEEDS_REVIEW, 1, True),  # and both are NĐ 30 duplicates
    }
    # a later agreeing version still follows the current one, and inherits the warning
    later = _merge(db_engine, b"%PDF v2", fields={**FIELDS, "trich_yeu": "v2"})
    assert later.supersedes == first.record_id
    assert _states(db_engine)[later.record_id] == (MergeState.CURRENT, 2, True)


def test_records_without_a_natural_key_are_never_grouped(db_engine: Engine) -> None:
    _register(db_engine)
    undated = {**FIELDS, "ngay_ban_hanh": None}
    a = _merge(db_engine, b"%PDF undated a", fields=undated)
    b = _merge(db_engine, b"%PDF undated b", fields={**undated, "ho_ten": "Trần Văn Nam"})
    assert _states(db_engine) == {
        a.record_id: (MergeState.CURRENT, 1, False),
        b.record_id: (MergeState.CURRENT, 1, False),
    }


def test_nd30_duplicate_warning_is_a_queryable_state(db_engine: Engine) -> None:
    _register(db_engine)
    a = _merge(db_engine, b"%PDF a")
    _merge(db_engine, b"%PDF a2", fields={**FIELDS, "trich_yeu": "a, version 2"})
    next_year = _merge(db_engine, b"%PDF 2023", fields={**FIELDS, "ngay_ban_hanh": "2023-01-05"})
    assert _states(db_engine)[next_year.record_id][2] is False  # numbering restarts each year
    assert not any(w for _, _, w in _states(db_engine).values())  # versions are one document
    dup = _merge(
        db_engine, b"%PDF dup", fields={**FIELDS, "ngay_ban_hanh": "2022-03-09", "ho_ten": "B"}
    )
    flagged = {i for i, (_, _, w) in _states(db_engine).items() if w}
    assert dup.record_id in flagged and a.record_id in flagged
    assert next_year.record_id not in flagged
    with session_scope(db_engine) as s:
        listed = records.list_records(s, state=RecordState.DUPLICATE_WARNING)
        assert {r.id for r in listed} == flagged
        assert records.count_records(s, state=RecordState.DUPLICATE_WARNING) == 3
        assert records.count_records(s, state=RecordState.SUPERSEDED) == 1
        assert records.count_records(s, state=RecordState.CURRENT) == 3
        assert records.count_records(s, state=RecordState.NEEDS_REVIEW) == 0


def test_history_follows_the_chain(db_engine: Engine) -> None:
    _register(db_engine)
    first = _merge(db_engine, b"%PDF h1")
    second = _merge(db_engine, b"%PDF h2", fields={**FIELDS, "trich_yeu": "h2"})
    review = _merge(db_engine, b"%PDF h3", fields={**FIELDS, "ho_ten": "Trần Văn Nam"})
    _merge(db_engine, b"%PDF other", fields={**FIELDS, "so_ky_hieu": "07/QĐ-UBND"})
    with session_scope(db_engine) as s:
        found = versions.history(s, first.record_id, visible=None)
        assert found is not None
        asked, rows = found
        assert asked.id == first.record_id
        assert [r.id for r, _ in rows] == [first.record_id, second.record_id, review.record_id]
        assert versions.history(s, first.record_id, visible=frozenset({"99999"})) is None


# --- concurrency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("as_ingest", [False, True], ids=["merge", "ingest-lock-first"])
def test_concurrent_versions_of_one_document_leave_one_current(
    db_engine: Engine, as_ingest: bool
) -> None:
    _register(db_engine)
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        pdf = f"%PDF-1.7 version {n}".encode()
        with Session(db_engine) as s:
            s.connection()  # open the connection before the race, not inside it
            barrier.wait()
            try:
                if as_ingest:  # as server.ingest does: the per-result lock first
                    staging.lock(s, DEVICE, sha256_hex(pdf))
                records.merge_result(
                    s,
                    result_id=sha256_hex(pdf),
                    device_id=DEVICE,
                    fields={**FIELDS, "trich_yeu": f"version {n}"},
                    verdict=Verdict(),
                    pdf_path="blobs/xx",
                    pdf_size=len(pdf),
                )
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(db_engine) as s:
        rows = list(s.exec(select(Record).order_by(col(Record.version))))
    assert [r.version for r in rows] == list(range(1, workers + 1))
    assert [r.merge_state for r in rows] == [MergeState.SUPERSEDED] * (workers - 1) + [
        MergeState.CURRENT
    ]
    for older, newer in itertools.pairwise(rows):
        assert (older.superseded_by, newer.supersedes) == (newer.id, older.id)


# --- the migration -------------------------------------------------------------------------------


def test_0012_keys_and_chains_the_records_stored_before_it(db_engine: Engine) -> None:
    _register(db_engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
        for rid, issued, received, name in (
            ("old-2", "2022-01-05", "2024-02-01", FIELDS["ho_ten"]),
            ("old-1", "2022-01-05", "2024-01-01", FIELDS["ho_ten"]),
            ("old-3", "2022-07-01", "2024-03-01", "Trần Văn Nam"),  # same number, same year
            ("old-4", None, "2024-04-01", "Lê Thị Bốn"),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO record (id, result_id, device_id, signature_valid, received_at, "
                    "pdf_size, pdf_path, ltv_status, so_ky_hieu, ngay_ban_hanh, "
                    "co_quan_ban_hanh, ho_ten) VALUES (:id, :rid, :dev, true, :received, 1, "
                    "'p', 'pending', :so, :issued, :issuer, :name)"
                ),
                {
                    "id": rid,
                    "rid": sha256_hex(rid.encode()),
                    "dev": DEVICE,
                    "received": received,
                    "so": FIELDS["so_ky_hieu"],
                    "issued": issued,
                    "issuer": FIELDS["co_quan_ban_hanh"],
                    "name": name,
                },
            )
    migrate(db_engine)
    assert _states(db_engine) == {
        "old-1": (MergeState.SUPERSEDED, 1, True),
        "old-2": (MergeState.CURRENT, 2, True),
        "old-3": (MergeState.CURRENT, 1, True),
        "old-4": (MergeState.CURRENT, 1, False),
    }
    assert _row(db_engine, "old-1").superseded_by == "old-2"
    assert _row(db_engine, "old-2").natural_key == versions.natural_key(FIELDS)
    # and the merge goes on from there
    later = _merge(db_engine, b"%PDF after the migration", fields={**FIELDS, "trich_yeu": "v3"})
    assert later.supersedes == "old-2"


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "no-natural-key"])
def test_concurrent_corrections_of_one_version_make_one_new_version(
    db_engine: Engine, keyed: bool
) -> None:
    _register(db_engine)
    fields = FIELDS if keyed else {**FIELDS, "so_ky_hieu": None}  # the lock alone, no index
    original = _merge(db_engine, b"%PDF corrected twice", fields=fields).record_id
    workers = 4
    barrier = threading.Barrier(workers)
    made: list[str] = []
    refused: list[CorrectionConflictError] = []
    errors: list[BaseException] = []

    def correct(n: int) -> None:
        with Session(db_engine, expire_on_commit=False) as s:
            s.connection()
            barrier.wait()
            try:
                done = disclosures.correct_record(
                    s,
                    Reader(f"officer-{n}", "province_admin", "127.0.0.1"),
                    original,
                    visible=None,
                    field="nguoi_ky",
                    value=f"Người ký {n}",
                    reason="đọc sai",
                )
                assert done is not None
                made.append(done.record.id)
            except CorrectionConflictError as e:
                refused.append(e)
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=correct, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 1 and len(refused) == workers - 1
    assert all(e.current == made[0] for e in refused)  # each refusal names the new version
    states = _states(db_engine)
    assert states == {
        original: (MergeState.SUPERSEDED, 1, False),
        made[0]: (MergeState.CURRENT, 2, False),
    }
    with session_scope(db_engine) as s:
        actions = sorted(e.action for e in s.exec(select(AuditEntry)))
    assert actions == ["record.correct"] + ["record.correct.conflict"] * (workers - 1)
