"""People for the corpus: names of several ethnic groups, birth dates and CCCD numbers.

A CCCD is 12 digits: the province of birth registration (3), a century-and-sex digit (0/1 for men
and women born in the 1900s, 2/3 for the 2000s), the year of birth's last two digits and six
random digits (shared/DOMAIN.md). Name pools are split in two halves so that the holdout part of
the corpus uses given names the dev part never prints.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass

KINH_SURNAMES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Huỳnh",
    "Hoàng",
    "Võ",
    "Vũ",
    "Phan",
    "Trương",
    "Bùi",
    "Đặng",
    "Đỗ",
    "Ngô",
    "Dương",
    "Lý",
    "Đinh",
    "Lâm",
    "Mai",
    "Tô",
    "Hà",
    "Lương",
    "Châu",
    "Tạ",
    "Kiều",
    "Từ",
    "Thái",
    "Quách",
    "Văn",
    "Khổng",
]
MALE_MIDDLE = [
    "Văn",
    "Đức",
    "Minh",
    "Quốc",
    "Hữu",
    "Thanh",
    "Công",
    "Xuân",
    "Đình",
    "Trọng",
    "Gia",
    "Anh",
    "Bảo",
    "Thế",
    "Tiến",
    "Khắc",
]
FEMALE_MIDDLE = [
    "Thị",
    "Ngọc",
    "Thu",
    "Kim",
    "Thanh",
    "Mỹ",
    "Hồng",
    "Bích",
    "Diệu",
    "Thùy",
    "Phương",
    "Tuyết",
    "Khánh",
    "Hải",
]
MALE_GIVEN = [
    "Khoa",
    "Lộc",
    "Tín",
    "Vinh",
    "Thuận",
    "Quyết",
    "Sơn",
    "Tường",
    "Nhân",
    "Hiển",
    "Kiên",
    "Bình",
    "Định",
    "Toàn",
    "Trí",
    "Thịnh",
    "Phong",
    "Khải",
    "Luân",
    "Đạt",
    "Cường",
    "Hậu",
    "Nghĩa",
    "Triều",
    "Bách",
    "Duy",
    "Tuấn",
    "Hòa",
    "Thủy",
    "Khương",
    "Lực",
    "Quân",
    "Tâm",
    "Sang",
    "Thoại",
    "Chiến",
]
FEMALE_GIVEN = [
    "Nhàn",
    "Oanh",
    "Hiền",
    "Thảo",
    "Yến",
    "Lụa",
    "Duyên",
    "Ngân",
    "Trinh",
    "Vy",
    "Loan",
    "Xuyến",
    "Quyên",
    "Huệ",
    "Thắm",
    "Diễm",
    "Như",
    "Ánh",
    "Châm",
    "Hòa",
    "Thúy",
    "Liên",
    "Nguyệt",
    "Sương",
    "Tuyền",
    "My",
    "Dung",
    "Hạnh",
    "Khuê",
    "Uyên",
    "Giang",
    "Lệ",
    "Thủy",
    "Trâm",
    "Xoan",
    "Ly",
]

# Raglai and Cơ Ho (Khánh Sơn, Khánh Vĩnh, Bác Ái): surnames of one or two words.
RAGLAI_SURNAMES = [
    "Katơr",
    "Pi Năng",
    "Chamaléa",
    "Bo Bo",
    "Mấu",
    "Mang",
    "Ma Lé",
    "Tà Lang",
    "Cà Tơ",
    "Pinăng",
]
COHO_SURNAMES = ["Kơ Sá", "Liêng Hót", "Ka Sô", "Cil", "Ya", "Ma Ly", "Bon Đing", "Kră Jăn"]
MINORITY_GIVEN_M = ["Tư", "Chọn", "Ngông", "Sáu", "Dũ", "Bền", "Thạnh", "Brơi", "Ha Sin", "Lơng"]
MINORITY_GIVEN_F = [
    "Thị Mai",
    "Thị Hoa",
    "Thị Bé",
    "Thị Sương",
    "Thị Nhơn",
    "Ha Nghê",
    "Thị Lép",
    "Thị Rin",
    "Thị Giàu",
    "Ha Mơ",
]
# Ê Đê: a "Y" (men) or "H" (women) before the given name, the family name last.
EDE_FAMILIES = [
    "Niê",
    "Hđơk",
    "Ksơr",
    "Êban",
    "Byă",
    "Mlô",
    "Ayun",
    "Niê Kdăm",
    "Buôn Yă",
    "Adrơng",
]
EDE_GIVEN_M = ["Khu", "Bhin", "Yơn", "Ngơi", "Thuôl", "Blik", "Dhơn", "Wang"]
EDE_GIVEN_F = ["Nhi", "Juel", "Bia", "Yim", "Lina", "Ngăm", "Hoan", "Rô"]
# Chăm (Ninh Thuận's former communes): Chăm family names with Vietnamese given names.
CHAM_SURNAMES = [
    "Đàng",
    "Thập",
    "Quảng",
    "Thành",
    "Lưu",
    "Phú",
    "Bá",
    "Thiên",
    "Sử",
    "Trượng",
    "Lộ",
    "Tài",
    "Hán",
    "Ông",
    "Kiều",
]

PROVINCE_CODES = {
    "Khánh Hòa": "056",
    "Ninh Thuận": "058",
    "Phú Yên": "054",
    "Bình Định": "052",
    "Đắk Lắk": "066",
    "Lâm Đồng": "068",
    "Bình Thuận": "060",
    "Thành phố Hồ Chí Minh": "079",
    "Hà Nội": "001",
    "Quảng Ngãi": "051",
    "Nghệ An": "040",
    "Thanh Hóa": "038",
}
ETHNIC = {"kinh": "Kinh", "raglai": "Raglai", "coho": "Cơ Ho", "ede": "Ê Đê", "cham": "Chăm"}


@dataclass(frozen=True)
class Person:
    """A person printed on a result: name as written, sex, birth date, CCCD, ethnic group."""

    name: str
    male: bool
    born: dt.date
    cccd: str
    ethnic: str
    province: str

    @property
    def sex(self) -> str:
        return "Nam" if self.male else "Nữ"

    @property
    def title(self) -> str:
        """How prose addresses the person: "ông" or "bà"."""
        return "ông" if self.male else "bà"


def _half(pool: list[str], split: str) -> list[str]:
    """The dev or holdout half of a name pool (alternate entries), so the halves never meet."""
    return pool[0::2] if split == "dev" else pool[1::2]


def make_name(rng: random.Random, male: bool, group: str, split: str) -> str:
    """A full name of the ethnic group, drawn from the split's half of the given names."""
    if group == "raglai":
        given = _half(MINORITY_GIVEN_M if male else MINORITY_GIVEN_F, split)
        middle = "Văn " if male and rng.random() < 0.6 else ""
        return f"{rng.choice(RAGLAI_SURNAMES)} {middle}{rng.choice(given)}"
    if group == "coho":
        given = _half(MINORITY_GIVEN_M if male else MINORITY_GIVEN_F, split)
        return f"{rng.choice(COHO_SURNAMES)} {rng.choice(given)}"
    if group == "ede":
        given = _half(EDE_GIVEN_M if male else EDE_GIVEN_F, split)
        return f"{'Y' if male else 'H'} {rng.choice(given)} {rng.choice(EDE_FAMILIES)}"
    surnames = CHAM_SURNAMES if group == "cham" else KINH_SURNAMES
    middles = MALE_MIDDLE if male else FEMALE_MIDDLE
    given = _half(MALE_GIVEN if male else FEMALE_GIVEN, split)
    middle = rng.choice(middles)
    if rng.random() < 0.35:  # two middle names are common
        second = rng.choice(middles)
        if second != middle:
            middle = f"{middle} {second}"
    return f"{rng.choice(surnames)} {middle} {rng.choice(given)}"


