"""Where a Nghị định 30 page's header ends, and the fields under it: the title (and so the
template) and the "Về việc" line. The header's own fields have modules of their own
(`edge.fields.number`, `edge.fields.issuer`, `edge.fields.place_date`); the signer, at the foot
of the page, is read by `edge.fields.signer_block`.

Rules of this module:
- The header is read in either order Tesseract may give it: left column first, or row by row
  ("UBND HUYỆN … CỘNG HÒA XÃ HỘI …" on one line); the national header and motto are cut away
  from the issuer's lines even when OCR garbled their end.
- The title takes the matched template's spelling when it is close to one of its titles (a
  closed vocabulary), with the similarity as confidence.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from edge.fields.issuer import issuer_line
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import respell
from edge.fields.number import BARE_NUMBER, NUMBER
from edge.fields.page import Found, Page
from edge.fields.patterns import header_patterns
from edge.fields.place_date import place_date_at
from edge.fields.tables import Template, load_tables, load_templates
from edge.fields.text import best_match, fold, is_caps, modern_tones, read_as, tone_marks

HEADER_LINES = 10  # the header is within the first lines, in either reading order
TITLE_WINDOW = 3  # the title follows the header within this many lines
MAX_TITLE_WORDS = 6  # "KT. CHỦ TỊCH", not "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ …" (the authority line)
TITLE_MATCH = 0.9  # least similarity for a title to be a type's ("GIẤY CHỨNG NHẬN" is none)
TITLE_EXACT = 0.97  # a title this close to a template's needs no second line


def _national(page: Page, i: int) -> bool:
    p = header_patterns()
    return bool(
        p.national_start.search(page.folded[i]) or any(n.search(page.folded[i]) for n in p.national)
    )


def _labelled(line: str) -> bool:
    """Whether `line` holds a label and its value ("Số: 12"), not only a colon at its end (a
    speck after a title, "GIẤY PHÉP XÂY DỰNG:")."""
    return ":" in line.rstrip(" :;.")


def header_end(page: Page) -> int:
    """Index of the last header line (national header, number or place–date), -1 if none. A
    number printed under the title (after an upper-case line below the motto) is not header."""
    national = [i for i in range(min(HEADER_LINES, len(page))) if _national(page, i)]
    marked = list(national)
    for i in range(min(HEADER_LINES, len(page))):
        if not (NUMBER.search(page.numeric[i]) or BARE_NUMBER.search(page.numeric[i])):
            continue
        between = range(national[-1] + 1, i) if national and i > national[-1] else range(0)
        # An organ's line there is the issuer's column read after the motto's row, not a title.
        if any(
            is_caps(page.lines[j]) and not _labelled(page.lines[j]) and not issuer_line(page, j)
            for j in between
        ):
            continue  # under the title
        marked.append(i)
    if not marked:
        return -1
    end = max(marked)
    # Read row by row, the left column's last lines come after the motto: an organ's name
    # ("PHÒNG TÀI CHÍNH - KẾ HOẠCH") or its wrapped end ("HOẠCH") is header, not the title.
    while end + 1 < len(page) and issuer_line(page, end + 1):
        end += 1
    # The place–date line closes the right column, just below the motto.
    for i in range(end + 1, min(end + 3, len(page))):
        if (found := place_date_at(page, i)) is not None:
            end = found[1][-1][0]
    return end


def role_at(line: str, low: str) -> int:
    """Start of a signer title ("KT. CHỦ TỊCH") at the end of `line`, or -1."""
    m = header_patterns().role.search(low)
    if m is None:
        return -1
    rest = line[m.start() :]
    words = [w for w in rest.split() if any(c.isalpha() for c in w)]
    return m.start() if len(words) <= MAX_TITLE_WORDS and is_caps(rest) else -1


def _template_of(title: str) -> tuple[Template, float]:
    """The template whose title is closest to `title`, and the similarity."""
    templates = load_templates()
    choices = {t: tmpl for tmpl in templates for t in tmpl.titles}
    best, score = best_match(title, list(choices))
    if best is None or score < TITLE_MATCH:
        return templates[-1], 0.0
    return choices[best], score


# The authority line under a decision's title ("CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ …"): not the title's.
_AUTHORITY = re.compile(
    r"^[\W_]*(?:chu tich|giam doc|truong|pho|chanh|can cu|uy ban|hoi dong|cong an|so )\b"
)


TITLE_LINES = 4
"""Lines a title may be printed over, or read over (a word of a three-line title read on a line
of its own)."""


def title(page: Page, start: int) -> tuple[Found | None, Template, int]:
    """The bold title after the header, the template it names, and the title's last line."""
    fallback = load_templates()[-1]
    for i in range(start, min(start + TITLE_WINDOW, len(page))):
        line = page.lines[i].rstrip(" :;")  # a speck read as a colon after the title
        if not is_caps(line) or _labelled(line):
            continue
        template, score = _template_of(line)
        last, joined = i, line
        # A title wrapped over lines ("GIẤY XÁC NHẬN" / "HỘ GIA ĐÌNH LÀM NÔNG NGHIỆP, …" / "VÀ …").
        for j in range(i + 1, min(i + TITLE_LINES, len(page))):
            following = page.lines[j]
            if (
                score >= TITLE_EXACT
                or not is_caps(following)
                or ":" in following
                or role_at(following, fold(following)) >= 0
                or _AUTHORITY.match(fold(following))
            ):
                break
            template2, score2 = _template_of(f"{joined} {following}")
            if not (score2 > score or template2.fallback):
                break
            template, score, last, joined = template2, score2, j, f"{joined} {following}"
        # A speck read at a wrapped line's end ("… NGHIỆP _") is none of the title.
        raw = " ".join(t.strip(" _|`'") for t in page.lines[i : last + 1]).rstrip(" :;")
        if template.fallback:
            rest = Page("\n".join(t for j, t in enumerate(page.lines) if not i <= j <= last))
            value = _cleaned_title(raw, rest)
            found = Found(value, [(j, 0, len(page.lines[j])) for j in range(i, last + 1)], 0.7, raw)
            found.problems.append(
                Problem("loai_van_ban", ProblemCode.TEMPLATE_UNKNOWN, "no template has this title")
            )
            if value != raw:
                found.problems.append(
                    Problem(
                        "loai_van_ban", ProblemCode.OCR_REPAIRED, "respelled as the page prints it"
                    )
                )
            return found, fallback, last
        spelled, _ = best_match(raw, template.titles)
        value = spelled or raw
        # Folded similarity says which title it is; the printed one says how sure the spelling is.
        spelling = SequenceMatcher(None, raw.upper(), value.upper(), autojunk=False).ratio()
        confidence = (score + spelling) / 2
        spans = [(j, 0, len(page.lines[j])) for j in range(i, last + 1)]
        found = Found(value, spans, confidence, raw)
        if value != raw:
            found.problems.append(
                Problem("loai_van_ban", ProblemCode.OCR_REPAIRED, "spelled as the template")
            )
        return found, template, last
    return None, fallback, start - 1


