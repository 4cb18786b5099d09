"""Thin field extraction from a result's page text (ground truth or OCR), line by line.

The fields are the keys of DESIGN.md, following the conventions of the corpus README: the number
after "Số:", the ISO date of the place–date line (or of a registration date), the issuing body (its
bold header line(s) without the parent line above), the bold title, the "Về việc" line(s), the
*subject's* name, citizen ID and date of birth (never the requester's or the signer's), and the
signer's name. It works on either reading order of the two-column header (left column first, or row
by row as Tesseract often reads it).

Rules of this module:
- Labels and keywords live in the tables below, written in Vietnamese as printed; matching happens
  on a folded copy of each line (diacritics removed, lower case, đ→d) that keeps every character's
  position, so OCR slips in tone marks ("CHU TỊCH", "Sô:") still match while values are cut from
  the original text.
- Values are validated: dates must exist on the calendar, a CCCD has 12 digits and a province code;
  an invalid value is `None` rather than a guess.
- Later issues replace this with templates as data and per-field confidences.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

log = logging.getLogger(__name__)

FIELD_KEYS: tuple[str, ...] = (
    "so_ky_hieu",
    "ngay_ban_hanh",
    "co_quan_ban_hanh",
    "loai_van_ban",
    "trich_yeu",
    "ho_ten",
    "cccd",
    "ngay_sinh",
    "nguoi_ky",
)
"""The field keys of DESIGN.md, in the order they are written."""

# --- tables: what the documents print (Nghị định 30/2020 layout and the civil-status forms) ------

NATIONAL_HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
"""The right column of every header; removed from header lines read row by row."""

NUMBER_LABELS = ("Số",)
"""The label before the document number and symbol, "Số: 05/QĐ-UBND"."""

BARE_BODY_NAMES = ("ỦY BAN NHÂN DÂN", "HỘI ĐỒNG NHÂN DÂN", "UBND", "HĐND")
"""Header first lines that are the start of the issuer's name (its place follows on the next
line), not a parent body: "ỦY BAN NHÂN DÂN / XÃ VẠN THẮNG" is one issuer."""

ABOUT_PREFIXES = ("Về việc", "V/v")
"""How the "trích yếu" line starts under the title."""

BODY_STARTS = ("Căn cứ", "Xét", "Theo", "Kính gửi", "Điều", "Họ", "Ngày")
"""Line starts that end a wrapped "Về việc" line."""

SUBJECT_NAME_LABELS = ("Họ và tên", "Họ, chữ đệm, tên", "Họ, chữ đệm và tên", "Họ tên")
"""Labels of the subject's name, followed directly by ":". A label with more words before the
colon ("Họ, chữ đệm, tên người đi khai tử:") names someone else and does not match."""

FIELD_LABELS_AFTER_NAME = (
    "Giới tính",
    "Sinh ngày",
    "Ngày sinh",
    "Năm sinh",
    "Dân tộc",
    "Quốc tịch",
)
"""Labels that may follow the name on the same line; the name ends before them."""

HONORIFICS = ("Ông", "Bà", "Anh", "Chị", "Cháu", "Em")
"""Forms of address that may precede a name; not part of it."""

BIRTH_DATE_LABELS = ("Sinh ngày", "Ngày sinh", "Ngày, tháng, năm sinh", "Ngày tháng năm sinh")
"""Labels of the subject's date of birth."""

ID_LABELS = (
    "Số định danh cá nhân",
    "Căn cước công dân số",
    "Căn cước số",
    "Số căn cước",
    "Số CCCD",
    "CCCD",
    "Số giấy tờ pháp lý của cá nhân",
)
"""Labels of a personal identification number (12-digit CCCD)."""

REGISTRATION_DATE_LABELS = ("Đăng ký lần đầu", "Ngày, tháng, năm đăng ký", "Ngày đăng ký")
"""Dates that stand for the issue date on forms without a place–date line."""

