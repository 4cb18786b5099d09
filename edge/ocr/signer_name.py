"""The signer's name under a seal: a second look at the foot of the signature block.

Tesseract's layout analysis often drops the line printed under a red seal and a handwritten
signature: the signer's name, at the foot of the signature block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH
/ seal and signature / name"). `signer_region` finds the block's title in the words of the main
pass and the space under it; `edge.ocr.seal.suppress_seal` keeps only dark print there; the
engine reads that crop as one block and `splice_lines` puts what it read into the page's
reading order.

Pure geometry and text: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from edge.ocr.model import OcrWord, group_lines, line_box, line_confidence, span_overlap

SIGNER_TITLES = (
    "CHU TICH", "GIAM DOC", "TRUONG", "KT.", "TM.", "TL.", "TUQ.", "Q.", "NGUOI KY", "CAN BO",
    "CONG CHUC", "CHANH VAN PHONG", "BI THU", "THU KY", "UY VIEN",
    # Whole titles whose first word holds "TRƯỞNG": its first letters under the seal's ring leave
    # "ỞNG PHÒNG", which only the whole title ends with.
    "TRUONG PHONG", "TRUONG CONG AN", "TRUONG BAN",
)  # fmt: skip
"""Words of a signer's title, accent-folded ("KT. CHỦ TỊCH", "GIÁM ĐỐC", "TRƯỞNG PHÒNG" …)."""

MAX_TITLE_WORDS = 6  # a title line, not a sentence that mentions a chairman
TITLE_FROM = 0.3  # the signature block lies below this fraction of the page height
REGION_HALF_WIDTH = 0.2  # of the page width, at least, either side of the title's centre
REGION_DEPTH = 14  # title line heights searched below the title
NAME_CONFIDENCE = 70.0  # a main-pass line this sure and shaped like a name is kept as it is
RECOVER_CONFIDENCE = 60.0  # least mean confidence of a re-read line to be spliced in
MAX_LOST_LETTERS = 3  # letters at a row's start a seal's ring may hide
MISREAD_FROM = 6  # letters a title needs for one of them misread to leave it known
OFF_CENTRE = 0.3  # of the line height: a name centred this far right of its title lost a word
BLOCK_FROM = 0.4  # without a title, the block is looked for right of this fraction of the width


@dataclass(frozen=True)
class SignerRegion:
    """Where the signer's name should be.

    Attributes:
        box: (x0, y0, x1, y1) under the title block, in image pixels.
        title_line: the `OcrWord.line` of the signer's title; None when the main pass lost the
            whole block and the region is the lower right of the page, under the last text.
        line_height: the title's text height in pixels.
    """

    box: tuple[int, int, int, int]
    title_line: int | None
    line_height: float


def fold(text: str) -> str:
    """Upper case without diacritics ("Phó Chủ tịch" → "PHO CHU TICH"), for matching titles."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _title_pattern() -> re.Pattern[str]:
    keys = "|".join(re.escape(t) for t in SIGNER_TITLES)
    return re.compile(rf"(?<![A-Z])(?:{keys})(?![A-Z])")


_TITLE = _title_pattern()


def is_title_line(line: Sequence[OcrWord]) -> bool:
    """A signer's title: a few words, nearly all capitals, holding one of `SIGNER_TITLES`
    ("KT. CHỦ TỊCH", "TM. ỦY BAN NHÂN DÂN", "NGƯỜI KÝ TRÍCH LỤC")."""
    text = _in_capitals(line)
    return text is not None and (_TITLE.search(fold(text)) is not None or _cut_title(text))


def _misread_title(line: Sequence[OcrWord]) -> bool:
    """A signer's title with one letter misread ("TRWỎNG PHÒNG"): enough to say where the block
    is, never to take a re-reading for the title ("HRƯỞNG PHÒNG" is no better than the row)."""
    text = _in_capitals(line)
    return text is not None and _MISREAD_TITLE.search(fold(text)) is not None


def _in_capitals(line: Sequence[OcrWord]) -> str | None:
    """The line's text when it is a few words nearly all in capitals, as a title is; else None."""
    text = " ".join(w.text for w in line)
    letters = [c for c in text if c.isalpha()]
    if len(line) > MAX_TITLE_WORDS or len(letters) < 2:
        return None
    return text if sum(c.isupper() for c in letters) >= 0.8 * len(letters) else None


