"""Synthetic results for a repository (`sohoa server seed`): realistic enough to measure and
demonstrate search and reuse at a million results, never real people.

What a seeded result looks like: a Kinh name drawn by the real frequency of family names, or
(about 9%) an Êđê, Raglai or Chăm name as they are written in Khánh Hòa and the former Ninh
Thuận; a CCCD valid for its holder (province of birth registration, century and sex digit,
year of birth, six digits); a commune of the unit tree in force on its issue date, and that
commune's People's Committee as issuer; a procedure of the catalogue and the result type it
produces; a số ký hiệu numbered per unit and year; about two hundred words of recognised text.
About 6% of results belong to a citizen who already has one; about 2% are a second version of
a document on file (a rescan: same issuer, số ký hiệu, date and citizen; the first version
superseded, `server.repository.versions`); about 0.5% carry Nghị định 30's duplicate warning
(two documents of one issuer numbered alike in one year, each for its own citizen). Every
result points at one shared placeholder PDF; signatures are marked valid except for 0.5%.

Rows go in by the database's bulk path (COPY on PostgreSQL, executemany on SQLite), in
batches, and the search index is rebuilt at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.blobs import BlobStore
from server.catalogue_files import read_procedures, read_units
from server.errors import RepositoryError
from server.models import Device, Procedure, Record
from server.repository import bulk, procedures, tallies, units, versions

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
COLUMNS = (
    "id",
    "result_id",
    "device_id",
    "signer_common_name",
    "signature_valid",
    "signing_time",
    "received_at",
    "pdf_size",
    "page_count",
    "pdf_path",
    "ltv_status",
    "so_ky_hieu",
    "ngay_ban_hanh",
    "co_quan_ban_hanh",
    "loai_van_ban",
    "trich_yeu",
    "ho_ten",
    "cccd",
    "ngay_sinh",
    "nguoi_ky",
    "unit_code",
    "procedure_code",
    "ocr_text",
    "natural_key",
    "duplicate_key",
    "version",
    "merge_state",
    "supersedes",
    "superseded_by",
    "duplicate_warning",
)
VERSION_SHARE = 0.02
"""Results that are a second version of a document (each with its superseded first)."""
DUPLICATE_SHARE = 0.005
"""Results that carry Nghị định 30's duplicate warning (they come in pairs)."""
COMMUNE_KINDS = frozenset({"xa", "phuong", "thi_tran", "dac_khu"})
FIRST_DAY = dt.date(2016, 1, 1)
LAST_DAY = dt.date(2026, 11, 30)
DIGITIZED_FROM = dt.date(2025, 8, 1)

# Family names by their share of the population (per cent, rounded; the long tail merged).
KINH_FAMILY = {
    "Nguyễn": 38.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.0, "Huỳnh": 4.0, "Hoàng": 1.5,
    "Phan": 4.5, "Võ": 3.5, "Vũ": 1.0, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3,
    "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5, "Đào": 0.6, "Đoàn": 0.6, "Trương": 0.8,
    "Lương": 0.5, "Mai": 0.5, "Tạ": 0.3, "Châu": 0.4, "Cao": 0.4, "Lâm": 0.4, "Thái": 0.3,
    "Tô": 0.3, "Hà": 0.3, "Kiều": 0.2, "Tôn": 0.2, "Văn": 0.2,
}  # fmt: skip
MALE_MIDDLE = ("Văn", "Văn", "Văn", "Đức", "Minh", "Hữu", "Quốc", "Công", "Thanh", "Xuân", "Anh")
FEMALE_MIDDLE = ("Thị", "Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bích", "Hồng")
MALE_GIVEN = (
    "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đức", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
    "Khoa", "Khánh", "Long", "Minh", "Nam", "Nghĩa", "Phúc", "Phong", "Quang", "Sơn", "Tài",
    "Thắng", "Thành", "Tiến", "Toàn", "Trung", "Tuấn", "Vinh", "Việt", "Lộc", "Lực", "Tâm",
)  # fmt: skip
FEMALE_GIVEN = (
    "An", "Anh", "Châu", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hồng", "Hương",
    "Hưởng", "Hường", "Huyền", "Lan", "Liên", "Linh", "Loan", "Mai", "My", "Nga", "Ngân",
    "Nhung", "Oanh", "Phương", "Quyên", "Thảo", "Thủy", "Trang", "Trâm", "Tuyết", "Uyên",
    "Vân", "Vy", "Yến", "Đào", "Diệp",
)  # fmt: skip
RAGLAI_FAMILY = ("Mấu", "Pi Năng", "Katơr", "Cao", "Bo Bo", "Chamaléa", "Tro", "Mang", "Ha")
RAGLAI_GIVEN = ("Lâm", "Tới", "Nhơn", "Ria", "Sa", "Quy", "Nhẻ", "Lài", "Đẹp", "Xuân", "Thương")
EDE_FAMILY = ("Niê", "Êban", "Mlô", "Ksơr", "Byă", "Adrơng", "Buôn Yă", "Kbuôr", "Hđơk")
EDE_GIVEN = ("Blang", "Thuôn", "Ngông", "Mơl", "Hen", "Bia", "Nguôn", "Jôk", "Khuê", "Đam")
CHAM_FAMILY = ("Đàng", "Thuận", "Quảng", "Lưu", "Châu", "Thiên", "Phú", "Bá", "Hán", "Thành")
CHAM_MIDDLE = ("Năng", "Văn", "Đại", "Thị", "Ngọc")
CHAM_GIVEN = ("Thọ", "Tuyên", "Sang", "Khoa", "Lan", "Trinh", "Sỹ", "Thị", "Hòa", "Năm")