SIGNER_ROLES = (
    "TM.",
    "KT.",
    "TL.",
    "TUQ.",
    "Q.",
    "CHỦ TỊCH",
    "PHÓ CHỦ TỊCH",
    "TRƯỞNG PHÒNG",
    "PHÓ TRƯỞNG PHÒNG",
    "GIÁM ĐỐC",
    "PHÓ GIÁM ĐỐC",
    "CHÁNH VĂN PHÒNG",
    "NGƯỜI KÝ",
    "CÔNG CHỨC",
    "CÁN BỘ",
)
"""Upper-case words of the signer's title block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH")."""

RANKS = (
    "Đại tướng",
    "Thượng tướng",
    "Trung tướng",
    "Thiếu tướng",
    "Đại tá",
    "Thượng tá",
    "Trung tá",
    "Thiếu tá",
    "Đại úy",
    "Thượng úy",
    "Trung úy",
    "Thiếu úy",
)
"""Military and police ranks printed before a signer's name; not part of the name."""

CCCD_PROVINCES = range(1, 97)
"""Province codes of citizen IDs (001 Hà Nội … 096 Cà Mau)."""

HEADER_LINES = 10  # the header is within the first lines, in either reading order
TITLE_WINDOW = 3  # the title follows the header within this many lines
SIGNER_WINDOW = 5  # the signer's name follows the title block within this many lines
MAX_TITLE_WORDS = 6  # "KT. CHỦ TỊCH", not "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ …" (the authority line)


# --- folding: match on a same-length copy without diacritics -------------------------------------


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    low = base.replace("Đ", "D").replace("đ", "d").lower()
    return low if len(low) == 1 else char  # keep positions aligned with the original


def fold(text: str) -> str:
    """Remove diacritics and case, one character for one: `fold("Số: 05")` is `"so: 05"`."""
    return "".join(_fold_char(c) for c in text)


def _label_pattern(labels: Sequence[str]) -> str:
    """A regex alternative matching any of `labels` in folded text, tolerant of spacing and of
    specks OCR reads between words ("Tự|do")."""
    alternatives = []
    for label in sorted(labels, key=len, reverse=True):
        words = [re.escape(w) for w in fold(label).replace(",", " , ").split()]
        alternatives.append(r"\W*".join(words))
    return "(?:" + "|".join(alternatives) + ")"


# Folded "05 tháng 01 năm 2022"; "tháng" and "năm" loosely, as OCR garbles them ("nãnh").
_WORD_DATE = r"(\d{1,2})\s*th\w{2,3}\s*(\d{1,2})\s*n\w{2,3}\s*(\d{4})"
_NUMERIC_DATE = r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})"
_DATE = rf"(?:(?:ngay\s*)?{_WORD_DATE}|{_NUMERIC_DATE})"

_NATIONAL = [re.compile(_label_pattern([part])) for part in NATIONAL_HEADER]
_NUMBER = re.compile(rf"(?<![^\W\d_]){_label_pattern(NUMBER_LABELS)}\s*[:;]\s*(\d+\s*/\s*[^\s,;]+)")
_PLACE_DATE = re.compile(rf"[^\W\d_]\s*,\s*ngay\s*{_WORD_DATE}")
_REGISTRATION = re.compile(rf"{_label_pattern(REGISTRATION_DATE_LABELS)}\s*:?\s*{_DATE}")
_BARE_BODY = re.compile(rf"^{_label_pattern(BARE_BODY_NAMES)}$")
_ABOUT = re.compile(rf"^{_label_pattern(ABOUT_PREFIXES)}\b")
_BODY_START = re.compile(rf"^[-–•+\s]*{_label_pattern(BODY_STARTS)}\b")
_SUBJECT = re.compile(rf"^[-–•+*\s]*{_label_pattern(SUBJECT_NAME_LABELS)}\s*[:;]\s*")
_AFTER_NAME = re.compile(rf"[;,(]|\s{_label_pattern(FIELD_LABELS_AFTER_NAME)}\b")
_BIRTH = re.compile(rf"{_label_pattern(BIRTH_DATE_LABELS)}\s*[:;]?\s*{_DATE}")
_ID_LABEL = re.compile(_label_pattern(ID_LABELS))
_TWELVE_DIGITS = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_ROLE = re.compile(rf"(?:^|\s){_label_pattern(SIGNER_ROLES)}")  # on folded text, then caps check
_RANK = re.compile(rf"^{_label_pattern(RANKS)}\s+")


