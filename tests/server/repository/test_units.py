"""The unit tree on real databases (SQLite and PostgreSQL), loaded from the shipped Khánh Hòa
file: import and re-import, history across the 2024 and 2025 merges, the tree as of a date,
the units an officer of a merged commune may see, malformed rows refused by line, and the unit
a result belongs to."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select
from typer.testing import CliRunner

from cli.main import ExitCode, app
from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.catalogue_files import KHANH_HOA_UNITS, read_units
from server.db import make_engine, session_scope
from server.errors import DataFileError, RepositoryError
from server.models import Unit, UnitVersion
from server.repository import devices, units

BEFORE = dt.date(2025, 6, 30)
AFTER = dt.date(2025, 7, 1)


def _import(engine: Engine, path: Path = KHANH_HOA_UNITS) -> units.ImportSummary:
    rows = read_units(path)
    with session_scope(engine) as s:
        return units.import_units(s, rows)


def _version_rows(engine: Engine) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(UnitVersion)).one()


def test_the_khanh_hoa_file_imports_and_importing_it_again_changes_nothing(
    db_engine: Engine,
) -> None:
    rows = read_units(KHANH_HOA_UNITS)
    first = _import(db_engine)
    assert (first.added, first.superseded, first.unchanged) == (len(rows), 0, 0)
    again = _import(db_engine)
    assert (again.added, again.superseded, again.unchanged, again.absent) == (0, 0, len(rows), 0)
    assert _version_rows(db_engine) == len(rows)
    with session_scope(db_engine) as s:
        assert s.exec(select(func.count()).select_from(Unit)).one() == len({r.code for r in rows})


def test_the_tree_before_and_after_1_july_2025(db_engine: Engine) -> None:
    _import(db_engine)
    with session_scope(db_engine) as s:
        before = {n.code: n for n in units.tree_as_of(s, BEFORE)}
        assert set(before) == {"56", "58"}  # Khánh Hòa and Ninh Thuận
        districts = before["56"].children
        assert len(districts) == 9
        assert sum(len(d.children) for d in districts) == 132
        assert sum(len(d.children) for d in before["58"].children) == 62
        van_ninh = next(d for d in districts if d.code == "571")
        assert van_ninh.version.name == "Vạn Ninh" and van_ninh.version.kind == "huyen"
        assert {c.version.name for c in van_ninh.children} >= {"Vạn Thắng", "Vạn Bình", "Vạn Giã"}

        after = units.tree_as_of(s, AFTER)
        assert [n.code for n in after] == ["56"]  # Ninh Thuận merged into Khánh Hòa
        communes = after[0].children
        kinds = [c.version.kind for c in communes]
        assert len(communes) == 65
        assert (kinds.count("xa"), kinds.count("phuong"), kinds.count("dac_khu")) == (48, 16, 1)
        assert all(not c.children for c in communes)  # two levels: province, commune
        van_thang = next(c for c in communes if c.code == "22516")
        assert units.display_name(van_thang.version) == "Xã Vạn Thắng"


def test_a_subtree_as_of_a_date(db_engine: Engine) -> None:
    _import(db_engine)
    with session_scope(db_engine) as s:
        van_ninh = units.subtree_as_of(s, "571", BEFORE)
        assert van_ninh is not None and len(van_ninh.codes()) == 14  # the district + 13
        assert units.subtree_as_of(s, "571", AFTER) is None  # districts end on 30 June 2025
        nha_trang_2024 = units.subtree_as_of(s, "568", dt.date(2024, 6, 1))
        nha_trang_2025 = units.subtree_as_of(s, "568", dt.date(2025, 1, 1))
        assert nha_trang_2024 is not None and nha_trang_2025 is not None
        # the 2024 round (in force 1 November 2024): 27 wards and communes became 22
        assert (len(nha_trang_2024.children), len(nha_trang_2025.children)) == (27, 22)
        assert "22345" in nha_trang_2024.codes()  # phường Vạn Thắng of Nha Trang, until then


def test_history_is_kept_across_a_merge(db_engine: Engine) -> None:
    _import(db_engine)
    with session_scope(db_engine) as s:
        old = units.version_at(s, "22516", BEFORE)
        new = units.version_at(s, "22516", AFTER)
        assert old is not None and new is not None
        assert (old.name, old.parent_code) == ("Vạn Thắng", "571")
        assert (new.name, new.parent_code) == ("Vạn Thắng", "56")
        # a reused code: 22504 was xã Vạn Thọ, then the new xã Đại Lãnh
        assert units.version_at(s, "22504", BEFORE).name == "Vạn Thọ"  # type: ignore[union-attr]
        assert units.version_at(s, "22504", AFTER).name == "Đại Lãnh"  # type: ignore[union-attr]
        bình = units.version_at(s, "22501", BEFORE)
        assert bình is not None and bình.successors == ["22516"]
        assert units.version_at(s, "22501", AFTER) is None


def test_an_officer_of_a_merged_commune_sees_the_communes_merged_into_it(
    db_engine: Engine,
) -> None:
    _import(db_engine)
    with session_scope(db_engine) as s:
        # xã Vạn Thắng (2025) = xã Vạn Bình + xã Vạn Thắng (NQ 1667 k.9)
        assert units.visible_units(s, "22516") == {"22516", "22501"}
        # xã Diên Lâm (2025) = Xuân Đồng + Diên Lâm; Xuân Đồng (2024) = Diên Đồng + Diên Xuân
        assert units.visible_units(s, "22660") == {"22660", "22654", "22666"}
        # phường Nha Trang (2025) took in Vạn Thạnh, which took in phường Vạn Thắng and Xương
        # Huân in 2024: transitively visible
        nha_trang = units.visible_units(s, "22366")
        assert {"22348", "22345", "22342", "22360", "22369", "22363"} <= nha_trang
        assert "22516" not in nha_trang  # xã Vạn Thắng of Vạn Ninh is another unit
        # the province sees every unit ever under it, Ninh Thuận's included
        province = units.visible_units(s, "56")
        assert {"22516", "22345", "58", "582", "22753"} <= province
        assert units.visible_units(s, "99999") == frozenset()


def test_a_changed_file_adds_versions_and_never_rewrites_history(
    db_engine: Engine, tmp_path: Path
) -> None:
    _import(db_engine)
    before = _version_rows(db_engine)
    text = KHANH_HOA_UNITS.read_text(encoding="utf-8")
    row = "22516,Vạn Thắng,xa,56,2025-07-01,,,confirmed,[NQ1667] k.9; code: [CV1027]"
    assert row in text
    ended = "22516,Vạn Thắng,xa,56,2025-07-01,2026-12-31,,confirmed,[NQ1667] k.9; code: [CV1027]"
    renamed = "22516,Vạn Thắng Mới,xa,56,2027-01-01,,,unconfirmed,a made-up rename"
    changed = tmp_path / "units.csv"
    changed.write_text(text.replace(row, f"{ended}\n{renamed}"), encoding="utf-8")

    done = _import(db_engine, changed)
    assert (done.added, done.superseded) == (2, 1)
    assert _version_rows(db_engine) == before + 2
    with session_scope(db_engine) as s:
        kept = s.exec(
            select(UnitVersion).where(UnitVersion.code == "22516", UnitVersion.valid_from == AFTER)
        ).all()
        assert len(kept) == 2  # the superseded row is still there
        assert sum(v.superseded_at is not None for v in kept) == 1
        assert units.version_at(s, "22516", dt.date(2026, 6, 1)).valid_to == dt.date(2026, 12, 31)  # type: ignore[union-attr]
        assert units.version_at(s, "22516", dt.date(2027, 2, 1)).name == "Vạn Thắng Mới"  # type: ignore[union-attr]
    assert _import(db_engine, changed).added == 0


def _with_line(tmp_path: Path, line: str) -> tuple[Path, int]:
    """The shipped file with `line` appended, and that line's number."""
    text = KHANH_HOA_UNITS.read_text(encoding="utf-8").rstrip("\n") + "\n" + line + "\n"
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    return path, text.count("\n")


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("22999,Xã Mới,lang,56,2025-07-01,,,confirmed,", "kind 'lang' is not one of"),
        ("22999,Mới,xa,56,2025-07-32,,,confirmed,", "valid_from '2025-07-32' is not a date"),
        ("22999,Mới,xa,56,2025-07-01,,,confirmed", "8 columns, expected 9"),
        ("22999,Mới,xa,777,2025-07-01,,,confirmed,", "unit 777 is defined by no row"),
        ("22999,Mới,xa,571,2025-07-01,,,confirmed,", "parent 571 has no version in force"),
        ("22516,Trùng,xa,56,2025-08-01,,,confirmed,", "overlaps its version on line"),
        ("22999,Mới,xa,56,2025-07-01,,22516,confirmed,", "with successors must end"),
        ("2A999,Mới,xa,56,2025-07-01,,,confirmed,", "is not a unit code"),
        ("22999,Mới,xa,56,2025-07-01,,,maybe,", "status 'maybe'"),
    ],
)
def test_a_malformed_row_is_refused_naming_its_line(
    tmp_path: Path, line: str, complaint: str
) -> None:
    path, number = _with_line(tmp_path, line)
    with pytest.raises(DataFileError, match=complaint) as refused:
        read_units(path)
    assert f"{path}:{number}:" in str(refused.value)