def _cut_title(text: str) -> bool:
    """A title whose first letters the seal's ring took ("U TỊCH", "=HỦ TỊCH" for "CHỦ TỊCH"),
    or more of them when what is left still spans two of its words ("G PHÒNG" for "TRƯỞNG
    PHÒNG": a word of a title alone is no title)."""
    folded = " ".join(re.sub(r"[^A-Z. ]", " ", fold(text)).split())
    return len(folded) >= 5 and any(
        title.endswith(folded)
        and (len(title) - len(folded) <= MAX_LOST_LETTERS or _parts_of_two_words(title, folded))
        for title in SIGNER_TITLES
    )


def _parts_of_two_words(title: str, tail: str) -> bool:
    """Whether `tail`, an end of `title`, holds a word's end and the next word ("G PHONG" of
    "TRUONG PHONG"; "CONG AN", two whole words of "TRUONG CONG AN", is not)."""
    return " " in tail and title[-len(tail) - 1] != " "


def _misread_title_pattern() -> re.Pattern[str]:
    """The titles of `SIGNER_TITLES` of two words and `MISREAD_FROM` letters or more, each with
    any one of its letters read as another mark ("TRWỎNG PHÒNG"): a title is printed in capitals
    in a fixed wording, so one letter off it is still that title. (One word alone is not enough:
    "THƯƠNG" is one letter off "TRƯỞNG".)"""
    variants = [
        re.escape(title[:i]) + r"[^\s]" + re.escape(title[i + 1 :])
        for title in SIGNER_TITLES
        if " " in title and sum(c.isalpha() for c in title) >= MISREAD_FROM
        for i, c in enumerate(title)
        if c.isalpha()
    ]
    return re.compile(rf"(?<![A-Z])(?:{'|'.join(variants)})(?![A-Z])")


_MISREAD_TITLE = _misread_title_pattern()


_RANK = re.compile(r"^(?:DAI|THUONG|TRUNG|THIEU)\s+(?:UY|TA|TUONG)$")
"""A police or military rank before a signer's name ("Đại úy", "Thượng tá"), folded."""


def is_name_line(line: Sequence[OcrWord], confidence: float) -> bool:
    """A line shaped like a person's name (optionally after a rank): 2-8 words of letters only,
    each capitalised ("Nguyễn", or "NGUYỄN") and holding a vowel, read with at least
    `confidence` on average; not a title. A word with a stray mark or a capital inside
    ("Qữ”ãng", "PhưếcTHị") is a stroke of the signature or the seal read into the name."""
    if not 2 <= len(line) <= 8 or is_title_line(line):
        return False
    rank = 2 if len(line) > 3 and _RANK.match(fold(f"{line[0].text} {line[1].text}")) else 0
    for word in line[rank:]:
        letters = word.text.strip(".,;:")
        if not letters.isalpha() or not letters[0].isupper():
            return False
        if not (letters[1:].islower() or letters.isupper() or len(letters) == 1):
            return False
        if not any(vowel in fold(letters) for vowel in "AEIOUY") and not (
            word is line[rank] and letters == "H"  # the Ê Đê women's prefix: "H Hoan Adrơng"
        ):
            return False  # every Vietnamese syllable has a vowel: "L" is "Lê" with its hat lost
    return line_confidence(line) >= confidence


