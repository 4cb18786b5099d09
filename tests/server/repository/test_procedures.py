"""The procedure catalogue on real databases (SQLite and PostgreSQL), and what a stored record
gets from the catalogue and the unit tree: its procedure (the appliance's, else inferred from
its result type) and its unit (its issuer's, else its device's); its issuer's name untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.catalogue_files import KHANH_HOA_UNITS, PROCEDURES, read_procedures, read_units
from server.db import session_scope
from server.errors import DataFileError
from server.repository import devices, procedures, records, units
from tests.server.repository.test_records import FIELDS, Verdict

DEVICE = "commune-01.kiosk"


def _load(engine: Engine) -> None:
    with session_scope(engine) as s:
        units.import_units(s, read_units(KHANH_HOA_UNITS))
        procedures.import_procedures(s, read_procedures(PROCEDURES))
        devices.register_device(
            s, DEVICE, "UBND xã Vạn Thắng", sha256_hex(b"cert"), unit_code="22516"
        )


def _stored(engine: Engine, pdf: bytes, **fields: Any) -> tuple[str | None, str | None, str | None]:
    procedure = fields.pop("procedure", None)
    with session_scope(engine) as s:
        outcome = records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=DEVICE,
            fields={**FIELDS, **fields},
            verdict=Verdict(),
            pdf_path="ab/cd",
            pdf_size=len(pdf),
            procedure=procedure,
        )
        record = records.get_record(s, outcome.record_id)
        assert record is not None
        return record.unit_code, record.procedure_code, record.co_quan_ban_hanh


def test_the_catalogue_imports_and_importing_it_again_changes_nothing(db_engine: Engine) -> None:
    rows = read_procedures(PROCEDURES)
    with session_scope(db_engine) as s:
        first = procedures.import_procedures(s, rows)
        again = procedures.import_procedures(s, rows)
        birth = procedures.get_procedure(s, "1.001193")
        assert birth is not None and birth.name == "Thủ tục đăng ký khai sinh"
    assert (first.added, again.added, again.changed, again.unchanged) == (
        len(rows),
        0,
        0,
        len(rows),
    )


@pytest.mark.parametrize(
    ("result_type", "code"),
    [
        ("GIẤY KHAI SINH", "1.001193"),
        ("Trích lục khai sinh", "1.001193"),
        ("TRÍCH LỤC KHAI TỬ", "1.000656"),
        ("GIẤY CHỨNG NHẬN KẾT HÔN", "1.000894"),
        ("GIẤY  XÁC NHẬN TÌNH TRẠNG HÔN NHÂN", "1.004873"),
        ("TRÍCH LỤC CẢI CHÍNH HỘ TỊCH", "1.004859"),
        ("QUYẾT ĐỊNH", None),  # many procedures end in a decision: not guessed
        (None, None),
    ],
)
def test_a_procedure_is_inferred_from_the_result_type(
    db_engine: Engine, result_type: str | None, code: str | None
) -> None:
    with session_scope(db_engine) as s:
        procedures.import_procedures(s, read_procedures(PROCEDURES))
        assert procedures.infer_procedure(s, result_type) == code


def test_a_record_gets_its_procedure_and_unit_and_keeps_its_issuer(db_engine: Engine) -> None:
    _load(db_engine)
    # inferred from the type; the issuer names xã Vạn Thắng on its issue date
    assert _stored(db_engine, b"%PDF one", loai_van_ban="GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN") == (
        "22516",
        "1.004873",
        "UBND XÃ VẠN THẮNG",
    )
    # the appliance's procedure wins over the inference (a late birth registration)
    assert (
        _stored(db_engine, b"%PDF two", loai_van_ban="GIẤY KHAI SINH", procedure="1.004884")[1]
        == "1.004884"
    )
    # the issuer says another unit: the result is that unit's, whatever the device's
    assert (
        _stored(
            db_engine,
            b"%PDF three",
            co_quan_ban_hanh="ỦY BAN NHÂN DÂN THỊ TRẤN VẠN GIÃ",
            ngay_ban_hanh="2022-11-09",
        )[0]
        == "22489"
    )
    # an issuer that names no unit (a district office): the device's unit
    assert _stored(db_engine, b"%PDF four", co_quan_ban_hanh="PHÒNG TÀI CHÍNH - KẾ HOẠCH") == (
        "22516",
        None,
        "PHÒNG TÀI CHÍNH - KẾ HOẠCH",
    )
    # not a procedure code: inferred instead
    assert (
        _stored(db_engine, b"%PDF five", loai_van_ban="TRÍCH LỤC KHAI TỬ", procedure="khai tử")[1]
        == "1.000656"
    )


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("1.00119,Sai mã,xa,Hộ tịch,,confirmed,", "is not a procedure code"),
        ("1.999999,Mới,phuong,Hộ tịch,,confirmed,", "level 'phuong'"),
        ("1.001193,Trùng,xa,Hộ tịch,,confirmed,", "already on line"),
        ("1.999999,Mới,xa,Hộ tịch,giấy khai sinh,confirmed,", "already inferred as procedure"),
    ],
)
def test_a_malformed_procedure_row_is_refused_naming_its_line(
    tmp_path: Path, line: str, complaint: str
) -> None:
    text = PROCEDURES.read_text(encoding="utf-8").rstrip("\n") + "\n" + line + "\n"
    path = tmp_path / "procedures.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match=complaint) as refused:
        read_procedures(path)
    assert f"{path}:{text.count(chr(10))}:" in str(refused.value)