# --- small helpers ------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    normal = unicodedata.normalize("NFC", text)
    return [" ".join(line.split()) for line in normal.splitlines() if line.strip()]


def _is_caps(text: str) -> bool:
    """Upper-case line (a header or title line), tolerant of one OCR slip in case."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and sum(c.isupper() for c in letters) >= 0.9 * len(letters)


def _date(groups: Sequence[str | None]) -> str | None:
    """ISO date from a match of `_DATE`/`_WORD_DATE` (day, month, year groups); None if invalid."""
    numbers = [int(g) for g in groups if g is not None]
    if len(numbers) != 3:
        return None
    day, month, year = numbers
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return value.isoformat() if 1880 <= year <= 2100 else None


def _name(candidate: str) -> str | None:
    """The person's name in `candidate` (title-cased when printed in capitals), else None."""
    words = candidate.strip(" .:;-").split()
    if words and words[0] in HONORIFICS and len(words) > 2:
        words = words[1:]
    if words and words[0].isupper():
        # A name printed in capitals ends where the capitals end ("NGUYỄN VĂN A Giới tính").
        end = next((i for i, w in enumerate(words) if not w.isupper()), len(words))
        words = words[:end]
    if not 2 <= len(words) <= 7:
        return None
    if not all(w.isalpha() and w[0].isupper() for w in words):
        return None
    name = " ".join(words)
    return name.title() if name.isupper() else name


# --- the fields ---------------------------------------------------------------------------------


def _header_end(folded: list[str]) -> int:
    """Index of the last header line (national header, number or place–date), -1 if none."""
    marked = [
        i
        for i, line in enumerate(folded[:HEADER_LINES])
        if any(p.search(line) for p in _NATIONAL) or _NUMBER.search(line)
    ]
    if not marked:
        return -1
    end = marked[-1]
    # The place–date line closes the right column, just below the motto.
    for i in range(end + 1, min(end + 3, len(folded))):
        if _PLACE_DATE.search(folded[i]):
            end = i
    return end


def _role_at(line: str, low: str) -> int:
    """Start of a signer title ("KT. CHỦ TỊCH") at the end of `line`, or -1."""
    m = _ROLE.search(low)
    if m is None:
        return -1
    rest = line[m.start() :]
    return m.start() if len(rest.split()) <= MAX_TITLE_WORDS and _is_caps(rest) else -1


def _issuer(lines: list[str], folded: list[str], end: int) -> str | None:
    parts: list[str] = []
    for line, low in zip(lines[: end + 1], folded[: end + 1], strict=True):
        keep = [True] * len(line)
        for pattern in (*_NATIONAL, _NUMBER):
            for m in pattern.finditer(low):
                keep[m.start() : m.end()] = [False] * (m.end() - m.start())
        rest = " ".join("".join(c if k else " " for c, k in zip(line, keep, strict=True)).split())
        # What is left of a header line is the issuer, unless it is the place–date text.
        if rest and _is_caps(rest) and not _PLACE_DATE.search(fold(rest)):
            parts.append(rest)
    if not parts:
        return None
    if len(parts) > 1 and not _BARE_BODY.match(fold(parts[0])):
        parts = parts[1:]  # the first line is the parent body ("UBND HUYỆN …")
    return " ".join(parts)


def _title(lines: list[str], start: int) -> tuple[str | None, int]:
    """The bold title after the header and the index of its last line."""
    for i in range(start, min(start + TITLE_WINDOW, len(lines))):
        if _is_caps(lines[i]) and ":" not in lines[i]:
            title, last = lines[i], i
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if (
                _is_caps(following)
                and ":" not in following
                and _role_at(following, fold(following)) < 0
            ):
                title, last = f"{title} {following}", i + 1  # a title wrapped on two lines
            return title, last
    return None, start - 1


