"""People's names and place names as OCR hands them over: cut from their line, freed of forms of
address and ranks, and checked against the page's other occurrences and the family-name table.

Rules of this module:
- A name printed in capitals is returned title-cased ("NGUYỄN VĂN A" -> "Nguyễn Văn A").
- Names of every people are names: two-word family names, syllables no Kinh word has ("Katơr",
  "Hđơk", "K'Brơi") are read as printed and never respelled towards a Kinh name.
- Old-style tone placement ("Hoà", "Thuỷ") is the same name as the modern one for matching; the
  value keeps the spelling printed.
- A spelling is changed only on evidence: the same words spelled differently more often elsewhere
  on the page, or a family name whose accent-folded form belongs to one table entry only. Every
  change is reported by the caller as an OCR repair.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from edge.fields.page import Page
from edge.fields.tables import Tables
from edge.fields.text import fold, kinh_syllable, modern_tones

MIN_WORDS, MAX_WORDS = 2, 7


QUOTE_SPECKS = "“”\"‘’'`"
"""Marks OCR reads from specks at a name word's ends ("Kiều “Tiến", "Thúy'"); an apostrophe
inside a word stays ("K'Brơi")."""


def _ell_read_as_i(word: str) -> str:
    """`word` with an "l" read as a capital "I" right after its capital mended ("MIô" for "Mlô",
    "KIơ" for "Klơ"): in a title-cased name word no capital follows another ("MINH", in
    capitals, is left alone)."""
    if len(word) > 2 and word[0].isupper() and word[1] == "I" and word[2:].islower():
        return word[0] + "l" + word[2:]
    return word


def _parted_words(text: str) -> str:
    """`text` with two words OCR ran together ("KimHiền": a small letter, then a capital) or
    joined with a speck read as a hyphen ("Bảo-Lực", two Kinh syllables) parted again."""
    parted = "".join(
        f" {c}" if k and c.isupper() and text[k - 1].islower() else c for k, c in enumerate(text)
    )
    return _HYPHENED.sub(
        lambda m: f"{m[1]} {m[2]}" if _capitalised_syllables(m[1], m[2]) else m[0],
        parted,
    )


# Two words joined by a hyphen ("Bảo-Lực").
_HYPHENED = re.compile(r"\b([^\W\d_]+)-([^\W\d_]+)\b")


def _capitalised_syllables(*words: str) -> bool:
    return all(w[:1].isupper() and kinh_syllable(w) for w in words)


_INNER_SPECKS = str.maketrans("", "", "¡¦|!")
"""Marks OCR reads inside a name's word for a speck ("C¡il Thị Giàu"): no letter of a name."""


def person_name(candidate: str, tables: Tables, *, address: bool = True) -> str | None:
    """The person's name in `candidate` as printed (capitals kept), else None.

    Args:
        candidate: the text after a name label, or a signer's line.
        tables: honorifics to drop.
        address: whether a form of address may precede the name ("Bà Lê Thị A"); a signer's
            line has none, so its "Ông" is the family name ("Ông Hồng Nhàn").

    Returns:
        The name's words joined by one space: the capitalised words at the start, up to the
        first other word or the end of a sentence; None when they are not 2-7.
    """
    cut = candidate
    for stop in (";", ",", "(", "|"):
        cut = cut.split(stop, 1)[0]
    words = []
    pieces = [
        _ell_read_as_i(raw.strip(QUOTE_SPECKS).translate(_INNER_SPECKS))
        for raw in _parted_words(cut).strip(" .:;-_").split()
    ]
    for n, raw in enumerate(pieces):  # OCR reads ink specks as quotes: "Kiều “Tiến Tâm"
        if raw.strip("."):
            words.append(raw.strip("."))
        after = pieces[n + 1] if n + 1 < len(pieces) else ""
        if raw.endswith(".") and not (raw.isupper() and after.isupper()):
            # A sentence ends ("bà Mai Diệu Trinh. sinh ngày": a comma read as "."); inside a
            # name printed in capitals ("CIL. THỊ BÉ") the stop is a speck.
            break
    if address and words and words[0] in tables.honorifics and len(words) > 2:
        words = words[1:]
    words = _lone_capitals_first(words, tables)
    if words and words[0].isupper() and (len(words[0]) > 1 or all(w.isupper() for w in words[1:2])):
        # A name printed in capitals ends where the capitals end ("NGUYỄN VĂN A Giới tính").
        end = next((i for i, w in enumerate(words) if not w.isupper()), len(words))
        words = words[:end]
    # The name ends where its capitalised words end ("Nguyễn Văn An sinh năm 1990").
    words = words[: next((i for i, w in enumerate(words) if not _name_word(w)), len(words))]
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    if _organisation(" ".join(words)):
        return None  # "HỘ KINH DOANH KARAOKE …", "CÔNG TY …": a business, not a person
    return " ".join(words)