_STOP_BETWEEN = re.compile(r"(?<=[^\W\d_])\.(?=\s+[^\W\d_])")
"""A stop read between a title's words ("XÁC NHẬN THÔNG TIN. VỀ CƯ TRÚ"); a comma is a title's
own ("NHẬN CHA, MẸ, CON")."""


_DOUBLED_START = re.compile(r"(?<![^\W_])([BCDĐGHKLMNPQRSTVX])\1(?=[^\W\d_])")
"""A word's first consonant read twice ("THÔNG TTIN"): no Vietnamese word starts so."""


def _vowels_read_once(text: str) -> str:
    """`text` without a vowel read twice, each time with a tone mark ("SẲẢN", "NGHỀÈO"): a
    syllable bears one tone, so two toned vowels side by side are one read twice ("HƯU", "CỨU"
    have one tone at most and stay); the second reading is kept."""
    out = []
    for k, char in enumerate(text):
        after = text[k + 1] if k + 1 < len(text) else ""
        twin = fold(after) == fold(char) and tone_marks(char) > 0 and tone_marks(after) > 0
        if not twin:
            out.append(char)
    return "".join(out)


def _cleaned_title(raw: str, rest: Page) -> str:
    """A title as read, without OCR's slips that no title has: specks at its ends and inside it,
    a paper's misread hat, a stop between words, a vowel or a first consonant read twice; each
    pair of its words then spelled as the rest of the page prints it."""
    read = _STOP_BETWEEN.sub("", _vowels_read_once(_DOUBLED_START.sub(r"\1", _paper_title(raw))))
    # The paper's word last: the body may print the same misread ("3. Giầy phép này …").
    return _paper_title(_pairs_as_the_page_prints(_without_inner_specks(read), rest))


