"""Text helpers for field extraction: lines, accent folding, OCR digit repair, approximate labels.

Rules of this module:
- Every transformation of a line keeps its length, one character for one (`fold`, `digit_view`),
  so a match found on a transformed copy cuts its value from the original text at the same place.
- Nothing here knows a template or a field: it is the vocabulary the extractors are written in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from edge.alphabet import vietnamese_letters

OCR_DIGITS = str.maketrans(
    {"O": "0", "o": "0", "Ø": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "!": "1",
     "í": "1", "S": "5", "Š": "5", "G": "6", "B": "8", "§": "8", "Z": "2", "g": "9"}
)  # fmt: skip
"""Letters OCR reads in place of digits; replaced only inside tokens that already hold digits."""
DATE_SLOT_DIGITS = str.maketrans(
    {**{chr(k): v for k, v in OCR_DIGITS.items()}, "T": "1", "Ì": "1", "Í": "1", "ì": "1"}
)
"""In a date's day or month slot ("ngày 0Š tháng TÌ năm"), where only a number can stand, also
a serif 1 read as T or Ì."""
# The day or month of a date written "ngày … tháng … năm", in folded text: a token of one or
# two characters between the words, however OCR read it.
_DATE_SLOT = re.compile(r"\b(?:ngay|thang)\s+(\S{1,2})(?=\s+(?:thang|nam)\b)")

# A token that is mostly a number: at least one digit, the rest digits, confusable letters or
# date/number separators. Confusables are repaired in such tokens only, never in words.
_NUMBERISH = re.compile(
    r"(?<![^\W\d_])[0-9OoØDQIl|!SGB§Zg/.\-]*\d[0-9OoØDQIl|!SGB§Zg/.\-]*(?![^\W\d_])"
)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    low = base.replace("Đ", "D").replace("đ", "d").lower()
    return low if len(low) == 1 else char  # keep positions aligned with the original


def fold(text: str) -> str:
    """Remove diacritics and case, one character for one: `fold("Số: 05")` is `"so: 05"`."""
    return "".join(_fold_char(c) for c in text)


def nfc_lines(text: str) -> list[str]:
    """The non-empty lines of `text`, NFC, each with its whitespace runs collapsed to one space,
    and a letter no Vietnamese text holds read as the one it stands for (`edge.alphabet`: "QĐÐ"
    has an eth for Đ, "Cïl" a speck above its i)."""
    normal = vietnamese_letters(unicodedata.normalize("NFC", text))
    return [" ".join(line.split()) for line in normal.splitlines() if line.strip()]


def digit_view(line: str) -> str:
    """`line` with letters OCR mistakes for digits ("O5/O7/2O22", "l9") turned into digits inside
    number-like tokens and in a date's day and month slots ("tháng TÌ năm"); same length as
    `line`."""

    def repair(m: re.Match[str]) -> str:
        token = m.group(0)
        digits = sum(c.isdigit() for c in token)
        # "S" and "B" are common letters: repair them only in tokens that are mostly digits.
        if digits < 2 and any(c in "SGBZg" for c in token):
            return token
        return token.translate(OCR_DIGITS)

    view = _NUMBERISH.sub(repair, line)
    for m in _DATE_SLOT.finditer(fold(view)):
        slot = view[m.start(1) : m.end(1)].translate(DATE_SLOT_DIGITS)
        if slot.isdigit():
            view = view[: m.start(1)] + slot + view[m.end(1) :]
    return view


def label_pattern(labels: Iterable[str]) -> str:
    """A regex alternative matching any of `labels` in folded text, tolerant of spacing and of
    specks OCR reads between words ("Tự|do"); longest first."""
    alternatives = []
    for label in sorted(set(labels), key=len, reverse=True):
        words = [re.escape(w) for w in fold(label).replace(",", " , ").split()]
        alternatives.append(r"\W*".join(words))
    return "(?:" + "|".join(alternatives) + ")"


@lru_cache(maxsize=8192)
def squeeze(text: str) -> str:
    """Folded text with everything but letters and digits removed, for approximate comparison."""
    return "".join(c for c in fold(text) if c.isalnum())


def best_match(text: str, choices: Sequence[str], floor: float = 0.0) -> tuple[str | None, float]:
    """The choice most similar to `text` and the similarity; (None, 0.0) without a choice at
    least `floor` similar (choices whose length alone rules them out are skipped)."""
    best, score = None, max(0.0, floor - 1e-9)
    x = squeeze(text)
    if not x:
        return None, 0.0
    for choice in choices:
        y = squeeze(choice)
        if not y or 2 * min(len(x), len(y)) / (len(x) + len(y)) <= score:
            continue
        matcher = SequenceMatcher(None, x, y, autojunk=False)
        if matcher.real_quick_ratio() <= score or matcher.quick_ratio() <= score:
            continue
        ratio = matcher.ratio()
        if ratio > score:
            best, score = choice, ratio
    return best, score


_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"
_OLD_TONE = re.compile(rf"([oOuU])([aAeEyY])([{_TONE_MARKS}])(?=\W|$)")


def tone_marks(text: str) -> int:
    """How many tone marks (grave, acute, tilde, hook, dot below) `text` carries: a syllable
    bears one at most."""
    return sum(c in _TONE_MARKS for c in unicodedata.normalize("NFD", text))


def tones(text: str) -> str:
    """The tone marks `text` carries, in order, as combining characters ("" for none): "Bằ"
    and "Bà" both carry a grave, whatever the breve."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if c in _TONE_MARKS)


def read_as(printed: str, words: Iterable[str]) -> list[str]:
    """The entries of `words` that `printed` may be: the same letters folded, and the same tone
    marks unless OCR dropped them all (a word read without marks may be any of them). Another
    tone makes another word ("bá", "Hỗ" are no "bà", "Họ"); a stray vowel mark does not ("Bằ").
    """
    same = [w for w in words if fold(w) == fold(printed)]
    return same if printed.isascii() else [w for w in same if tones(w) == tones(printed)]


def modern_tones(text: str) -> str:
    """Old-style tone placement ("Hoà", "Uỷ", "thuỷ") moved to the modern place ("Hòa", "Ủy",
    "thủy"), for comparing only: both are correct, and a value keeps the spelling printed.
    "Quý" keeps its tone (the "u" of "qu" is no vowel)."""
    d = unicodedata.normalize("NFD", text)

    def swap(m: re.Match[str]) -> str:
        if m.group(1) in "uU" and m.start() > 0 and d[m.start() - 1] in "qQ":
            return m.group(0)
        return m.group(1) + m.group(3) + m.group(2)

    return unicodedata.normalize("NFC", _OLD_TONE.sub(swap, d))


# A syllable of Kinh Vietnamese, accent-folded: initial consonant, vowels, final consonant. Words
# of other shapes ("Katơr", "Hđơk", "Kdăm") are names of other peoples, never respelled.
_KINH = re.compile(
    r"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
    r"[aeiouy]{1,3}(?:ng|nh|ch|[cmnpt])?$"
)


def kinh_syllable(word: str) -> bool:
    """Whether `word` has the shape of a Kinh Vietnamese syllable ("Nguyễn", "Quốc": yes;
    "Katơr", "Hđơk", "K'Brơi": no)."""
    return bool(_KINH.match(fold(word)))


def is_caps(text: str) -> bool:
    """Upper-case text (a header or title line), tolerant of one OCR slip in case."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and sum(c.isupper() for c in letters) >= 0.9 * len(letters)
