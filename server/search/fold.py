"""Vietnamese text in the three forms the search compares, computed once in Python.

- `fold`: no marks at all, đ → d, lower case ("Nguyễn Thị Hưởng" → "nguyen thi huong"): what
  matches. Tone and letter marks are both dropped, so a query typed without them finds
  everything; đ is a letter of its own (no decomposition gives d + a mark), so it is mapped
  by hand.
- `tone_form`: letters folded (â, ă, ơ, ư, ê, ô → a, a, o, u, e, o; đ → d) but the five tone
  marks kept ("Hưởng" → "huỏng", "Hương" → "huong"): it ranks a query typed without letter
  marks towards the names whose tone it did type (`Huong` finds Hương before Hưởng).
- `exact_form`: NFC, lower case, every mark kept: ranks a query typed with its marks first.

`words` splits one of these forms into the tokens the index stores (runs of letters and digits).
"""

from __future__ import annotations

import re
import unicodedata

_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
"""Combining grave, acute, tilde, hook above, dot below: the tones huyền, sắc, ngã, hỏi, nặng."""
_D = str.maketrans({"đ": "d", "Đ": "d"})
_WORD = re.compile(r"[^\W_]+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _slow_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _slow_tone_form(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) or c in _TONE_MARKS)
    return unicodedata.normalize("NFC", kept).lower()


# Indexing a million results folds a few hundred million characters: per-character tables
# (str.translate runs in C) over NFC text give the same result as the decompositions above.
_LATIN = [chr(c) for c in range(0x00C0, 0x1F00)]
_FOLD = str.maketrans({c: f for c in _LATIN if (f := _slow_fold(c)) != c.lower()})
_TONE = str.maketrans({c: f for c in _LATIN if (f := _slow_tone_form(c)) != c.lower()})


def exact_form(text: str) -> str:
    """`text` in NFC, lower case."""
    return unicodedata.normalize("NFC", text).lower()


def fold(text: str) -> str:
    """`text` without any mark, đ as d, lower case."""
    nfc = unicodedata.normalize("NFC", text)
    if not _is_table_safe(nfc):
        return _slow_fold(nfc)
    return nfc.lower().translate(_FOLD)


def tone_form(text: str) -> str:
    """`text` with its letters folded and its tone marks kept, lower case, NFC."""
    nfc = unicodedata.normalize("NFC", text)
    if not _is_table_safe(nfc):
        return _slow_tone_form(nfc)
    return nfc.lower().translate(_TONE)


def _is_table_safe(nfc: str) -> bool:
    """Whether `nfc` has no combining mark left after composition (which the tables, built
    per precomposed character, would not see)."""
    return nfc.isascii() or _COMBINING.search(nfc) is None


def words(form: str) -> list[str]:
    """The tokens of a text already in one of the forms above."""
    return _WORD.findall(form)
