"""The signing instruction's words as its wordings print them: a respelling of a fixed phrase.

The bracketed instruction under a civil-status form's signer title ("(Ký, ghi rõ họ, chữ đệm,
tên, chức vụ, đóng dấu)") is set in italics, often under the seal's ring, and Tesseract misreads
its letters in the same few ways on every page: "chức uụ" for "chức vụ", "đóng dẫu" for "đóng
dấu", "ghỉ" for "ghi", "(Kú," for "(Ký,". Its wordings are few and fixed by the forms
(`edge.ocr.title_lines.INSTRUCTIONS`), so a line that reads as one of them has each misread word
respelled as the word it stands for in the nearest wording.

Rules of this module:
- A line is the instruction only when it opens as one ("(K…") or ends as one ("…dấu)",
  "…tên)") and at least half its words are words of the instruction, their marks aside.
- A word is respelled only where it stands for one word of the nearest wording, and only when
  it is that word with its marks misread or one letter off ("uụ" → "vụ"); words the ring
  garbled beyond that ("ptT8") are left as read.
- The punctuation OCR read around a word is kept; only its letters change.

Pure text work over the words of the main pass: boxes and confidences are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from edge.ocr.model import OcrWord, group_lines
from edge.ocr.signer_name import fold
from edge.ocr.title_lines import (
    INSTRUCTION_WORDS,
    INSTRUCTIONS,
    ends_instruction,
    one_letter_off,
    opens_instruction,
)


def respelled_instruction(words: Sequence[OcrWord]) -> tuple[OcrWord, ...]:
    """`words` with the misread words of every line that reads as the signing instruction (or
    as a part of it, set on two lines) respelled as its nearest wording prints them."""
    out: list[OcrWord] = []
    for line in group_lines(words):
        start = _bracket_start(line)
        out += line[:start] + _respelled(line[start:])
    return tuple(out)


def _bracket_start(line: Sequence[OcrWord]) -> int:
    """Where a line's bracketed part starts: a "Nơi nhận" row read with the instruction beside
    it ("- Lưu: VT. (Ký, ghi rõ họ tên)") keeps its own words."""
    return next((i for i, w in enumerate(line) if w.text.lstrip(_MARKS).startswith("(")), 0)


def _respelled(span: Sequence[OcrWord]) -> list[OcrWord]:
    """`span` respelled word by word against its nearest wording, when it reads as the
    instruction or a part of it; else unchanged."""
    cores = [_core(w.text) for w in span]
    if not _is_instruction(span, cores):
        return list(span)
    read = [fold(c) for c in cores]
    wording = max(_parts(" ".join(w.text for w in span)), key=lambda ws: _likeness(read, ws))
    out = list(span)
    for op, i1, i2, j1, j2 in _matcher(read, wording).get_opcodes():
        if op not in ("equal", "replace") or i2 - i1 != j2 - j1:
            continue  # words read in place of none, or none in place of several: as read
        for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
            core, target = cores[i], _PRINTED[wording[j]]
            if (
                core
                and core.lower() != target.lower()
                and (op == "equal" or one_letter_off(read[i], wording[j]))
            ):
                word = span[i]
                text = word.text.replace(core, _in_case_of(core, target), 1)
                out[i] = OcrWord(text, word.box, word.confidence, word.line)
    return out


def _parts(text: str) -> list[tuple[str, ...]]:
    """The wordings, or the parts of them a line of `text` may be: their starts when it opens
    the instruction and does not end it (the rest set on the next line), their ends when it
    ends it only, the wordings whole when it does both."""
    opens, ends = opens_instruction(text), ends_instruction(text)
    if opens and ends:
        return list(_WORDINGS)
    if opens:
        return [ws[:k] for ws in _WORDINGS for k in range(1, len(ws) + 1)]
    return [ws[k:] for ws in _WORDINGS for k in range(len(ws))]


def _likeness(read: Sequence[str], wording: Sequence[str]) -> float:
    """How close the read words are to a wording, letter by letter: "họ tên tà đóng" is nearer
    "họ tên và đóng" than "họ tên, đóng", though word by word both match four words."""
    return SequenceMatcher(None, " ".join(read), " ".join(wording), autojunk=False).ratio()


def _in_case_of(read: str, target: str) -> str:
    """`target` in the case OCR read the word in ("KÝ" stays in capitals, "(ký" small)."""
    if len(read) > 1 and read.isupper():
        return target.upper()
    return target[:1].upper() + target[1:] if read[:1].isupper() else target.lower()


def _is_instruction(span: Sequence[OcrWord], cores: Sequence[str]) -> bool:
    """Whether a line's words open or end the instruction, and half of them are its words (their
    marks aside: "dẫu" is "dấu")."""
    text = " ".join(w.text for w in span)
    if not (opens_instruction(text) or ends_instruction(text)):
        return False
    known = sum(fold(c) in _FOLDED_WORDS for c in cores)
    return 2 * known >= len(cores)


def _core(text: str) -> str:
    """A word's letters without the marks OCR read around it ("(Kú," → "Kú")."""
    start = next((k for k, c in enumerate(text) if c.isalpha()), len(text))
    end = next((k for k in range(len(text), 0, -1) if text[k - 1].isalpha()), start)
    return text[start:end]


def _matcher(read: Sequence[str], wording: Sequence[str]) -> SequenceMatcher[str]:
    return SequenceMatcher(None, list(read), list(wording), autojunk=False)


_MARKS = "\"'`„“”‘’-–—_.,:;|~*"
"""Marks OCR reads before a word from specks."""

_WORDINGS = [tuple(fold(_core(w)) for w in wording.split()) for wording in INSTRUCTIONS]
"""Each wording of the instruction as folded words, for aligning a reading with."""

_PRINTED = {fold(_core(w)): _core(w) for wording in INSTRUCTIONS for w in wording.split()}
"""Each folded word of the wordings → as printed ("DAU" → "dấu", "KY" → "Ký")."""

_FOLDED_WORDS = frozenset(fold(w) for w in INSTRUCTION_WORDS)
"""The instruction's words without their marks."""