def test_the_import_command_refuses_a_malformed_file_and_writes_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path, number = _with_line(tmp_path, "22999,Mới,xa,56,2025-07-01,,,confirmed")
    refused = CliRunner().invoke(app, ["server", "units", "import", str(path), *config])
    assert refused.exit_code == ExitCode.SERVER
    assert f"units.csv:{number}: 8 columns" in refused.stderr
    done = CliRunner().invoke(app, ["server", "units", "import", str(KHANH_HOA_UNITS), *config])
    assert done.exit_code == ExitCode.OK, done.stderr
    assert "291 unit versions read" in done.stdout and "291 added" in done.stdout
    again = CliRunner().invoke(app, ["server", "units", "import", str(KHANH_HOA_UNITS), *config])
    assert "0 added" in again.stdout and "291 unchanged" in again.stdout


def test_register_device_takes_a_unit_code_or_name(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ca = CertificateAuthority.create("Sohoa Test CA")
    cert = ca.issue(new_key().public_key(), "appliance-05", Profile.DOCUMENT_SIGNING)
    write_certificate(cert, tmp_path / "signing.pem")
    runner = CliRunner()

    def register(device_id: str, unit: str) -> tuple[int, str]:
        args = ["server", "register-device", "--device-id", device_id, "--unit", unit]
        done = runner.invoke(app, [*args, "--signing-cert", str(tmp_path / "signing.pem"), *config])
        return done.exit_code, done.stdout + done.stderr

    code, out = register("appliance-05", "22516")
    assert code == ExitCode.SERVER and "import the units first" in out
    runner.invoke(app, ["server", "units", "import", str(KHANH_HOA_UNITS), *config])
    assert register("appliance-05", "22516")[0] == ExitCode.OK
    assert register("appliance-06", "UBND xã Vạn Hưng")[0] == ExitCode.OK
    assert register("appliance-07", "Tổ một cửa")[0] == ExitCode.OK
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'repository.db'}")
    try:
        with session_scope(engine) as s:
            got = {
                d: (devices.get_device(s, d).unit, devices.get_device(s, d).unit_code)  # type: ignore[union-attr]
                for d in ("appliance-05", "appliance-06", "appliance-07")
            }
    finally:
        engine.dispose()
    assert got == {
        "appliance-05": ("UBND xã Vạn Thắng", "22516"),
        "appliance-06": ("UBND xã Vạn Hưng", "22525"),
        "appliance-07": ("Tổ một cửa", None),
    }