def signer_region(words: Sequence[OcrWord], width: int, height: int) -> SignerRegion | None:
    """The space under the page's last signer title where its name is missing.

    Args:
        words: the main pass's words, in reading order.
        width, height: the image size.

    Returns:
        The region to re-read, or None: no title in the lower part of the page, or the main pass
        already has a confident name line under it.
    """
    lines = group_lines(words)
    titles = [
        ln
        for ln in lines
        if (is_title_line(ln) or _misread_title(ln) or _is_instruction(ln))
        and (line_box(ln)[1] > TITLE_FROM * height or _opens_page(ln, lines))
    ]
    if titles:
        title = max(titles, key=lambda ln: line_box(ln)[3])
        tx0, ty0, tx1, ty1 = line_box(title)
        line_height = statistics.median(w.box[3] - w.box[1] for w in title)
        centre, half = (tx0 + tx1) / 2, max(0.75 * (tx1 - tx0), REGION_HALF_WIDTH * width)
        # A title read with a letter wrong is read again with the name ("HRƯỞNG PHÒNG").
        top = ty1 if is_title_line(title) or _is_instruction(title) else ty0 - 0.4 * line_height
        box = (
            max(0, int(centre - half)),
            min(height, int(top + 0.2 * line_height)),
            min(width, int(centre + half)),
            min(height, int(ty1 + REGION_DEPTH * line_height)),
        )
        title_line: int | None = title[0].line
    elif lines:
        # The whole block was dropped: the right part of the page under the last confident text.
        line_height = statistics.median(w.box[3] - w.box[1] for w in words)
        left = int(BLOCK_FROM * width)
        above = [
            line_box(ln)[3]
            for ln in lines
            if line_box(ln)[2] > left and len(ln) >= 2 and line_confidence(ln) >= NAME_CONFIDENCE
        ]
        top = int(max(above, default=0) + 0.5 * line_height)
        # The last of them may be the name with its start under the seal ("phố Anh Thuận"):
        # read it again too.
        cut = [line_box(ln)[1] for ln in lines if line_box(ln)[2] > left and _cut_name(ln)]
        if cut and max(cut) >= top - 2 * line_height:
            top = int(max(cut) - 0.5 * line_height)
        box = (left, top, width, min(height, int(top + (REGION_DEPTH + 4) * line_height)))
        title_line = None
    else:
        return None
    if box[3] - box[1] < 3 * line_height or box[2] - box[0] < 3 * line_height:
        return None
    title_centre = _print_centre(_widest_of_block(titles, title, line_height)) if titles else None
    for line in lines:
        x0, y0, x1, y1 = line_box(line)
        inside = box[0] <= (x0 + x1) / 2 <= box[2] and box[1] <= (y0 + y1) / 2 <= box[3]
        if inside and _is_sure_name(line) and not (titles and line is title):
            off = _print_centre(line) - (title_centre or _print_centre(line))
            if off > OFF_CENTRE * line_height:
                break  # sure, but off to the right of its title: its first word may be lost
            return None
    return SignerRegion(box, title_line, line_height)


def deepened(
    region: SignerRegion, lines: Sequence[Sequence[OcrWord]], height: int
) -> SignerRegion | None:
    """A guessed region (no title in the main pass) whose reading found the block's title but
    no name, made `REGION_DEPTH` title line heights deep under that title; None when that is no
    deeper than the region already is. A page that starts with the block (a last page, its
    print all in the block and the "Nơi nhận" beside it) has the guessed region start at the
    page's top, and the name lay below its end."""
    if region.title_line is not None or has_name(lines, 0.0):
        return None
    titles = [line for line in lines if is_title_line(line)]
    if not titles:
        return None
    bottom = min(
        height, int(max(line_box(t)[3] for t in titles) + REGION_DEPTH * region.line_height)
    )
    if bottom <= region.box[3]:
        return None
    x0, y0, x1, _ = region.box
    return SignerRegion((x0, y0, x1, bottom), None, region.line_height)


def _widest_of_block(
    titles: Sequence[Sequence[OcrWord]], last: Sequence[OcrWord], line_height: float
) -> Sequence[OcrWord]:
    """The widest title line of the block that ends with `last` ("KT. CHỦ TỊCH" over "PHÓ CHỦ
    TỊCH"): the block's lines are centred on one axis, and a line the seal's ring cut short
    ("CHỦ TICH" for "PHÓ CHỦ TỊCH") has its centre moved along with the name under it."""
    top = line_box(last)[1]
    block = [t for t in titles if top - 4 * line_height <= line_box(t)[3] <= line_box(last)[3]]
    return max(block or [last], key=lambda t: line_box(t)[2] - line_box(t)[0])


def _is_instruction(line: Sequence[OcrWord]) -> bool:
    """The bracketed instruction under a civil-status form's signer title ("(Ký, ghi rõ họ,
    chữ đệm, tên, chức vụ, đóng dấu)"): the title block ends with it, the name comes under it.
    It stands in for a title the seal's ring cut beyond knowing ("NG TRÍCH LỤC")."""
    return _INSTRUCTION.match(fold(" ".join(w.text for w in line))) is not None


_INSTRUCTION = re.compile(r"^\W*\(\s*KY\b")


def _opens_page(title: Sequence[OcrWord], lines: Sequence[Sequence[OcrWord]]) -> bool:
    """Whether only a page number or specks lie above a title's block: a continuation page that
    starts with the signer's block, its title high on the page (above `TITLE_FROM`). The block
    starts at its first title line over this one ("TM. ỦY BAN NHÂN DÂN" over "KT. CHỦ TỊCH");
    the "Nơi nhận" column beside it, level with it, does not count, though it comes first in
    reading order."""
    x0, top, x1, _ = line_box(title)
    for line in lines:
        lx0, ly0, lx1, _ = line_box(line)
        if ly0 < top and min(x1, lx1) > max(x0, lx0) and is_title_line(line):
            top = ly0
    above = [ln for ln in lines if (line_box(ln)[1] + line_box(ln)[3]) / 2 < top]
    return all(sum(any(c.isalpha() for c in w.text) for w in line) <= 1 for line in above)


