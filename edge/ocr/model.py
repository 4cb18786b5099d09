"""What OCR hands over: recognised words with their boxes and confidences, grouped into lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OcrWord:
    """One recognised word.

    Attributes:
        text: the word, NFC.
        box: (x0, y0, x1, y1) in image pixels, origin top left, x1/y1 exclusive.
        confidence: Tesseract's word confidence, 0-100.
        line: index of the text line the word belongs to, in reading order (the PDF text layer
            puts a line's words on one baseline so that text extraction keeps them together).
    """

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int = 0


@dataclass(frozen=True)
class OcrPage:
    """The OCR result of one page image.

    Attributes:
        text: the page text, NFC, one recognised line per `\\n`, in Tesseract's reading order.
        words: every word in reading order.
        width, height: the image size in pixels.
        dpi: the resolution the image was recognised at.
        mean_confidence: the mean word confidence, 0-100 (0 for a page without words). Not a
            quality gate on its own: a scrambled reading order still scores high.
    """

    text: str
    words: tuple[OcrWord, ...]
    width: int
    height: int
    dpi: int
    mean_confidence: float


def group_lines(words: Sequence[OcrWord]) -> list[list[OcrWord]]:
    """The words grouped by `OcrWord.line`, lines in reading order."""
    lines: dict[int, list[OcrWord]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    return list(lines.values())


def line_box(line: Sequence[OcrWord]) -> tuple[int, int, int, int]:
    """The box around a line's words: (x0, y0, x1, y1)."""
    return (
        min(w.box[0] for w in line),
        min(w.box[1] for w in line),
        max(w.box[2] for w in line),
        max(w.box[3] for w in line),
    )


def line_confidence(line: Sequence[OcrWord]) -> float:
    """The mean confidence of a line's words."""
    return sum(w.confidence for w in line) / len(line)


NOISE_CONFIDENCE = 20.0
"""A line Tesseract read at a mean confidence under this is not text: on corpus-dev every such
line was a signature, a stain or a seal read as letters ("7155rx,xxvreegsenagae.ee27" at 0,
"sư ưn4," at 15), and every line of print read at 33 or more."""


def without_noise(words: Sequence[OcrWord]) -> tuple[OcrWord, ...]:
    """The words without the lines read at a mean confidence under `NOISE_CONFIDENCE`, lines
    numbered afresh."""
    return renumber([ln for ln in group_lines(words) if line_confidence(ln) >= NOISE_CONFIDENCE])


EDGE = 2
"""Pixels: a mark this close to the image's edge lies on the paper's edge or its shadow, where
no print is (Nghị định 30 keeps text 15 mm or more inside the page)."""


def without_stray_marks(words: Sequence[OcrWord], width: int, height: int) -> tuple[OcrWord, ...]:
    """The words of a page image of `width` × `height` without the marks (words of no letter or
    digit) at the image's edge (`EDGE`), lines numbered afresh. Tesseract reads the shaded
    border of a photo or a scan as "_" or "'", which joins the line beside it ("_ nhân 0680…");
    a mark read unsure inside the page stays: it may be a list's dash ("- Như Điều 3;")."""

    def stray(word: OcrWord) -> bool:
        if not _is_mark(word):
            return False
        x0, y0, x1, y1 = word.box
        return min(x0, y0) <= EDGE or x1 >= width - EDGE or y1 >= height - EDGE

    return renumber(
        [kept for line in group_lines(words) if (kept := [w for w in line if not stray(w)])]
    )


def renumber(lines: Sequence[Sequence[OcrWord]]) -> tuple[OcrWord, ...]:
    """The words of `lines`, in that order, with their line numbers counted afresh from 0."""
    return tuple(
        OcrWord(w.text, w.box, w.confidence, number)
        for number, line in enumerate(lines)
        for w in line
    )


def page_text(words: Sequence[OcrWord]) -> str:
    """The text of the words: one line per `\n`, words joined by a space."""
    return "\n".join(" ".join(w.text for w in line) for line in group_lines(words))


ROW_OVERLAP = 0.6
"""Of the shorter line's height: lines overlapping this much from top to bottom share a row."""
ROW_GAP = 1.2
"""Of the shorter line's height: the widest blank between two pieces of one printed line (a
word spacing is about half a line's height; the gap between two columns is several)."""


def joined_rows(words: Sequence[OcrWord]) -> tuple[OcrWord, ...]:
    """The words with each printed line that Tesseract cut in two made one again.

    Next to a seal or a signature, Tesseract may end a line early and read its last word as a
    line of its own, before or after the rest ("Thủy" / "Trương Thanh Anh"). Two lines next in
    reading order that share a row (`ROW_OVERLAP`) and stand a word's spacing apart
    (`ROW_GAP`) are one line, its words left to right; the columns of a row ("Nơi nhận" beside
    the signer's title) stand further apart and stay apart.
    """
    lines = [list(line) for line in group_lines(words)]
    k = 0
    while k + 1 < len(lines):
        if _one_row(line_box(lines[k]), line_box(lines[k + 1])):
            lines[k] = sorted(lines[k] + lines.pop(k + 1), key=lambda w: w.box[0])
        else:
            k += 1
    return renumber(lines)


COLUMN_OVERLAP = 0.5
"""Of the narrower line's width: lines overlapping this much from left to right are in one
column."""
BELOW = 0.25
"""Of the shorter line's height: a line overlapping another this little or less from top to
bottom, and lower, lies below it (a photo's slant makes neighbouring lines' boxes overlap)."""


def restacked(words: Sequence[OcrWord]) -> tuple[OcrWord, ...]:
    """The words with each line read after a line of its own column that lies below it moved
    back above that line, lines numbered afresh.

    Tesseract orders its blocks, not its lines: on a photo's curved page it may make one short
    line a block of its own and read it after the lines under it ("Giá đất …" after "Điều 2 …"
    and "Điều 3 …"), or read a header's second row before its first. In a column no line is read
    after one printed below it, so a line moves back past every line before it that shares its
    column (`COLUMN_OVERLAP`) and lies below it (`BELOW`); a line that is only marks (no letter
    or digit: a speck read as "_" or "“") neither stops a line nor moves. Lines of other columns
    stop it, so two columns side by side ("Nơi nhận" and the signer's block, a header's two
    blocks) keep their order — but a line that lies above every line read before it goes first,
    past any column (a straightened photo's header row read after the body's first lines).
    """
    order: list[list[OcrWord]] = []
    for line in group_lines(words):
        box, at, past = line_box(line), len(order), len(order)
        if _above_all(box, [line_box(b) for b in order if _has_text(b)]) and _has_text(line):
            order.insert(0, line)
            continue
        while at > 0 and _has_text(line):
            before = order[at - 1]
            if not _has_text(before):
                at -= 1
            elif _stacked_below(line_box(before), box):
                at = past = at - 1
            else:
                break
        order.insert(past, line)
    return renumber(order)


def _has_text(line: Sequence[OcrWord]) -> bool:
    return not all(_is_mark(w) for w in line)


def _is_mark(word: OcrWord) -> bool:
    """Whether a word is a mark: no letter or digit in it ("_", "“", "-")."""
    return not any(c.isalnum() for c in word.text)


def _stacked_below(lower: tuple[int, int, int, int], upper: tuple[int, int, int, int]) -> bool:
    """Whether box `lower` lies below box `upper` in the same column (see `restacked`)."""
    return span_overlap(lower[0], lower[2], upper[0], upper[2]) >= COLUMN_OVERLAP and _lies_below(
        lower, upper
    )


def _above_all(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    """Whether there are other lines and box lies above every one of them."""
    return bool(others) and all(_lies_below(other, box) for other in others)


def _lies_below(lower: tuple[int, int, int, int], upper: tuple[int, int, int, int]) -> bool:
    """Whether box `lower` lies below box `upper`, in any column (see `BELOW`)."""
    return (
        span_overlap(lower[1], lower[3], upper[1], upper[3]) <= BELOW
        and lower[1] + lower[3] > upper[1] + upper[3]
    )


def _one_row(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether boxes `a` and `b` are two pieces of one printed line (see `joined_rows`)."""
    height = min(a[3] - a[1], b[3] - b[1])
    gap = max(b[0] - a[2], a[0] - b[2])  # the blank between them, negative when they overlap
    return span_overlap(a[1], a[3], b[1], b[3]) >= ROW_OVERLAP and 0 <= gap <= ROW_GAP * height


def span_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """How much spans [a0, a1] and [b0, b1] overlap, as a share of the shorter one: 1 when one
    lies within the other, 0 or less when they are apart (0 for an empty span)."""
    shorter = min(a1 - a0, b1 - b0)
    return (min(a1, b1) - max(a0, b0)) / shorter if shorter > 0 else 0.0