def _lone_capitals_first(words: list[str], tables: Tables) -> list[str]:
    """`words` with a first word in capitals title-cased when the next two words of the name are
    not ("VÕ Tiến Thanh Triều"): a name printed in capitals is all in capitals, and OCR took the
    first word's marks for a capital's. A form of address stays as printed ("ÔNG Trần Văn A")."""
    if (
        len(words) >= 3
        and len(words[0]) > 1
        and words[0].isupper()
        and words[0].title() not in tables.honorifics
        and all(_name_word(w) and w[1:].islower() for w in words[1:3])
    ):
        return [words[0].title(), *words[1:]]
    return words


def _organisation(text: str) -> bool:
    """Whether `text` starts like the name of a business or a body ("HỘ KINH DOANH …", "CÔNG
    TY …", "CỬA HÀNG …"): as printed, with its marks ("Trương" is a family name, "trường" a
    school), or with the marks lost when no name could start so ("HO KINH DOANH")."""
    printed = unicodedata.normalize("NFC", text).casefold()
    return bool(_ORGANISATION.match(printed) or _ORGANISATION_UNMARKED.match(fold(text)))


_ORGANISATION = re.compile(
    r"^(?:hộ kinh doanh|công ty|hợp tác xã|tổ hợp tác|doanh nghiệp|cơ sở|cửa hàng|chi nhánh|"
    r"nhà hàng|khách sạn|trường|đại lý)\b"
)
_ORGANISATION_UNMARKED = re.compile(r"^(?:ho kinh doanh|cong ty|hop tac xa|doanh nghiep)\b")


def _name_word(word: str) -> bool:
    """A word of a name: letters, maybe an apostrophe or hyphen inside ("K'Brơi", "H'Hen"),
    starting with a capital."""
    letters = word.replace("'", "").replace("’", "").replace("-", "")
    return bool(letters) and letters.isalpha() and word[0].isupper()


def respell(value: str, page: Page) -> str:
    """`value` as the page spells it most often (accent- and case-insensitively the same words).
    On a tie, `value` keeps its own spelling unless it is printed in capitals: OCR loses the
    stacked marks of capitals ("NGHĨA" -> "NGHIA") more often than those of small letters.
    Capitals in `value` are kept as capitals."""
    printed = page.occurrences(value)
    counts: Counter[str] = Counter()
    confirmed: set[str] = set()  # spellings also printed in small letters
    for text, n in printed.items():
        counts[text.casefold()] += n
        if not text.isupper():
            confirmed.add(text.casefold())
    own = counts.get(value.casefold(), 0)
    others = [(c, s) for s, c in counts.items() if s != value.casefold()]
    if not others:
        return value
    count, spelling = max(others)
    if count < own:
        return value
    if count == own and (not value.isupper() or value.casefold() in confirmed):
        return value
    if value.isupper():
        return spelling.upper()
    return " ".join(
        s.capitalize() if v[:1].isupper() else s
        for s, v in zip(spelling.split(), value.split(), strict=False)
    )


_FOREIGN = re.compile(r"[fjwzFJWZ]")
"""Letters the Vietnamese alphabet does not have."""