def _print_centre(line: Sequence[OcrWord]) -> float:
    """The horizontal centre of a line's words, specks ("-", "`") left out."""
    words = [w for w in line if any(c.isalnum() for c in w.text)] or list(line)
    return (min(w.box[0] for w in words) + max(w.box[2] for w in words)) / 2


def splice_lines(
    words: Sequence[OcrWord], recovered: Sequence[Sequence[OcrWord]], region: SignerRegion
) -> tuple[OcrWord, ...]:
    """Put recovered lines into the page's reading order, numbering lines afresh.

    Each recovered line goes after the last line of the signature block above it (the title or a
    line under it, in the region's columns); main-pass lines of low confidence that it overlaps
    (the seal or the signature read as letters) are dropped.
    """
    lines = group_lines(words)
    x0, _, x1, _ = region.box
    if region.title_line is not None:
        title_index = next(i for i, ln in enumerate(lines) if ln[0].line == region.title_line)
    else:  # after the last line above the region
        title_index = max(
            (i for i, ln in enumerate(lines) if line_box(ln)[3] <= region.box[1]), default=-1
        )
    inserts: dict[int, list[list[OcrWord]]] = {}
    dropped: set[int] = set()
    for new in recovered:
        nx0, ny0, nx1, ny1 = line_box(new)
        after = title_index
        for i, line in enumerate(lines):
            lx0, ly0, lx1, ly1 = line_box(line)
            if lx1 < x0 or lx0 > x1 or i < title_index:
                continue
            if span_overlap(ny0, ny1, ly0, ly1) > 0.5 and min(nx1, lx1) > max(nx0, lx0):
                if _cut_short(new, line):
                    break  # the re-reading lost the row's start to the seal: the main pass is whole
                if line_confidence(line) < max(NAME_CONFIDENCE, line_confidence(new)) or (
                    _lost_its_start(line, new)
                ):
                    dropped.add(i)  # seal or signature read as letters, or a shakier reading
                    continue
                break  # a confident line is there after all: keep the main pass
            if (ly0 + ly1) / 2 < (ny0 + ny1) / 2:
                after = max(after, i)
        else:
            inserts.setdefault(after, []).append(list(new))
    out: list[OcrWord] = []
    number = -1
    # Index -1: lines above every main-pass line (a page that starts with the signer's block).
    for i, line in [(-1, []), *enumerate(lines)]:
        if line and i not in dropped:
            number += 1
            out += [OcrWord(w.text, w.box, w.confidence, number) for w in line]
        for new in inserts.get(i, []):
            number += 1
            out += [OcrWord(w.text, w.box, w.confidence, number) for w in new]
    return tuple(out)


def _cut_name(line: Sequence[OcrWord]) -> bool:
    """A name row whose start the seal's ring took or garbled ("inh Gia Thuận", "phố Anh
    Thuận", "/õ Công Duy", "sô linh Bảo Khương"): one or two words that begin with no capital,
    then capitalised words, at least as many."""
    texts = [w.text.strip(".,;:") for w in line]
    lead = _uncapitalised_lead(texts)
    return (
        2 <= len(texts) <= 6
        and 1 <= lead <= 2
        and len(texts) - lead >= lead
        and all(t[:1].isupper() and t.isalpha() for t in texts[lead:])
    )


def _uncapitalised_lead(texts: Sequence[str]) -> int:
    """How many words at the start of `texts` hold a letter but begin with none in capitals."""
    lead = 0
    for text in texts:
        if text[:1].isupper() or not any(c.isalpha() for c in text):
            break
        lead += 1
    return lead