def _config(tmp_path: Path) -> list[str]:
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    return ["--config", str(config)]


@pytest.mark.parametrize(
    ("issuer", "day", "unit"),
    [
        ("UBND XÃ VẠN THẮNG", "2022-11-14", "22516"),
        ("ỦY BAN NHÂN DÂN THỊ TRẤN VẠN GIÃ", "2022-11-09", "22489"),
        ("Uỷ ban nhân dân xã Ninh Quang", "2022-07-05", "22588"),
        ("UBND PHƯỜNG VẠN THẮNG", "2023-03-01", "22345"),  # Nha Trang's, until 2024-10-31
        ("UBND PHƯỜNG VẠN THẮNG", "2025-01-01", None),
        ("UBND xã Đại Lãnh", "2023-01-01", "22492"),
        ("UBND xã Đại Lãnh", "2025-08-01", "22504"),  # the new Đại Lãnh took Vạn Thọ's code
        ("ỦY BAN NHÂN DÂN HUYỆN VẠN NINH", "2024-04-03", "571"),
        ("PHÒNG TÀI CHÍNH - KẾ HOẠCH", "2024-02-09", None),
        ("UBND XÃ VẠN THẮNG MỚI", "2022-11-14", None),
    ],
)
def test_an_issuer_names_a_unit_only_when_it_names_exactly_one(
    db_engine: Engine, issuer: str, day: str, unit: str | None
) -> None:
    _import(db_engine)
    with session_scope(db_engine) as s:
        assert units.unit_for_issuer(s, issuer, dt.date.fromisoformat(day)) == unit


def test_register_device_refuses_an_unknown_unit_code(db_engine: Engine) -> None:
    with session_scope(db_engine) as s, pytest.raises(RepositoryError, match="units first"):
        devices.register_device(s, "commune-01.kiosk", "x", sha256_hex(b"c"), unit_code="22516")
