"""The signer's title and the signing instruction where a seal cut them: a second look.

The seal is stamped over the left of the signature, and its ring often crosses the title above
("TRƯỞNG PHÒNG" read as "G PHÒNG", "CHỦ TỊCH" as "HỦ TỊCH") or the bracketed instruction of a
civil-status form ("(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)" read as "f đệm, tên, chức
vụ, đóng dấu)"). The main pass then keeps only the part right of the ring. Where the
instruction is set on two lines, the ring may take the second ("đóng dấu)") whole.

`cut_lines` finds such lines in the main pass's words, and the rows where an instruction's lost
end lies; the engine reads each again as one line, over the block's whole width and with the
seal taken away (`edge.ocr.seal.suppress_seal`), and `mended_line` says whether that
reading is the whole line, to put in its place, or the instruction's end, to put after it.

Pure geometry and text: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from edge.ocr.columns import beside_label, label_boxes
from edge.ocr.model import (
    NOISE_CONFIDENCE,
    OcrWord,
    group_lines,
    line_box,
    line_confidence,
    span_overlap,
)
from edge.ocr.signer_name import (
    BLOCK_FROM,
    MAX_TITLE_WORDS,
    RECOVER_CONFIDENCE,
    TITLE_FROM,
    fold,
)

WHOLE_TITLES = (
    "CHU TICH", "PHO CHU TICH", "GIAM DOC", "PHO GIAM DOC", "TRUONG PHONG", "PHO TRUONG PHONG",
    "TRUONG CONG AN", "PHO TRUONG CONG AN", "TRUONG BAN", "PHO TRUONG BAN", "CHANH VAN PHONG",
    "NGUOI KY TRICH LUC", "NGUOI KY GIAY CHUNG NHAN", "NGUOI KY", "CONG CHUC TU PHAP - HO TICH",
    "CAN BO", "BI THU", "THU KY", "UY VIEN",
)  # fmt: skip
"""Signers' titles as printed whole, accent-folded: a cut line is the end of one of them."""

MIN_KEPT_LETTERS = 3
"""Letters a cut title must keep for its title to be known ("NG" could end too many)."""
MARGIN = 1.5
"""Line heights added either side of the re-read line, past its block's widest reach."""
NEIGHBOURS = 8.0
"""Line heights above and below a cut line within which its block's other lines lie (the
signature's space between the title and the name is six or seven)."""
PAD = 0.4
"""Line heights added above and below the re-read line."""
NEXT_ROW = (0.1, 1.7)
"""Line heights under a line's foot where the next row's print lies (lines are set 1.2 to 1.5
line heights apart)."""
LIKER = 0.02
"""How much closer to a wording of the instruction a reading must be to replace the line."""
HALF = 0.5
"""Share of the shorter of two lines that must lie across the other for both to be one block's."""


@dataclass(frozen=True)
class CutLine:
    """A line of the signer's block a seal cut, and where to read it again.

    Attributes:
        line: its `OcrWord.line` in the main pass.
        box: (x0, y0, x1, y1) to read, in image pixels: the row, centred on the block's axis.
        line_height: its text height in pixels.
        instruction: whether it is the bracketed instruction rather than a title.
        continued: whether `box` is the row under the line, where the end of an instruction set
            on two lines is lost, rather than the line itself.
    """

    line: int
    box: tuple[int, int, int, int]
    line_height: float
    instruction: bool
    continued: bool = False


def _letters(text: str) -> str:
    """The text's letters only, folded ("G PHÒNG" → "GPHONG")."""
    return re.sub(r"[^A-Z]", "", fold(text))


_WHOLE = {_letters(t) for t in WHOLE_TITLES}


def _cut_title(text: str) -> bool:
    """Whether `text`, in capitals, is the end of a whole title and not one itself, its first
    letter perhaps misread."""
    letters = sum(c.isalpha() for c in text)
    upper = sum(c.isupper() for c in text if c.isalpha())
    kept = _letters(text)
    if letters < MIN_KEPT_LETTERS or upper < 0.8 * letters or kept in _WHOLE:
        return False
    # Its first letter may be what is left of the cut one ("IỦ TỊCH" for "CHỦ TỊCH").
    ends = (kept, kept[1:]) if len(kept) > MIN_KEPT_LETTERS else (kept,)
    return any(whole.endswith(end) for whole in _WHOLE for end in ends)