# Province codes of birth registration in a CCCD, with their share among this province's people.
BIRTH_PROVINCES = {
    "056": 60, "058": 20, "054": 4, "052": 3, "066": 3, "068": 2, "060": 2, "079": 2,
    "001": 1, "040": 1, "038": 1, "046": 1,
}  # fmt: skip

PROCEDURE_WEIGHTS = {
    "1.001193": 30, "1.004873": 15, "2.000815": 10, "1.000894": 12, "1.000656": 8,
    "2.000884": 5, "1.004859": 3, "2.000635": 5,
}  # fmt: skip
"""Shares of the commonest procedures; the rest of the catalogue shares 1 each."""
FALLBACK_TYPES = {
    "1.004884": "GIẤY KHAI SINH",
    "1.005461": "TRÍCH LỤC KHAI TỬ",
    "1.004746": "GIẤY CHỨNG NHẬN KẾT HÔN",
    "1.004837": "TRÍCH LỤC ĐĂNG KÝ GIÁM HỘ",
    "1.000689": "TRÍCH LỤC ĐĂNG KÝ NHẬN CHA, MẸ, CON",
    "2.000528": "GIẤY KHAI SINH",
    "2.000806": "GIẤY CHỨNG NHẬN KẾT HÔN",
    "2.000635": "BẢN SAO TRÍCH LỤC HỘ TỊCH",
    "2.000815": "BẢN SAO CHỨNG THỰC",
    "2.000884": "GIẤY CHỨNG THỰC CHỮ KÝ",
}

SENTENCES = (
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025",
    "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014 và Nghị định số 123/2015/NĐ-CP của "
    "Chính phủ quy định chi tiết một số điều và biện pháp thi hành Luật Hộ tịch",
    "Căn cứ Nghị định số 23/2015/NĐ-CP ngày 16 tháng 02 năm 2015 của Chính phủ về cấp bản "
    "sao từ sổ gốc, chứng thực bản sao từ bản chính, chứng thực chữ ký",
    "Xét đề nghị của công chức tư pháp hộ tịch và hồ sơ do người yêu cầu nộp tại Bộ phận "
    "tiếp nhận và trả kết quả",
    "Người yêu cầu cam đoan những thông tin đã khai là đúng sự thật và chịu trách nhiệm trước "
    "pháp luật về nội dung cam đoan của mình",
    "Thông tin về nơi cư trú được xác định theo Cơ sở dữ liệu quốc gia về dân cư tại thời điểm "
    "giải quyết thủ tục hành chính",
    "Văn bản này có hiệu lực kể từ ngày ký và được lưu tại Ủy ban nhân dân cấp xã theo quy định "
    "về lưu trữ hồ sơ hộ tịch",
    "Công chức tư pháp hộ tịch có trách nhiệm ghi vào sổ đăng ký và cập nhật vào Cơ sở dữ liệu "
    "hộ tịch điện tử dùng chung",
    "Bản sao được cấp từ sổ hộ tịch có giá trị sử dụng thay cho bản chính trong các giao dịch "
    "trừ trường hợp pháp luật có quy định khác",
    "Người được cấp có trách nhiệm bảo quản giấy tờ và xuất trình khi cơ quan có thẩm quyền "
    "yêu cầu",
    "Trường hợp phát hiện sai sót trong nội dung, người yêu cầu đề nghị cải chính theo thủ tục "
    "thay đổi cải chính hộ tịch",
    "Nơi nhận như trên, lưu văn phòng, bộ phận một cửa và hồ sơ điện tử của thủ tục",
    "Ủy ban nhân dân xã phường đặc khu chịu trách nhiệm thi hành văn bản này kể từ ngày ký",
    "Chứng thực bản sao đúng với bản chính, số chứng thực được ghi vào sổ chứng thực bản sao",
    "Tình trạng hôn nhân được xác nhận theo kết quả tra cứu cơ sở dữ liệu hộ tịch và lời khai",
    "Giấy xác nhận có giá trị sáu tháng kể từ ngày cấp và được sử dụng cho mục đích đã ghi",
    "Thời điểm đăng ký được ghi theo ngày tiếp nhận hồ sơ hợp lệ tại bộ phận một cửa",
    "Hai bên nam nữ tự nguyện kết hôn, không vi phạm các điều cấm của Luật Hôn nhân và gia đình",
    "Người đi đăng ký khai tử là người thân thích của người chết và có giấy báo tử hợp lệ",
    "Kết quả giải quyết được số hóa, ký số và lưu trữ trong kho dữ liệu điện tử của tỉnh",
    "Các thông tin cá nhân được xử lý theo Nghị định số 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
    "Mã hồ sơ, ngày hẹn trả và kết quả được thông báo qua Cổng dịch vụ công quốc gia",
)