def fix_surname(name: str, tables: Tables) -> str:
    """`name` with its family name spelled as the table spells it, when OCR changed its tone
    marks ("Nguyên Văn A" -> "Nguyễn Văn A", "Đăng" -> "Đặng": of the family names that fold
    alike, the most common, as family names are far from evenly spread), or changed one letter
    ("Nguyễm") and one family name is that close. A family name read as one is kept ("Đàng")."""
    words = name.split()
    if not words:
        return name
    first = words[0]
    spellings = tables.surname_spellings
    if modern_tones(first).casefold() in {s.casefold() for s in spellings}:
        return name
    if not kinh_syllable(first):
        mended = _one_letter_away(first, spellings) if _FOREIGN.search(first) else None
        if mended is None or not kinh_syllable(mended):
            return name  # a family name of another people ("Katơr"), not a slip
        # A letter Vietnamese does not write, a letter from a Kinh family name: a slip ("Frần",
        # "Mfa" for "Trần", "Ma"). Names of other peoples with J or W ("Y Jut") start with "Y".
        words[0] = mended.upper() if first.isupper() else mended
        return " ".join(words)
    given = {g.casefold() for g in tables.given_names}
    if len(words) > 1 and modern_tones(words[1]).casefold() not in given:
        return name  # "Tà Lang Thị Nhơn": a two-word family name of another people
    spelling = tables.surnames.get(fold(first))
    if spelling is None and fold(first) not in tables.surnames and len(first) >= 4:
        # Short words have too many neighbours ("Pi", a Raglai family name, is one letter from
        # "Vi"): only a long one is a slip.
        spelling = _one_letter_away(first, spellings)
    if spelling is None:
        return name
    words[0] = spelling.upper() if first.isupper() else spelling
    return " ".join(words)


_DOUBLED_I = re.compile(r"([iìíỉĩịIÌÍỈĨỊ])([iìíỉĩịIÌÍỈĨỊ])")


def _i_read_once(name: str) -> str:
    """`name` with an "i" read twice read once ("Biia", "Sỉin", "Điĩng"): no people's spelling
    doubles it. The unmarked reading is kept, the mark being the speck; else the second."""
    return _DOUBLED_I.sub(lambda m: m[1] if fold(m[1]) == m[1].lower() else m[2], name)


def fix_given_names(name: str, tables: Tables) -> str:
    """`name` with an "i" read twice read once, and each word after the family name that is no
    name at all respelled as the table's nearest name: the most common one with the same
    letters ("Quoc" -> "Quốc", "Tháng" -> "Thắng"), else the only one a letter away ("Quốt" ->
    "Quốc"). Real names are kept."""
    name = _i_read_once(unicodedata.normalize("NFC", name))
    words = name.split()
    if not words or fold(words[0]) not in tables.surnames:
        return name  # no Kinh family name: a name of another people, read as printed
    # A family name may stand among the given names ("Trần Lê Minh"), but not one that folds
    # like another family name: "Trình" there is far likelier "Trinh" with a mark misread.
    folds = Counter(fold(s) for s in tables.surname_spellings)
    known = {s.casefold() for s in tables.given_names} | {
        s.casefold() for s in tables.surname_spellings if folds[fold(s)] == 1
    }
    for i, word in enumerate(words[1:], start=1):
        if modern_tones(word).casefold() in known or not kinh_syllable(word):
            continue
        spelling = next((g for g in tables.given_names if fold(g) == fold(word)), None)
        if spelling is None:
            spelling = _one_letter_away(word, tables.given_names)
        if spelling is not None:
            words[i] = spelling.upper() if word.isupper() else spelling
    return " ".join(words)


def _one_letter_away(word: str, names: Sequence[str]) -> str | None:
    """The only one of `names` one letter (changed, added or dropped) from `word`, else None."""
    low = word.casefold()
    close = {n for n in names if _one_edit(low, n.casefold())}
    return close.pop() if len(close) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def title_case(name: str) -> str:
    """A name printed in capitals, title-cased; other names unchanged."""
    return name.title() if name.isupper() else name