_INSTRUCTION_END = re.compile(r"(?:DONG\s*D\w{1,2}U|HO\s*TEN|TEN)\s*\)\W*$")
_INSTRUCTION_START = re.compile(r"^[\W_]*\(\s*K\w?\b")


INSTRUCTION_WORDS = frozenset(
    ("ký", "ghi", "rõ", "họ", "chữ", "đệm", "tên", "chức", "vụ", "đóng", "dấu", "và", "của"),
)  # fmt: skip
"""Every word the bracketed signing instruction is written with, as printed (small letters)."""


def _misread_words(text: str) -> int:
    """How many words of an instruction line are none of `INSTRUCTION_WORDS` as printed ("ghỉ",
    "rõ„họ=ehỹ", "2Q"): where the seal's ring crossed it."""
    words = (w.strip("()[],.;:_-–—'\"`„“”‘’").lower() for w in text.split())
    return sum(1 for w in words if w and w not in INSTRUCTION_WORDS)


INSTRUCTIONS = (
    "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)", "(Ký, ghi rõ họ, chữ đệm, tên)",
    "(Ký, ghi rõ họ tên và đóng dấu)", "(Ký, ghi rõ họ tên, đóng dấu)", "(Ký, ghi rõ họ tên)",
    "(Ký và ghi rõ họ tên)", "(Ký, đóng dấu)", "(Ký, đóng dấu và ghi rõ họ tên)",
    "(Ký, ghi rõ họ tên, chức vụ và đóng dấu)",
)  # fmt: skip
"""The signing instruction's wordings on the public forms, to tell the better of two readings."""


def _likeness(text: str) -> float:
    """How close a reading of the instruction is to the nearest of its wordings, 0..1."""
    read = " ".join(text.split()).lower()
    return max(
        SequenceMatcher(None, read, wording.lower(), autojunk=False).ratio()
        for wording in INSTRUCTIONS
    )


LOST_INSTRUCTION_LIKENESS = 0.8
"""How close (`_likeness`) a lost row's reading must be to a wording of the instruction to be
kept however unsure Tesseract was of the words the seal's ring crossed."""


def reads_as_instruction(words: Sequence[OcrWord]) -> bool:
    """Whether a reading is the whole bracketed signing instruction, its opening and its end
    read, its words close to one of its wordings: a row the main pass dropped under the seal
    ("(Ký, ghỉ rã ftọ, điedệm, tên, chức vụ, đóng dấu)" at a mean confidence of 76). No
    misreading of a ring or a signature opens with "(Ký" and ends with "đóng dấu)"."""
    text = " ".join(w.text for w in words)
    return _whole_instruction(text) and _likeness(text) >= LOST_INSTRUCTION_LIKENESS


def _whole_instruction(text: str) -> bool:
    """Whether a reading opens the bracketed instruction and ends it."""
    folded = fold(text)
    return bool(_INSTRUCTION_START.match(folded) and _INSTRUCTION_END.search(folded))


def opens_instruction(text: str) -> bool:
    """Whether a reading opens the bracketed instruction ("(Ký, …")."""
    return _INSTRUCTION_START.match(fold(text)) is not None


def ends_instruction(text: str) -> bool:
    """Whether a reading ends the bracketed instruction ("… đóng dấu)", "… họ tên)")."""
    return _INSTRUCTION_END.search(fold(text)) is not None


def _cut_instruction(text: str) -> bool:
    """Whether `text` is the bracketed instruction with its start cut off ("f đệm, tên, chức
    vụ, đóng dấu)", "ọ tên và đóng dấu)") or with words the seal's ring garbled ("(Ký. ghỉ
    rõ„họ=ehỹ, đệm, tên, chức vụ, đóng dấu)")."""
    folded = fold(text)
    start, end = _INSTRUCTION_START.match(folded), _INSTRUCTION_END.search(folded)
    if end and not start:
        return True
    return bool(start or end) and _misread_words(text) > 0