def make_cccd(rng: random.Random, born: dt.date, male: bool, province: str) -> str:
    """A CCCD consistent with the birth year, sex and province of birth registration."""
    century = 0 if born.year < 2000 else 2
    return (
        PROVINCE_CODES[province]
        + str(century + (0 if male else 1))
        + f"{born.year % 100:02d}"
        + f"{rng.randrange(10**6):06d}"
    )


def make_person(
    rng: random.Random,
    split: str,
    *,
    male: bool | None = None,
    born_between: tuple[int, int] = (1940, 2004),
    group: str | None = None,
    minority_share: float = 0.3,
) -> Person:
    """A person with a name, sex, birth date in the year range and a valid CCCD."""
    if male is None:
        male = rng.random() < 0.5
    if group is None:
        group = (
            rng.choice(["raglai", "coho", "ede", "cham"])
            if rng.random() < minority_share
            else "kinh"
        )
    year = rng.randint(*born_between)
    born = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
    province = "Khánh Hòa" if rng.random() < 0.7 else rng.choice(sorted(PROVINCE_CODES))
    if group == "cham":
        province = rng.choice(["Ninh Thuận", "Khánh Hòa", "Bình Thuận"])
    if group == "ede":
        province = rng.choice(["Đắk Lắk", "Khánh Hòa", "Phú Yên"])
    name = make_name(rng, male, group, split)
    return Person(name, male, born, make_cccd(rng, born, male, province), ETHNIC[group], province)