_INNER_SPECK = re.compile(r"(?<=\s)[^\w\s(),-]+(?=\s)|(?<=\s)[^\w\s(-]+(?=\w)")
"""A mark read between a title's words (" — ", " : ") or stuck before one (" .CƠ"): a title's
own marks are commas, brackets and hyphens."""


def _without_inner_specks(title: str) -> str:
    return " ".join(_INNER_SPECK.sub("", title).split())


def _pairs_as_the_page_prints(title: str, page: Page) -> str:
    """A title no template knows, each pair of its words spelled as the rest of the page (`page`,
    without the title) prints that pair: the body's "chứng thực" over the title's "CHỨNG THỤC".
    Pairs, not words: the body's "hồ sơ" must not respell the title's "HỘ"."""
    words = title.split()
    for k in range(len(words) - 1):
        spelled = respell(f"{words[k]} {words[k + 1]}", page).split()
        if len(spelled) == 2:
            words[k : k + 2] = spelled
    return " ".join(words)


_EDGE_SPECKS = re.compile(r"^(?:[^\w(]|_)+|(?:[^\w)]|_)+$")


def _paper_title(title: str) -> str:
    """An unknown title without the specks OCR reads at its ends ("__ XÁC NHẬN …", "… NGHÈO
    #"), and with a first word that folds like "GIẤY" (a paper: giấy phép, giấy chứng nhận …)
    spelled so: OCR reads its hat as other marks ("GIẦY", "GIÂY"), and no result's title starts
    with another word that folds so."""
    title = _EDGE_SPECKS.sub("", title)
    first, _, rest = title.partition(" ")
    if first.isupper() and fold(first) == "giay" and first != "GIẤY":
        return f"GIẤY {rest}".rstrip()
    return title


def _bare_about(page: Page, i: int) -> bool:
    """Whether line `i`, right under a bare type name ("QUYẾT ĐỊNH"), is a trích yếu printed
    without "Về việc" ("Xử phạt vi phạm hành chính"): a sentence-case line that opens no body
    part, label, number or bracketed note."""
    line = page.lines[i].strip()
    return (
        bool(line)
        and line[0].isupper()
        and not is_caps(line)
        and ":" not in line
        and not _opens_body(page, i)
        and not NUMBER.search(page.numeric[i])
        and not BARE_NUMBER.search(page.numeric[i])
    )


_RECIPIENTS = re.compile(r"^[\W_]*noi nhan\b")


def _wrapped_without_specks(pieces: list[str]) -> list[str]:
    """The lines of a trích yếu with a colon or semicolon ending one that wraps onto a line in
    small letters left out: a speck at the wrap ("… với cách:" / "mạng"), not punctuation."""
    out = list(pieces)
    for k in range(len(out) - 1):
        follows = re.sub(r"^[\W_]+", "", out[k + 1])  # "_ mạng": a speck before it too
        if out[k].rstrip().endswith((":", ";")) and follows[:1].islower():
            out[k] = out[k].rstrip().rstrip(":;")
    return out