def cut_lines(words: Sequence[OcrWord], width: int, height: int) -> list[CutLine]:
    """The lines of the page's lower part that are a signer's title or the signing instruction
    with their start cut off, each with the box to read it again in.

    Args:
        words: the main pass's words, in reading order.
        width, height: the image size.
    """
    lines = group_lines(words)
    labels = label_boxes(lines)
    found = []
    for line in lines:
        x0, y0, x1, y1 = line_box(line)
        if len(line) > 2 * MAX_TITLE_WORDS:
            continue
        text = " ".join(w.text for w in line)
        line_height = statistics.median(w.box[3] - w.box[1] for w in line)
        # A title high on the page is the header's, unless it stands beside "Nơi nhận" (a
        # result's last page may hold its signature area at its top). An instruction's lost
        # end is looked for anywhere: such a page may hold the signer's block alone. (A cut
        # instruction read whole there was taken, by the signature columns, for a second
        # reading of the title's row, whose boxes it overlaps, and dropped.)
        low = (y0 + y1) / 2 >= TITLE_FROM * height
        signers = low or beside_label((x0, y0, x1, y1), labels)
        continued = _unended_instruction(text) and not _line_under(line, lines, line_height)
        instruction = continued or (low and _cut_instruction(text))
        title = signers and len(line) <= MAX_TITLE_WORDS and _cut_title(text)
        if not instruction and not title:
            continue
        axis = _block_axis(line, lines, line_height, BLOCK_FROM * width)
        half = max(x1 - axis, axis - x0) + MARGIN * line_height
        top, bottom = (
            (y1 + NEXT_ROW[0] * line_height, y1 + NEXT_ROW[1] * line_height)
            if continued
            else (y0 - PAD * line_height, y1 + PAD * line_height)
        )
        box = (
            max(0, int(axis - half)),
            max(0, int(top)),
            min(width, int(axis + half)),
            min(height, int(bottom)),
        )
        found.append(CutLine(line[0].line, box, line_height, instruction, continued))
    return found


def _unended_instruction(text: str) -> bool:
    """Whether `text` starts the bracketed instruction and does not end it: its end is set on
    the next line ("(Ký, ghi rõ họ, chữ đệm, tên, chức vụ," / "đóng dấu)")."""
    folded = fold(text)
    return bool(_INSTRUCTION_START.match(folded)) and ")" not in text


def _line_under(line: Sequence[OcrWord], lines: Sequence[Sequence[OcrWord]], height: float) -> bool:
    """Whether the main pass read a line in the row under `line` (`NEXT_ROW`), across it."""
    x0, _, x1, y1 = line_box(line)
    for other in lines:
        ox0, oy0, ox1, oy1 = line_box(other)
        below = y1 <= (oy0 + oy1) / 2 <= y1 + NEXT_ROW[1] * height
        if other is not line and below and span_overlap(x0, x1, ox0, ox1) > 0:
            return True
    return False


def _block_axis(
    line: Sequence[OcrWord], lines: Sequence[Sequence[OcrWord]], height: float, left: float
) -> float:
    """The centre line of the block `line` belongs to: the median centre of the other short
    lines (titles, the name) above and below it, right of `left` (the body's lines and "Nơi
    nhận" start further left), half of one across the other at least. A block's lines are
    centred on one axis, and the cut line's own centre moved right with its lost start."""
    x0, y0, x1, y1 = line_box(line)
    centres = []
    for other in lines:
        ox0, oy0, ox1, oy1 = line_box(other)
        if other is line or len(other) > MAX_TITLE_WORDS or ox0 < left:
            continue  # a line of the body, or of "Nơi nhận"
        near = oy1 >= y0 - NEIGHBOURS * height and oy0 <= y1 + NEIGHBOURS * height
        if near and span_overlap(x0, x1, ox0, ox1) >= HALF:
            centres.append((ox0 + ox1) / 2)
    return statistics.median(centres) if centres else (x0 + x1) / 2