# --- dates ---------------------------------------------------------------------------------------

_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
MONTH_WORDS = [
    "",
    "một",
    "hai",
    "ba",
    "tư",
    "năm",
    "sáu",
    "bảy",
    "tám",
    "chín",
    "mười",
    "mười một",
    "mười hai",
]


def number_words(n: int) -> str:
    """Vietnamese words for 0 ≤ n < 10000, as birth dates are written out ("ghi bằng chữ")."""
    if n < 10:
        return _DIGITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        head = "mười" if tens == 1 else f"{_DIGITS[tens]} mươi"
        if unit == 0:
            return head
        if unit == 1 and tens > 1:
            return f"{head} mốt"
        if unit == 5:
            return f"{head} lăm"
        if unit == 4 and tens > 1:
            return f"{head} tư"
        return f"{head} {_DIGITS[unit]}"
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = f"{_DIGITS[hundreds]} trăm"
        if rest == 0:
            return head
        if rest < 10:
            return f"{head} lẻ {_DIGITS[rest]}"
        return f"{head} {number_words(rest)}"
    thousands, rest = divmod(n, 1000)
    head = f"{_DIGITS[thousands]} nghìn"
    if rest == 0:
        return head
    if rest < 100:
        return f"{head} không trăm {number_words(rest) if rest >= 10 else 'lẻ ' + _DIGITS[rest]}"
    return f"{head} {number_words(rest)}"


def date_in_words(d: dt.date) -> str:
    """ "Ngày mười lăm, tháng tư, năm hai nghìn không trăm mười hai" style."""
    day = number_words(d.day)
    if d.day <= 10:
        day = f"mồng {day}" if d.day < 10 else "mồng mười"
    return f"ngày {day}, tháng {MONTH_WORDS[d.month]}, năm {number_words(d.year)}"


def dmy(d: dt.date) -> str:
    """28/04/1985."""
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def long_date(d: dt.date, pad: bool = True) -> str:
    """ "ngày 05 tháng 01 năm 2022" (Nghị định 30: day below 10 and months 1-2 zero-padded)."""
    day = f"{d.day:02d}" if pad else str(d.day)
    month = f"{d.month:02d}" if pad and d.month <= 2 else str(d.month)
    return f"ngày {day} tháng {month} năm {d.year}"


# --- old-style tone placement --------------------------------------------------------------------

_TONES = "\u0300\u0301\u0303\u0309\u0323"


def old_style(text: str) -> str:
    """Move tones to the old place ("Hòa" → "Hoà", "Ủy" → "Uỷ", "thủy" → "thuỷ"); "Quý" stays."""
    d = unicodedata.normalize("NFD", text)
    out: list[str] = []
    i = 0
    while i < len(d):
        c = d[i]
        if (
            i + 2 < len(d)
            and d[i + 1] in _TONES
            and (c + d[i + 2]).lower() in ("oa", "oe", "uy")  # not "của", "lụa", "múa"
            and (i + 3 == len(d) or d[i + 3] in " \n,.;:)")
            and not (c in "uU" and i > 0 and d[i - 1] in "qQ")  # "Quý" keeps its tone
        ):
            out += [c, d[i + 2], d[i + 1]]
            i += 3
            continue
        out.append(c)
        i += 1
    return unicodedata.normalize("NFC", "".join(out))