def about_anywhere(page: Page, after: int) -> Found | None:
    """The "Về việc …" line(s) read further down than right under the title (a photographed
    page whose lines OCR gave out of order); less sure than `about`."""
    p = header_patterns()
    for i in range(after + 3, len(page)):
        lead = len(page.lines[i]) - len(_LEAD_SPECKS.sub("", page.lines[i], count=1))
        if p.about.match(page.folded[i][lead:]) and page.lines[i][lead:][:1].isupper():
            found = about(page, i - 1)
            if found is not None:
                found.confidence *= 0.8
                found.problems.append(
                    Problem("trich_yeu", ProblemCode.OCR_REPAIRED, "read away from the title")
                )
            return found
    return None


def _without_trailing_specks(text: str) -> str:
    """`text` up to its last letter, digit or closing bracket: OCR's specks after the end
    dropped, a modifier mark ("ˆ", a letter to Unicode) with them."""
    end = len(text)
    while end and not (
        text[end - 1] == ")"
        or (text[end - 1].isalnum() and unicodedata.category(text[end - 1]) != "Lm")
    ):
        end -= 1
    return text[:end]


def _matter_terms_respelled(text: str) -> str:
    """`text` with each pair of words that folds like one of the tables' matter terms, and is
    none of them as read, spelled as that term ("hỗ trợ chỉ phí" -> "hỗ trợ chi phí"). Old-style
    tone placement is the same spelling ("hoà giải" stays as printed)."""
    terms = load_tables().matter_terms
    spelled = {modern_tones(t).casefold() for t in terms}
    by_fold: dict[str, set[str]] = {}
    for term in terms:
        by_fold.setdefault(fold(term), set()).add(term)
    words = text.split()
    for k in range(len(words) - 1):
        pair = f"{words[k]} {words[k + 1]}"
        found = by_fold.get(fold(pair), set())
        if len(found) != 1 or modern_tones(pair).casefold() in spelled:
            continue
        spelling = next(iter(found)).split()
        words[k : k + 2] = [_cased(t, w) for t, w in zip(spelling, words[k : k + 2], strict=True)]
    return " ".join(words)


def _cased(word: str, model: str) -> str:
    """`word` in `model`'s case: capitals, capitalised, or as it is."""
    if model.isupper() and len(model) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if model[:1].isupper() else word


_PREAMBLE_GARBLED = re.compile(r"^[\W_]*Căn\b")
"""A line opening with "Căn" in its capital: the preamble's "Căn cứ", however OCR read the "cứ"
(a wrapped trích yếu's "căn hộ" is in small letters)."""


_LEAD_SPECKS = re.compile(r"^[\W_]+")
_INNER_STOP = re.compile(r"(?<=[^\W\d_])\.(?=[^\W\d_])")
_STOP_BEFORE_SMALL = re.compile(r"(?<=[^\W\d_])\.(?=\s+[^\W\d_])")


def _without_inner_stops(text: str) -> str:
    """`text` without a stop between two letters, or between a word and one in small letters:
    no sentence ends inside a trích yếu ("giải.quyết", "hỗ trợ chỉ. phí")."""
    text = _INNER_STOP.sub(" ", text)
    return _STOP_BEFORE_SMALL.sub(
        lambda m: "" if text[m.end() :].lstrip()[:1].islower() else m[0], text
    )


def _opens_body(page: Page, i: int) -> bool:
    """Whether line `i` opens a body part ("Căn cứ", "Xét", "Họ và tên" …), as printed: a word
    that folds like one but has another tone is another word ("Hỗ trợ …" is no "Họ …"); one
    read without marks still counts."""
    m = header_patterns().body_start.match(page.folded[i])
    if m is None:
        return False
    printed = page.lines[i][m.start() : m.end()].strip(" -–•+._")
    starts = load_tables().body_starts
    return not any(fold(w) == fold(printed) for w in starts) or bool(read_as(printed, starts))