def mended_line(cut: CutLine, old: Sequence[OcrWord], new: Sequence[OcrWord]) -> bool:
    """Whether `new`, the line read again, is the whole of the cut line `old`: surely read,
    and a whole title in capitals with more letters, or the whole bracketed instruction: with
    more letters than the line whose start was cut, or closer to one of its wordings
    (`INSTRUCTIONS`) than the whole line whose middle was garbled. (A `continued` cut's reading
    is judged by `instruction_end`.)"""
    if not new:
        return False
    text, before = " ".join(w.text for w in new), " ".join(w.text for w in old)
    # A reading that spells a whole title letter for letter, a word of it read surely, is one
    # however unsure Tesseract was of the word the ring crossed ("CHỦ" at 7 beside "TỊCH" at
    # 92); no misreading of a ring spells one.
    spelled = (
        not cut.instruction
        and _letters(text) in _WHOLE
        and any(w.confidence >= RECOVER_CONFIDENCE for w in new)
    )
    if line_confidence(new) < RECOVER_CONFIDENCE and not spelled:
        return False
    more = len(_letters(text)) > len(_letters(before))
    if cut.instruction:
        if not _whole_instruction(text):
            return False
        if not _whole_instruction(before):
            return more  # its start was cut: the whole line read again, with more of it
        return _likeness(text) > _likeness(before) + LIKER  # its middle garbled
    if not more:
        return False
    upper = sum(c.isupper() for c in text if c.isalpha()) >= 0.8 * sum(c.isalpha() for c in text)
    return upper and any(_letters(text).endswith(whole) for whole in _WHOLE)


def instruction_end(read: Sequence[OcrWord]) -> list[OcrWord] | None:
    """The end of an instruction set on two lines, from the reading of the row under its first
    line (a `continued` cut), or None when the reading is not its end.

    Unsure words before it are the seal's ring ("sa" at 0) and are left out. The rest must be
    read surely, end the instruction, and be its words; one a letter off one of its words is
    that word with a letter the ring crossed ("đáng" for "đóng"), and is respelled so."""
    words = list(read)
    while words and words[0].confidence < NOISE_CONFIDENCE:
        words.pop(0)
    if not words or line_confidence(words) < RECOVER_CONFIDENCE:
        return None
    respelled = []
    for word in words:
        parts = re.fullmatch(r"(\W*)(\w+)(\W*)", word.text)
        if parts is None:
            return None
        lead, core, tail = parts.groups()
        if core.lower() in INSTRUCTION_WORDS:
            respelled.append(word)
            continue
        near = [known for known in INSTRUCTION_WORDS if one_letter_off(core.lower(), known)]
        if len(near) != 1:
            return None
        respelled.append(replace(word, text=lead + near[0] + tail))
    folded = fold(" ".join(w.text for w in respelled))
    if not _INSTRUCTION_END.search(folded) or _INSTRUCTION_START.match(folded):
        return None
    return respelled


def one_letter_off(a: str, b: str) -> bool:
    """Whether `a` and `b` are as long as each other and differ in one letter."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def placed(lines: Sequence[Sequence[OcrWord]], mended: set[int]) -> list[Sequence[OcrWord]]:
    """`lines` with each mended line moved after the last line read after it that lies wholly
    above it: the main pass placed the cut line by what was left of it, before a line of the
    body's end it lies under ("G PHÒNG" before "Giấy chứng nhận có hiệu lực …"). A line is
    only ever moved later, never before lines a row-by-row reading put first."""
    order = list(lines)
    for number in mended:
        at = next(k for k, line in enumerate(order) if line[0].line == number)
        top = line_box(order[at])[1]
        above = [k for k in range(at + 1, len(order)) if line_box(order[k])[3] <= top]
        if above:
            order.insert(above[-1], order.pop(at))
    return order