def _lost_its_start(line: Sequence[OcrWord], new: Sequence[OcrWord]) -> bool:
    """Whether a main-pass row is the re-read one without its first letters, which the seal's
    ring took ("inh Gia Thuận" for "Đinh Gia Thuận", "U TỊCH" for "CHỦ TỊCH"): however surely
    Tesseract read what was left, the whole row is the better reading."""
    old, whole = _folded_row(line), _folded_row(new)
    lost = len(whole) - len(old)
    if len(old) >= 3 and 0 < lost <= MAX_LOST_LETTERS and whole.endswith(old):
        return True
    # Or a wider ring took more, the row's first word to its middle ("hanh Quyết" for "Châu
    # Thanh Quyết"): a name's word in small letters is what was left of it.
    if len(old) >= 3 and lost > 0 and whole.endswith(old) and _cut_name(line):
        return True
    # Or the ring read as letters in its place ("phố Anh Thuận" for "Lương Anh Thuận", "sô linh
    # Bảo Khương" for "Ngô Minh Bảo Khương"): the rows agree after one or two first words that,
    # beginning with no capital, begin no name or title.
    lead = _uncapitalised_lead([w.text for w in line])
    if (
        len(line) == len(new) >= 2
        and 1 <= lead <= min(2, len(line) - 1)
        and all(w.text[:1].isupper() for w in new[:lead])
        and [fold(w.text) for w in line[lead:]] == [fold(w.text) for w in new[lead:]]
    ):
        return True
    # Or the ring took the whole first word ("Đức Bảo Nhân" for "Hoàng Đức Bảo Nhân"): the
    # re-read row is the main one with one capitalised word more in front.
    return (
        len(new) == len(line) + 1 >= 3
        and new[0].text[:1].isupper()
        and [_bare(w.text) for w in new[1:]] == [_bare(w.text) for w in line]
    )


def _cut_short(new: Sequence[OcrWord], line: Sequence[OcrWord]) -> bool:
    """Whether a re-read row is the main pass's row without its start ("RƯỞNG CÔNG AN" for
    "PHÓ TRƯỞNG CÔNG AN"): however surely it was read, it is less of the row."""
    cut, whole = _folded_row(new), _folded_row(line)
    lost = whole[: len(whole) - len(cut)]
    # What the re-reading lacks must be letters: a speck before the row ("- Lâm Hải Giang") is
    # none of it, and the re-reading without it is the better one.
    return len(cut) >= 3 and whole.endswith(cut) and any(c.isalpha() for c in lost)


def _folded_row(line: Sequence[OcrWord]) -> str:
    """A row's words joined and accent-folded, for comparing two readings of it."""
    return fold(" ".join(w.text for w in line)).strip()


def _bare(word: str) -> str:
    """A word folded, without the punctuation OCR puts around it."""
    return fold(word).strip(".,;:`'\"-_ ")


def _is_sure_name(line: Sequence[OcrWord]) -> bool:
    """A name line the main pass read surely in every word: a surname read at 60% beside a
    given name read at 96% passes on the mean and is still worth a second look (Phan/Phạm)."""
    weakest = min((w.confidence for w in line), default=0.0)
    return is_name_line(line, NAME_CONFIDENCE) and weakest >= NAME_CONFIDENCE


def has_name(lines: Sequence[Sequence[OcrWord]], confidence: float) -> bool:
    """Whether one of `lines` is a name read with at least `confidence`."""
    return any(is_name_line(line, confidence) for line in lines)


def has_title(lines: Sequence[Sequence[OcrWord]]) -> bool:
    """Whether one of `lines` is a signer's title ("KT. CHỦ TỊCH", "GIÁM ĐỐC" …)."""
    return any(is_title_line(line) for line in lines)


_STROKE_ENDS = "'\"`“”‘’_-—–|~^*()"
"""Marks a signature's or a seal's stroke leaves at a word's ends in a re-read crop ("(Quách": a
bracket too, which no word of a name or title holds)."""

_DOTS = ".,:;·•"
"""A 'word' of only these is a dot of the seal's ring or the signature read beside the name
("Lâm Tuyết Loan ."): no word of a name, dropped."""


def accepted_lines(found: Sequence[OcrWord], region: SignerRegion) -> list[list[OcrWord]]:
    """The lines read in the region's crop worth splicing in: shaped like a name (or a title) and
    read with confidence. `found` is in crop coordinates; the lines come back in page ones."""
    x0, y0 = region.box[:2]
    shifted = [
        OcrWord(
            text,
            (w.box[0] + x0, w.box[1] + y0, w.box[2] + x0, w.box[3] + y0),
            w.confidence,
            w.line,
        )
        for w in found
        # A stroke's end read beside a word ("'Thái", a lone "_"): not part of it.
        if (text := w.text.strip(_STROKE_ENDS)).strip(_DOTS)
    ]
    return [
        line
        for line in group_lines(shifted)
        if is_name_line(line, RECOVER_CONFIDENCE)
        or (is_title_line(line) and line_confidence(line) >= RECOVER_CONFIDENCE)
    ]