WIDER = 1.25
"""How much longer than the line before it a line must be to be no wrap of it."""


def _wider_than(line: str, before: str) -> bool:
    """Whether `line` is longer than `before` as no wrap of it is: text wraps only when its
    line is full, so the trích yếu's next line is never clearly the longer one, and one that
    opens with a capital is never as long; such a line under it is the body's ("Về kết quả
    giải quyết đăng ký thường trú" / "Công an xã … thông báo đã …")."""
    if len(before.split()) <= 2:
        return False  # "Về việc" alone on its line, broken by hand
    if _capitalised(line):
        return len(line.strip()) >= len(before.strip())
    return len(line.strip()) > WIDER * len(before.strip()) + 4


def _capitalised(line: str) -> bool:
    """Whether the line's first letter is a capital."""
    return next((c.isupper() for c in line if c.isalpha()), False)


_ABOUT_MISREAD = re.compile(r"^v[aeo] viec ")
"""A folded "Về việc " with its vowel misread ("Và việc"): no trích yếu opens otherwise."""


def about(page: Page, after: int, *, bare_title: bool = False) -> Found | None:
    """The "Về việc …" line(s) under the title, joined. Under a title that is only a Nghị định
    30 type name (`bare_title`: "QUYẾT ĐỊNH"), the line right under it is the trích yếu even
    without "Về việc"."""
    p = header_patterns()
    for i in range(after + 1, min(after + 3, len(page))):
        # Specks before it (". -_ Về việc …"); its capital may be read small ("về việc").
        lead = len(page.lines[i]) - len(_LEAD_SPECKS.sub("", page.lines[i], count=1))
        prefixed = p.about.match(page.folded[i][lead:])
        if prefixed or (bare_title and i == after + 1 and _bare_about(page, i)):
            parts = [i]
            for j in range(i + 1, min(i + 3, len(page))):
                opens_body = _opens_body(page, j) and _capitalised(page.lines[j])
                if is_caps(page.lines[j]) or opens_body:
                    break  # a wrapped line starts in small letters: "hộ nghèo …" is no "Họ …"
                if _PREAMBLE_GARBLED.match(page.lines[j]):
                    break  # "Căn c cứ Luật …": the preamble, its "cứ" broken by a speck
                if _RECIPIENTS.match(page.folded[j]):
                    break  # "Nơi nhận:": the trích yếu read out of order, above the recipients
                if _wider_than(page.lines[j], page.lines[parts[-1]]):
                    break  # the body's first line: a wrapped line is never the wider one
                parts.append(j)
            pieces = [page.lines[j][lead if j == i else 0 :] for j in parts]
            raw = " ".join(_wrapped_without_specks(pieces))
            # Nghị định 30's trích yếu ends in a word (or a bracket): a stop, a colon or a mark
            # after it is a speck ("hòa giải viên.", "mai táng ˆ"); a stop between two letters
            # is one between two words ("giải.quyết").
            value = _without_inner_stops(_without_trailing_specks(raw))
            # A speck read as a word of its own ("Về việc › hỗ trợ"); a dash stays.
            value = " ".join(w for w in value.split() if any(c.isalnum() for c in w) or w in "-–")
            if _ABOUT_MISREAD.match(fold(value)):
                # "Vệ việc", "về việc", "Và việc": a mark, the capital or the vowel misread.
                value = "Về việc " + value.split(None, 2)[2]
            value = _matter_terms_respelled(value)
            found = Found(value, [(j, 0, len(page.lines[j])) for j in parts], 0.9, raw)
            if value != raw.strip():
                found.confidence *= 0.9
                found.problems.append(
                    Problem("trich_yeu", ProblemCode.OCR_REPAIRED, "specks or spelling mended")
                )
            return found
    return None