def _about(lines: list[str], folded: list[str], after: int) -> str | None:
    for i in range(after + 1, min(after + 3, len(lines))):
        if _ABOUT.match(folded[i]) and lines[i][0].isupper():
            parts = [lines[i]]
            for j in range(i + 1, min(i + 3, len(lines))):
                if _is_caps(lines[j]) or _BODY_START.match(folded[j]):
                    break
                parts.append(lines[j])
            return " ".join(parts)
    return None


def _subject(lines: list[str], folded: list[str]) -> tuple[str | None, int]:
    """The subject's name and its line index (0 when there is no name label)."""
    for i, low in enumerate(folded):
        m = _SUBJECT.match(low)
        if m is None:
            continue
        value = low[m.end() :]
        cut = _AFTER_NAME.search(value)
        stop = m.end() + (cut.start() if cut else len(value))
        name = _name(lines[i][m.end() : stop])
        if name is not None:
            return name, i
    return None, 0


def _birth_date(folded: list[str], start: int) -> str | None:
    for low in folded[start:] + folded[:start]:
        m = _BIRTH.search(low)
        if m and (value := _date(m.groups())):
            return value
    return None


def _cccd(folded: list[str], start: int) -> str | None:
    """The first valid 12-digit ID from the subject's line on, preferring labelled ones."""
    ordered = folded[start:] + folded[:start]
    for labelled in (True, False):
        for low in ordered:
            if labelled and not _ID_LABEL.search(low):
                continue
            for m in _TWELVE_DIGITS.finditer(low):
                if int(m.group(1)[:3]) in CCCD_PROVINCES:
                    return m.group(1)
    return None


def _issue_date(folded: list[str], header_end: int) -> str | None:
    header = folded[: header_end + 1]
    signature = folded[-12:]
    for region in (header, signature):
        for low in region:
            m = _PLACE_DATE.search(low)
            if m and (value := _date(m.groups())):
                return value
    for low in folded:
        m = _REGISTRATION.search(low)
        if m and (value := _date(m.groups())):
            return value
    return None


def _signer(lines: list[str], folded: list[str]) -> str | None:
    """The name under the last title block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH / name")."""
    titles = [i for i, line in enumerate(lines) if _role_at(line, folded[i]) >= 0]
    if not titles:
        return None
    window = range(titles[-1] + 1, min(titles[-1] + 1 + SIGNER_WINDOW, len(lines)))
    for i in window:
        line = lines[i]
        if line.startswith(("-", "(", "+")):
            continue  # a recipient of "Nơi nhận" read on the same row, or "(Ký, ghi rõ họ tên)"
        rank = _RANK.match(folded[i])
        if rank:
            line = line[rank.end() :]
        name = _name(line)
        if name is not None:
            return name
    return None


def extract_fields(text: str) -> dict[str, str | None]:
    """Read the fields of DESIGN.md from one page's text.

    Args:
        text: the page text, one printed line per line (OCR output or ground truth); NFC is
            applied here.

    Returns:
        Every key of `FIELD_KEYS`, each a string (dates ISO `YYYY-MM-DD`) or None when the page
        does not show it or the value found is invalid.
    """
    lines = _lines(text)
    folded = [fold(line) for line in lines]
    end = _header_end(folded)
    fields: dict[str, str | None] = dict.fromkeys(FIELD_KEYS)
    if end >= 0:
        header = folded[: end + 1]
        number = next((m for low in header if (m := _NUMBER.search(low))), None)
        if number is not None:
            row = header.index(number.string)
            span = number.span(1)
            fields["so_ky_hieu"] = "".join(lines[row][span[0] : span[1]].split()).rstrip(".")
        fields["co_quan_ban_hanh"] = _issuer(lines, folded, end)
        title, title_end = _title(lines, end + 1)
        fields["loai_van_ban"] = title
        if title is not None:
            fields["trich_yeu"] = _about(lines, folded, title_end)
    fields["ngay_ban_hanh"] = _issue_date(folded, end)
    name, row = _subject(lines, folded)
    fields["ho_ten"] = name
    fields["ngay_sinh"] = _birth_date(folded, row)
    fields["cccd"] = _cccd(folded, row)
    fields["nguoi_ky"] = _signer(lines, folded)
    log.debug("fields found: %s", sorted(k for k, v in fields.items() if v is not None))
    return fields