@dataclass(frozen=True)
class _Commune:
    code: str
    issuer: str
    start: dt.date
    end: dt.date


@dataclass
class _Person:
    name: str
    cccd: str
    born: dt.date


class ResultFaker:
    """Makes the rows of synthetic results (dicts of `COLUMNS`), reproducibly from `seed`."""

    def __init__(
        self,
        communes: Sequence[_Commune],
        catalogue: Sequence[tuple[str, str]],
        pdf_path: str,
        pdf_size: int,
        seed: int = 0,
        first_number: int = 1,
    ) -> None:
        """`first_number`: where each issuer's numbering starts (above any number a repository
        seeded before holds, so that no document of this run takes another's natural key)."""
        self.rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by design)
        self.nonce = f"{seed}:{time.time_ns()}"
        self.communes = list(communes)
        self.procedures = [code for code, _ in catalogue]
        self.types = dict(catalogue)
        self.weights = [PROCEDURE_WEIGHTS.get(code, 1) for code in self.procedures]
        self.family = list(KINH_FAMILY)
        self.family_weights = list(KINH_FAMILY.values())
        self.provinces = list(BIRTH_PROVINCES)
        self.province_weights = list(BIRTH_PROVINCES.values())
        self.pdf_path = pdf_path
        self.pdf_size = pdf_size
        self.numbers: dict[tuple[str, int], int] = {}
        self.first_number = first_number
        self.reused: set[tuple[str, str, dt.date]] = set()
        self.people: list[_Person] = []
        self.count = 0

    def rows(self, n: int) -> Iterator[dict[str, Any]]:
        """`n` rows (a document's two versions, and a duplicate pair, come together)."""
        made = 0
        while made < n:
            for row in self._results(n - made):
                made += 1
                yield row

    def _results(self, room: int) -> list[dict[str, Any]]:
        """One result, or two that belong together when there is `room` for them."""
        roll = self.rng.random()
        if room >= 2 and roll < VERSION_SHARE:
            fields = self._document()
            first = self.row(fields)
            rescan = {**fields, "trich_yeu": f"{fields['trich_yeu']} (bản quét lại)"}
            second = self.row(rescan, after=first["received_at"])
            first.update(merge_state="superseded", superseded_by=second["id"])
            second.update(version=2, supersedes=first["id"])
            return [first, second]
        if room >= 2 and roll < VERSION_SHARE + DUPLICATE_SHARE / 2:
            fields = self._document()
            other = self._duplicate_of(fields)
            if other is not None:
                pair = [self.row(fields), self.row(other)]
                for row in pair:
                    row["duplicate_warning"] = True
                return pair
            return [self.row(fields)]
        return [self.row(self._document())]

    def row(
        self, fields: dict[str, Any] | None = None, after: dt.datetime | None = None
    ) -> dict[str, Any]:
        """One result of `fields` (a new document's by default), received after `after`."""
        rng = self.rng
        self.count += 1
        fields = fields if fields is not None else self._document()
        issued = dt.date.fromisoformat(fields["ngay_ban_hanh"])
        if after is not None:  # a later version: days after the first
            received = after + dt.timedelta(seconds=rng.randrange(3600, 30 * 86400))
        else:
            first = max(issued, DIGITIZED_FROM)
            span = max((dt.date(2026, 12, 5) - first).days, 0)
            received = dt.datetime.combine(
                first + dt.timedelta(days=rng.randint(0, span)), dt.time(1), dt.UTC
            ) + dt.timedelta(seconds=rng.randrange(36_000), microseconds=rng.randrange(1_000_000))
        natural_key, duplicate_key = versions.keys(fields)
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "result_id": hashlib.sha256(f"{self.nonce}:{self.count}".encode()).hexdigest(),
            "device_id": f"seed-{fields['unit_code']}",
            "signer_common_name": f"seed-{fields['unit_code']}",
            "signature_valid": rng.random() >= 0.005,
            "signing_time": received - dt.timedelta(hours=1),
            "received_at": received,
            "pdf_size": self.pdf_size,
            "page_count": 1,
            "pdf_path": self.pdf_path,
            "ltv_status": "pending",
            "natural_key": natural_key,
            "duplicate_key": duplicate_key,
            "version": 1,
            "merge_state": "current",
            "supersedes": None,
            "superseded_by": None,
            "duplicate_warning": False,
            **fields,
        }

    def _duplicate_of(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Another document of `fields`' issuer, số ký hiệu and year, on another day, for
        another citizen (None when that day's number is taken already)."""
        issued = dt.date.fromisoformat(fields["ngay_ban_hanh"])
        day = issued.replace(month=self.rng.randint(1, 12), day=self.rng.randint(1, 28))
        other = self._document()
        so, issuer = fields["so_ky_hieu"], fields["co_quan_ban_hanh"]
        if day == issued or (issuer, so, day) in self.reused:
            return None
        self.reused.add((issuer, so, day))
        other.update(
            so_ky_hieu=so,
            co_quan_ban_hanh=issuer,
            unit_code=fields["unit_code"],
            ngay_ban_hanh=day.isoformat(),
        )
        return other

    def _document(self) -> dict[str, Any]:
        rng = self.rng
        commune = rng.choice(self.communes)
        issued = commune.start + dt.timedelta(
            days=rng.randint(0, (commune.end - commune.start).days)
        )
        procedure = rng.choices(self.procedures, self.weights)[0]
        kind = self.types[procedure]
        person = self._person(procedure, issued)
        key = (commune.issuer, issued.year)  # one issuer's numbers, whatever its code
        self.numbers[key] = number = self.numbers.get(key, self.first_number - 1) + 1
        so = f"{number}/{issued.year}" if "TRÍCH" in kind or "GIẤY" in kind else f"{number}/QĐ-UBND"
        summary = f"{kind.capitalize()} của {person.name}"
        signer = self._name(rng.random() < 0.5)[0]
        body = " ".join(rng.sample(SENTENCES, 8))
        ocr = (
            f"CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc {commune.issuer} "
            f"Số: {so} {kind} {body} Họ, chữ đệm, tên: {person.name} Ngày, tháng, năm sinh: "
            f"{person.born:%d/%m/%Y} Số định danh cá nhân: {person.cccd} "
            f"{commune.issuer}, ngày {issued:%d} tháng {issued:%m} năm {issued:%Y} "
            f"TM. ỦY BAN NHÂN DÂN CHỦ TỊCH {signer}"
        )
        return {
            "so_ky_hieu": so,
            "ngay_ban_hanh": issued.isoformat(),
            "co_quan_ban_hanh": commune.issuer,
            "loai_van_ban": kind,
            "trich_yeu": summary,
            "ho_ten": person.name,
            "cccd": person.cccd,
            "ngay_sinh": person.born.isoformat(),
            "nguoi_ky": signer,
            "unit_code": commune.code,
            "procedure_code": procedure,
            "ocr_text": ocr,
        }

    def _person(self, procedure: str, issued: dt.date) -> _Person:
        rng = self.rng
        if self.people and rng.random() < 0.06:
            return rng.choice(self.people)  # a citizen with a result on file already
        if procedure in ("1.001193", "1.004884", "2.000528", "1.000689"):
            born = issued - dt.timedelta(days=rng.randint(1, 60))  # a birth registered
        elif procedure in ("1.000656", "1.005461"):
            born = issued - dt.timedelta(days=rng.randint(50 * 365, 95 * 365))
        elif procedure in ("1.000894", "2.000806", "1.004873"):
            born = issued - dt.timedelta(days=rng.randint(19 * 365, 40 * 365))
        else:
            born = issued - dt.timedelta(days=rng.randint(18 * 365, 80 * 365))
        male = rng.random() < 0.5
        name = self._name(male)[0]
        century = 0 if born.year < 2000 else 2
        province = rng.choices(self.provinces, self.province_weights)[0]
        sex_digit = century + (0 if male else 1)
        cccd = f"{province}{sex_digit}{born.year % 100:02d}{rng.randrange(10**6):06d}"
        person = _Person(name, cccd, born)
        if len(self.people) < 50_000:
            self.people.append(person)
        else:
            self.people[rng.randrange(50_000)] = person
        return person

    def _name(self, male: bool) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.04:  # Raglai
            middle = "Văn" if male else "Thị"
            return f"{rng.choice(RAGLAI_FAMILY)} {middle} {rng.choice(RAGLAI_GIVEN)}", "raglai"
        if roll < 0.065:  # Chăm
            return (
                f"{rng.choice(CHAM_FAMILY)} {rng.choice(CHAM_MIDDLE)} {rng.choice(CHAM_GIVEN)}",
                "cham",
            )
        if roll < 0.09:  # Êđê: Y for men, H' for women, the family name last
            given = rng.choice(EDE_GIVEN)
            lead = f"Y {given}" if male else f"H'{given}"
            return f"{lead} {rng.choice(EDE_FAMILY)}", "ede"
        family = rng.choices(self.family, self.family_weights)[0]
        middle = rng.choice(MALE_MIDDLE if male else FEMALE_MIDDLE)
        given = rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)
        return f"{family} {middle} {given}", "kinh"


def prepare(
    session: Session, blobs: BlobStore
) -> tuple[list[_Commune], list[tuple[str, str]], str, int]:
    """Import the shipped units and procedures if the repository has none, register a seed
    device per commune, store the placeholder PDF; return what `ResultFaker` takes."""
    if not units.current_versions(session):
        units.import_units(session, read_units(DATA / "units_khanh_hoa.csv"))
    if session.exec(select(Procedure)).first() is None:
        procedures.import_procedures(session, read_procedures(DATA / "procedures.csv"))
    communes = []
    for v in units.current_versions(session):
        if v.kind not in COMMUNE_KINDS:
            continue
        start = max(v.valid_from or FIRST_DAY, FIRST_DAY)
        end = min(v.valid_to or LAST_DAY, LAST_DAY)
        if start > end:
            continue
        kind = units.KIND_LABELS.get(v.kind, v.kind)
        issuer = f"UBND {kind[0].lower()}{kind[1:]} {v.name}"
        communes.append(_Commune(v.code, issuer, start, end))
    if not communes:
        raise RepositoryError("the unit tree has no commune: import a units file first")
    known = set(session.exec(select(Device.device_id)).all())
    for c in {c.code: c for c in communes}.values():
        if f"seed-{c.code}" not in known:
            session.add(
                Device(
                    device_id=f"seed-{c.code}",
                    unit=c.issuer,
                    unit_code=c.code,
                    signing_cert_sha256=hashlib.sha256(b"seed").hexdigest(),
                )
            )
    session.commit()
    catalogue = []
    for p in session.exec(select(Procedure).order_by(col(Procedure.code))):
        kind = p.result_types[0] if p.result_types else FALLBACK_TYPES.get(p.code, "QUYẾT ĐỊNH")
        catalogue.append((p.code, kind))
    pdf = b"%PDF-1.7\n% sohoa seed: a placeholder shared by every synthetic result\n%%EOF\n"
    return communes, catalogue, blobs.put(pdf), len(pdf)


def seed(
    engine: Engine,
    data_dir: Path,
    results: int,
    *,
    seed_value: int = 0,
    batch: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, float]:
    """Add `results` synthetic results to the repository behind `engine` (already migrated).

    Returns:
        (rows added, seconds taken).

    Raises:
        RepositoryError: the database refused the rows.
    """
    with Session(engine) as session:
        communes, catalogue, pdf_path, pdf_size = prepare(session, BlobStore(data_dir))
        held = session.exec(select(sa.func.count()).select_from(Record)).one()
    faker = ResultFaker(communes, catalogue, pdf_path, pdf_size, seed_value, first_number=held + 1)
    start = time.perf_counter()
    done = 0
    try:
        while done < results:
            n = min(batch, results - done)
            bulk.insert_records(engine, COLUMNS, list(faker.rows(n)))
            done += n
            if progress is not None:
                progress(done)
        with Session(engine) as session:
            tallies.rebuild(session)  # the bulk path bypasses the merge that counts them
    except sa.exc.SQLAlchemyError as e:
        raise RepositoryError(f"cannot add the synthetic results: {e}") from e
    return done, time.perf_counter() - start
