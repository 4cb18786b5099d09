"""A realistic sample result document, rendered as a 300-dpi A4 page image with exact ground truth.

The page follows the layout of Nghị định 30/2020 Phụ lục I (two-column header, bold title,
"Về việc" line, body, "Nơi nhận" and the signer block) for a commune People's Committee decision
granting a monthly social allowance. Names, numbers and dates vary with the seed and are
deterministic per seed; they are invented, never taken from the corpus. The demo, the tests and the
benchmarks use it as a page whose text and fields are known exactly.

Rules of this module:
- `text` lists the printed lines in logical reading order, one per `\\n`, as the corpus sidecars do:
  the header's left column first, then the right; "Nơi nhận" before the signer block.
- Vietnamese needs Noto Serif (Debian `fonts-noto-core`); Liberation lacks 39 Vietnamese glyphs.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from edge.errors import EdgeError

DPI = 300
PAGE_SIZE = (2480, 3508)  # A4 at 300 dpi
FONT_DIR = Path("/usr/share/fonts/truetype/noto")
FONT_FILES = {
    "regular": "NotoSerif-Regular.ttf",
    "bold": "NotoSerif-Bold.ttf",
    "italic": "NotoSerif-Italic.ttf",
    "bolditalic": "NotoSerif-BoldItalic.ttf",
}

# Margins of Nghị định 30/2020 Phụ lục I (left 30-35 mm, right 15-20 mm, top 20-25 mm), in pixels.
LEFT, RIGHT, TOP = 354, 2480 - 236, 236
LEFT_COLUMN_CENTRE = 745
RIGHT_COLUMN_CENTRE = 1680
INK = 25  # near-black toner on white paper

FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lương", "Tạ", "Châu",
)  # fmt: skip
MIDDLE_MALE = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Xuân", "Tiến", "Bá", "Đình")
MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Kim", "Mỹ", "Thanh", "Diệu", "Bích", "Thúy", "Khánh")
GIVEN_MALE = (
    "Khoa", "Lộc", "Tùng", "Vượng", "Khải", "Thuận", "Đạt", "Nghĩa", "Hiển", "Cường",
    "Toàn", "Quý", "Phát", "Lực", "Ước", "Sỹ", "Thiện", "Kỳ", "Mạnh", "Tường",
)  # fmt: skip
GIVEN_FEMALE = (
    "Nhàn", "Huệ", "Thoa", "Uyên", "Sương", "Ánh", "Xuyến", "Nguyệt", "Thắm", "Liễu",
    "Duyên", "Hằng", "Quyên", "Nhạn", "Trinh", "Hoài", "Yên", "Ngà", "Tuyết", "Loan",
)  # fmt: skip
COMMUNES = (
    "Diên Lạc", "Cam Hải Tây", "Ninh Xuân", "Khánh Bình", "Sơn Thái", "Vạn Lương",
    "Diên Phú", "Cam An Nam", "Ninh Phụng", "Suối Hiệp", "Khánh Đông", "Vạn Hưng",
)  # fmt: skip
HAMLETS = ("Phú Ân", "Tân Hưng", "Xuân Sơn", "Đồng Nhơn", "Hòa Trung", "Lương Hòa", "Bình Lộc")


@dataclass(frozen=True)
class _Grant:
    """One kind of monthly allowance a commune decides on, with what its decision prints."""

    about: str  # the "Về việc" line
    article: str  # the opening sentence of Điều 1
    target: str  # the "Đối tượng" line
    birth_years: tuple[int, int]
    coefficient: str
    monthly_vnd: int


GRANTS = (
    _Grant(
        about="Về việc trợ cấp xã hội hàng tháng đối với người cao tuổi",
        article="Trợ cấp xã hội hàng tháng đối với người cao tuổi, cụ thể như sau:",
        target="Người từ đủ 80 tuổi trở lên không có lương hưu, trợ cấp bảo hiểm xã hội "
        "hàng tháng, trợ cấp xã hội hàng tháng.",
        birth_years=(1928, 1943),
        coefficient="1,5",
        monthly_vnd=750_000,
    ),
    _Grant(
        about="Về việc trợ cấp xã hội hàng tháng và hỗ trợ kinh phí chăm sóc đối với "
        "người khuyết tật đặc biệt nặng",
        article="Trợ cấp xã hội hàng tháng đối với người khuyết tật, cụ thể như sau:",
        target="Người khuyết tật đặc biệt nặng theo Giấy xác nhận khuyết tật do Ủy ban nhân dân "
        "xã cấp.",
        birth_years=(1960, 2012),
        coefficient="2,0",
        monthly_vnd=1_000_000,
    ),
    _Grant(
        about="Về việc trợ cấp xã hội hàng tháng đối với người đơn thân nghèo đang nuôi con",
        article="Trợ cấp xã hội hàng tháng đối với người đơn thân nghèo đang nuôi con, cụ thể "
        "như sau:",
        target="Người đơn thân thuộc hộ nghèo đang nuôi con dưới 16 tuổi.",
        birth_years=(1975, 2000),
        coefficient="1,0",
        monthly_vnd=500_000,
    ),
)

RECIPIENTS = ("- Như Điều 3;", "- TT. Đảng ủy, TT. HĐND xã;", "- Lưu: VT, VHXH.")


@dataclass(frozen=True)
class SampleDocument:
    """A rendered sample page and its ground truth.

    Attributes:
        image: the page, 8-bit grey ("L"), A4 at 300 dpi (2480×3508 pixels).
        text: the printed lines, NFC, one per line, in logical reading order.
        fields: the true value of every field key of DESIGN.md (dates ISO, `None` when absent).
        text_alt: the same lines with the header and signature blocks read row by row across
            the columns (the corpus sidecars' `text_alt`); score OCR against the better of both.
    """

    image: Image.Image
    text: str
    fields: dict[str, str | None]
    text_alt: str = ""


@lru_cache(maxsize=32)
def _font(style: str, points: float) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / FONT_FILES[style]
    try:
        return ImageFont.truetype(str(path), size=round(points * DPI / 72))
    except OSError as e:
        raise EdgeError(
            f"font {path} is missing: run `apt-get install fonts-noto-core` "
            "(Noto Serif has the Vietnamese glyphs the sample document needs)"
        ) from e


@dataclass(frozen=True)
class _Run:
    """A piece of a paragraph in one font."""

    text: str
    style: str = "regular"
    points: float = 13


class _Page:
    """A page being drawn: keeps the drawing surface and the printed lines in reading order."""

    ROW_TOLERANCE = 25  # pixels between baselines of lines that sit on one row

    def __init__(self) -> None:
        self.image = Image.new("L", PAGE_SIZE, 255)
        self.draw = ImageDraw.Draw(self.image)
        self.lines: list[tuple[str, float, float]] = []  # text, baseline, left edge

    @property
    def text(self) -> str:
        """The printed lines in logical order (each column block whole, left first)."""
        return "\n".join(line for line, _, _ in self.lines)

    @property
    def text_by_rows(self) -> str:
        """The printed lines read row by row across columns, as Tesseract often reads them."""
        rows: list[list[tuple[str, float, float]]] = []
        for line in sorted(self.lines, key=lambda item: item[1]):
            if rows and line[1] - rows[-1][0][1] <= self.ROW_TOLERANCE:
                rows[-1].append(line)
            else:
                rows.append([line])
        return "\n".join(" ".join(t for t, _, _ in sorted(row, key=lambda i: i[2])) for row in rows)

    def centred(self, text: str, x: float, baseline: float, style: str, points: float) -> float:
        """Draw one line centred on `x`; return its width in pixels."""
        font = _font(style, points)
        self.draw.text((x, baseline), text, font=font, fill=INK, anchor="ms")
        width = font.getlength(text)
        self.lines.append((text, baseline, x - width / 2))
        return width

    def rule(self, x_centre: float, y: float, width: float) -> None:
        """Draw a thin horizontal rule, as under the issuer's name and the national motto."""
        self.draw.line([(x_centre - width / 2, y), (x_centre + width / 2, y)], fill=INK, width=3)

    def paragraph(
        self,
        runs: list[_Run],
        top: float,
        *,
        indent: float = 150,
        left: float = LEFT,
        right: float = RIGHT,
        centre: bool = False,
        pitch: float = 1.15,
    ) -> float:
        """Lay out `runs` as a wrapped paragraph below `top`; return the y just below it."""
        words = [(word, run.style, run.points) for run in runs for word in run.text.split()]
        size = max(run.points for run in runs) * DPI / 72
        lines: list[list[tuple[str, str, float]]] = [[]]
        x = left + (0 if centre else indent)
        for entry in words:
            space = _font("regular", entry[2]).getlength(" ")
            width = _font(entry[1], entry[2]).getlength(entry[0])
            if lines[-1] and x + width > right:
                lines.append([])
                x = left
            lines[-1].append(entry)
            x += width + space
        baseline = top + size
        for number, line in enumerate(lines):
            widths = [_font(s, p).getlength(w) for w, s, p in line]
            spaces = [_font("regular", p).getlength(" ") for _, _, p in line[1:]]
            total = sum(widths) + sum(spaces)
            x = (left + right - total) / 2 if centre else left + (indent if number == 0 else 0)
            self.lines.append((" ".join(w for w, _, _ in line), baseline, x))
            for i, (word, style, points) in enumerate(line):
                self.draw.text(
                    (x, baseline), word, font=_font(style, points), fill=INK, anchor="ls"
                )
                x += widths[i] + (spaces[i] if i < len(spaces) else 0)
            baseline += size * pitch
        return baseline - size * pitch + size * 0.45

    def signature(self, x: float, y: float, rng: random.Random) -> None:
        """Scribble a handwritten-looking signature (a few loops) centred on (x, y)."""
        points = []
        loops = rng.randint(3, 5)
        for step in range(120):
            t = step / 119
            points.append(
                (
                    x - 230 + 460 * t + 38 * _wave(t * loops * 2),
                    y + 55 * _wave(t * loops * 2 + 0.25) - 40 * t,
                )
            )
        self.draw.line(points, fill=40, width=5, joint="curve")


def _wave(turns: float) -> float:
    return math.sin(2 * math.pi * turns)


def _money(vnd: int) -> str:
    """Vietnamese thousands separator is the dot: 750.000."""
    return f"{vnd:,}".replace(",", ".")


def _person(rng: random.Random, female: bool) -> str:
    middle = MIDDLE_FEMALE if female else MIDDLE_MALE
    given = GIVEN_FEMALE if female else GIVEN_MALE
    parts = [rng.choice(FAMILY_NAMES), rng.choice(middle)]
    if rng.random() < 0.4:  # many names carry a second middle name
        parts.append(rng.choice(MIDDLE_FEMALE if female else ("Thanh", "Minh", "Hoàng", "Ngọc")))
    parts.append(rng.choice(given))
    return " ".join(dict.fromkeys(parts))  # no repeated word ("Thanh Thanh")


def _random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _cccd(rng: random.Random, born: date, female: bool) -> str:
    """Citizen ID: 056 (Khánh Hòa) + century-and-sex digit + two-digit year + 6 random digits."""
    century = 0 if born.year < 2000 else 2
    return f"056{century + int(female)}{born.year % 100:02d}{rng.randrange(10**6):06d}"


def _written_date(place: str, day: date) -> str:
    """The place–date line: days below 10 and months 1-2 zero-padded (Nghị định 30/2020)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


def render_sample_result(seed: int = 0) -> SampleDocument:
    """Render a commune People's Committee decision granting a monthly social allowance.

    Args:
        seed: selects names, numbers, dates and the kind of allowance; the same seed gives the
            same page, pixel for pixel.

    Returns:
        The page image (grey, 300 dpi A4), its printed text and the true fields.

    Raises:
        EdgeError: the Noto Serif fonts are not installed.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    commune = rng.choice(COMMUNES)
    grant = rng.choice(GRANTS)
    issued = _random_date(rng, date(2022, 1, 3), date(2024, 12, 27))
    number = f"{rng.randint(1, 480):02d}/QĐ-UBND"
    female = rng.random() < 0.55
    subject = _person(rng, female)
    born = _random_date(rng, date(grant.birth_years[0], 1, 1), date(grant.birth_years[1], 12, 31))
    cccd = _cccd(rng, born, female)
    cccd_issued = _random_date(rng, date(2021, 1, 4), issued - timedelta(days=30))
    hamlet = rng.choice(HAMLETS)
    deputy = rng.random() < 0.5
    signer = _person(rng, rng.random() < 0.3)
    start = date(issued.year + issued.month // 12, issued.month % 12 + 1, 1)

    page = _Page()
    issuer = f"XÃ {commune.upper()}"
    # Header, left column: the issuing body (two bold lines) and the document number.
    page.centred("ỦY BAN NHÂN DÂN", LEFT_COLUMN_CENTRE, TOP + 50, "bold", 13)
    page.centred(issuer, LEFT_COLUMN_CENTRE, TOP + 118, "bold", 13)
    page.rule(LEFT_COLUMN_CENTRE, TOP + 142, 230)
    page.centred(f"Số: {number}", LEFT_COLUMN_CENTRE, TOP + 230, "regular", 13)
    # Header, right column: national name, motto (underlined), place and date (italic).
    page.centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", RIGHT_COLUMN_CENTRE, TOP + 50, "bold", 12.5)
    motto = page.centred("Độc lập - Tự do - Hạnh phúc", RIGHT_COLUMN_CENTRE, TOP + 118, "bold", 13)
    page.rule(RIGHT_COLUMN_CENTRE, TOP + 142, motto)
    page.centred(_written_date(commune, issued), RIGHT_COLUMN_CENTRE, TOP + 230, "italic", 13)

    y: float = TOP + 300
    page.centred("QUYẾT ĐỊNH", (LEFT + RIGHT) / 2, y + 58, "bold", 14)
    y = page.paragraph([_Run(grant.about, "bold", 14)], y + 80, centre=True, left=LEFT + 80,
                       right=RIGHT - 80)  # fmt: skip
    page.rule((LEFT + RIGHT) / 2, y + 10, 420)
    y = page.paragraph(
        [_Run(f"CHỦ TỊCH ỦY BAN NHÂN DÂN {issuer}", "bold", 14)], y + 60, centre=True
    )

    bases = (
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
        "Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ quy định "
        "chính sách trợ giúp xã hội đối với đối tượng bảo trợ xã hội;",
        f"Xét đề nghị của công chức Văn hóa - Xã hội xã tại Tờ trình số {rng.randint(3, 90)}"
        f"/TTr-VHXH ngày {(issued - timedelta(days=rng.randint(3, 12))):%d/%m/%Y}.",
    )
    y += 30
    for basis in bases:
        y = page.paragraph([_Run(basis, "italic")], y + 8)
    y = page.paragraph([_Run("QUYẾT ĐỊNH:", "bold", 14)], y + 30, centre=True)
    y += 20
    y = page.paragraph([_Run("Điều 1.", "bold"), _Run(grant.article)], y)
    items = (
        f"- Họ và tên: {subject}; giới tính: {'Nữ' if female else 'Nam'}.",
        f"- Sinh ngày: {born:%d/%m/%Y}.",
        f"- Số định danh cá nhân: {cccd}; ngày cấp: {cccd_issued:%d/%m/%Y}.",
        f"- Nơi thường trú: Thôn {hamlet}, xã {commune}, tỉnh Khánh Hòa.",
        f"- Đối tượng: {grant.target}",
        f"- Hệ số trợ cấp: {grant.coefficient}; mức trợ cấp hàng tháng: "
        f"{_money(grant.monthly_vnd)} đồng.",
        f"- Thời điểm hưởng trợ cấp: kể từ tháng {start.month} năm {start.year}.",
    )
    for item in items:
        y = page.paragraph([_Run(item)], y + 4)
    y = page.paragraph(
        [
            _Run("Điều 2.", "bold"),
            _Run(
                "Giao công chức Văn hóa - Xã hội xã tổ chức chi trả trợ cấp cho đối tượng "
                "có tên tại Điều 1 theo quy định."
            ),
        ],
        y + 8,
    )
    y = page.paragraph(
        [
            _Run("Điều 3.", "bold"),
            _Run(
                "Quyết định này có hiệu lực kể từ ngày ký. Văn phòng HĐND và UBND xã, công chức "
                "Văn hóa - Xã hội, công chức Tài chính - Kế toán và "
                f"{'bà' if female else 'ông'} có tên tại Điều 1 chịu trách nhiệm thi hành "
                "Quyết định này./."
            ),
        ],
        y + 8,
    )

    # Signature area: "Nơi nhận" on the left, the signer block on the right.
    y += 40
    page.paragraph([_Run("Nơi nhận:", "bolditalic", 12)], y, indent=0, right=1100)
    block = y + 60
    for recipient in RECIPIENTS:
        block = page.paragraph([_Run(recipient, "regular", 11)], block, indent=0, right=1100)
    titles = ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH") if deputy else ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    page.centred(titles[0], RIGHT_COLUMN_CENTRE, y + 54, "bold", 13)
    page.centred(titles[1], RIGHT_COLUMN_CENTRE, y + 122, "bold", 13)
    page.signature(RIGHT_COLUMN_CENTRE, y + 255, rng)
    page.centred(signer, RIGHT_COLUMN_CENTRE, y + 410, "bold", 13)

    text = unicodedata.normalize("NFC", page.text)
    fields: dict[str, str | None] = {
        "so_ky_hieu": number,
        "ngay_ban_hanh": issued.isoformat(),
        "co_quan_ban_hanh": f"ỦY BAN NHÂN DÂN {issuer}",
        "loai_van_ban": "QUYẾT ĐỊNH",
        "trich_yeu": grant.about,
        "ho_ten": subject,
        "cccd": cccd,
        "ngay_sinh": born.isoformat(),
        "nguoi_ky": signer,
    }
    text_alt = unicodedata.normalize("NFC", page.text_by_rows)
    return SampleDocument(image=page.image, text=text, fields=fields, text_alt=text_alt)
