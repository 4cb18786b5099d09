"""The signer's name at the foot of a Nghị định 30 page (Phụ lục I): the name line under the
last title block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH / name"), without a rank or an academic title.

Rules of this module:
- "Nơi nhận" and the signer's block stand side by side: read row by row, a recipient's line may
  end with the signer's name; the word boxes (`Page.right`) say where the right column starts.
- A name is respelled only from the page itself and the name tables (`edge.fields.names`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from edge.fields.header import role_at
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import fix_given_names, fix_surname, person_name, respell
from edge.fields.page import Found, Page
from edge.fields.patterns import header_patterns
from edge.fields.tables import Tables, load_tables
from edge.fields.text import fold, is_caps, tone_marks

SIGNER_WINDOW = 5  # the signer's name follows the title block within this many lines


def has_signature_block(page: Page) -> bool:
    """Whether the page shows a signer's title ("KT. CHỦ TỊCH"), the bracketed signing
    instruction or "Nơi nhận": the foot of a Nghị định 30 page, as a continuation page has it."""
    return bool(_title_lines(page)) or any(_RECIPIENTS.match(low) for low in page.folded)


# "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)", by its start or, its start garbled under
# the signature, by its end.
_INSTRUCTION = re.compile(r"^\(\s*ky\b|\b(?:dong\s+d\w{1,2}u|ho\s+ten)\s*\)[\W_]*$")
_RECIPIENTS = re.compile(r"^\W*noi nhan\b")


def _title_lines(page: Page) -> list[int]:
    """Lines that end a signer's title block: a title in capitals, or the bracketed instruction
    under it."""
    return [
        i
        for i in range(len(page))
        if role_at(page.lines[i], page.folded[i]) >= 0
        or _INSTRUCTION.search(page.folded[i])
        or _cut_title(page.lines[i], page.folded[i])
    ]


MAX_LOST_LETTERS = 3
"""Letters at a title's start the seal's ring may hide ("HU TỊCH", "RƯỞNG CÔNG AN")."""


def _cut_title(line: str, low: str) -> bool:
    """Whether a line in capitals is a signer's title whose start the seal's ring hid: the end
    of a title of the tables, short of at most `MAX_LOST_LETTERS` letters or of its first word
    ("ĐỐC" for "GIÁM ĐỐC")."""
    text = " ".join(re.sub(r"[^\w ]", " ", low).split())
    if len(text.replace(" ", "")) < 3 or not is_caps(line):
        return False
    for role in _folded_roles():
        if _last_words_behind_a_speck(text, role):
            return True
        if not role.endswith(text) or role == text:
            continue
        lost = role[: len(role) - len(text)]
        if len(lost.replace(" ", "")) <= MAX_LOST_LETTERS or (
            lost.endswith(" ") and lost.count(" ") == 1
        ):
            return True
    return False


def _last_words_behind_a_speck(text: str, role: str) -> bool:
    """Whether `text` is the last word(s) of a title of two or more words, whole, after one
    or two letters the signature's stroke left of its first ("G PHÒNG" for "TRƯỞNG PHÒNG")."""
    words, title = text.split(), role.split()
    for k in range(1, len(title)):
        if words[-k:] == title[-k:] and len(words) == k + 1 and len(words[0]) <= 2:
            return True
    return False


@lru_cache(maxsize=1)
def _folded_roles() -> tuple[str, ...]:
    """The tables' signer titles of more than a prefix ("CHỦ TỊCH", not "KT."), folded."""
    roles = (" ".join(re.sub(r"[^\w ]", " ", fold(r)).split()) for r in load_tables().signer_roles)
    return tuple(r for r in roles if len(r.replace(" ", "")) > 3)


def signer(page: Page) -> Found | None:
    """The name under the last title block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH / name", or the bracketed
    instruction "(Ký, ghi rõ họ, chữ đệm, tên …)"), without a rank or academic title.

    Nghị định 30 prints the signer's name in small letters (bold), so a line in capitals is a
    title read in pieces, never the name. When OCR garbled the title itself, the name is looked
    for among the last lines of the page: a name-shaped line starting with a family name. "Nơi
    nhận" and the signer's block stand side by side: read row by row, a recipient line may end
    with the signer's name ("- Lưu: VT, LĐTBXH. Trần Văn Dũng"); only that end is read.
    """
    titles = _title_lines(page)
    if titles:
        window = range(titles[-1] + 1, min(titles[-1] + 1 + SIGNER_WINDOW, len(page)))
        found = _signer_in(page, window, require_surname=False)
        if found is not None:
            found.rule = f"the name line under the signer's title (line {titles[-1]})" + (
                found.rule
            )
            return found
    found = _signer_in(
        page, range(max(0, len(page) - SIGNER_WINDOW), len(page)), require_surname=True
    )
    if found is not None:
        found.confidence *= 0.8  # no title above it to say it is the signer
        found.rule = "a name starting with a family name at the foot of the page" + found.rule
        return found
    return _last_line_after_recipients(page)


def _last_line_after_recipients(page: Page) -> Found | None:
    """The page's last line when it comes after "Nơi nhận" and is a name and nothing else: the
    signer's name whose title OCR lost, with a family name the tables need not know ("Bon Đing
    Tư", a Cơ Ho name). Only the signer's column ends a page that has "Nơi nhận"; a recipient
    starts with a dash, and its wrapped end with a ";"."""
    last = len(page) - 1
    recipients = [i for i in range(len(page)) if _RECIPIENTS.match(page.folded[i])]
    if not recipients or recipients[-1] >= last:
        return None
    line = page.lines[last].strip(" .'`’\"“”")
    if line.startswith(("-", "+", "•")) or len(line.split()) < 2:
        return None
    name = person_name(line, load_tables(), address=False)
    if name != line or is_caps(name):
        return None
    found = Found(name, [(last, 0, len(page.lines[last]))], 0.6, name)
    found.rule = "the page's last line, a name after 'Nơi nhận' (no signer's title read)"
    return found


# A rank whose first word OCR garbled ("Tống tá" for "Thượng tá"): its grade word in small
# letters after a word is never part of a name (each word of a name is capitalised).
_GARBLED_RANK = re.compile(r"^[^\w(]*[^\W\d_]+\s+(?:tá|úy|uý|tướng)\s+")
_JOINED = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")  # "Nguyễn-Quốc": a stroke read as a hyphen
# The end of a recipient line after its last ";" or ".": where the signer's column starts.
_RECIPIENT_TAIL = re.compile(r"^[-+•].*[;.]\s*(?=\S)")


_SPECK = re.compile(r"[^\w(]*(?:([^\W\d_]{1,2})[^\w\s]*\s+(?=[^\W\d_]))?")


def _name_words_only(text: str) -> bool:
    """Whether `text` is two to seven capitalised words and nothing else: no recipient ("Như
    Điều 3;", "Lưu VT", its colon lost) is."""
    words = text.split()
    return 2 <= len(words) <= 7 and all(
        w.isalpha() and w[0].isupper() and (len(w) == 1 or w[1:].islower()) for w in words
    )


def _speck_end(line: str, offset: int) -> int:
    """Where a name may start after OCR specks at `offset`: non-letters ("“Dương"), and a one-
    or two-letter scrap in small letters before a capitalised word ("á Từ Diệu Giang")."""
    m = _SPECK.match(line, offset)
    if m is None:
        return offset
    scrap = m.group(1)
    if scrap is not None and (not scrap.islower() or not line[m.end() : m.end() + 1].isupper()):
        return m.start(1)  # a real word ("Âu Minh"), not a scrap
    return m.end()


def _from_family_name(name: str, tables: Tables) -> str:
    """`name` from its family name on, when the words before it are no syllables at all: a word
    with two tone marks ("Dạậ Tũy Kiều Trọng Nhân") is the seal's dots or the signature read
    into the line, and what stands between it and a family name goes with it."""
    words = name.split()
    garbled = [i for i, word in enumerate(words) if tone_marks(word) > 1]
    if not garbled:
        return name
    after = next(
        (i for i in range(garbled[-1] + 1, len(words)) if fold(words[i]) in tables.surnames), None
    )
    if after is None or len(words) - after < 2:
        return name
    return " ".join(words[after:])


# A clause after a name (", sinh năm 1952, quan hệ …"): a person in a list or in the body; the
# signer's name ends its line.
_CLAUSE = re.compile(r"\s*,\s*[^\W\d_]{2,}")


# A speck read as a stop or a quote between two words of a name ("Thái. Tuyết Bích Yến").
_INNER_SPECK = re.compile(r"(?<=[^\W\d_])[.'`’]+(?=\s+[^\W\d_])")


def _without_inner_specks(text: str) -> str:
    """`text` without the specks between a word and a capitalised one (a name's next word); a
    comma before a word in small letters ("…, sinh năm") is the text's own."""
    return _INNER_SPECK.sub(lambda m: "" if text[m.end() :].lstrip()[:1].isupper() else m[0], text)


def _with_small_last_word(name: str, rest: str, tables: Tables) -> str:
    """`name` with the one word that ends its line after it, when OCR read that word's capital
    small and it is a given name ("Vũ Ngọc Hồng lệ"): the signer's name ends its line, and no
    word of a line that is a name is in small letters."""
    after = rest[_end_of(rest, name) :].strip(" .").split()
    if len(after) != 1 or not after[0].isalpha() or not after[0][0].islower():
        return name
    word = after[0].capitalize()
    return f"{name} {word}" if word in tables.given_names else name


def _end_of(text: str, name: str) -> int:
    """Where `name`, read from `text`, ends in it."""
    start = text.find(name)
    return len(text) if start < 0 else start + len(name)


def _signer_in(page: Page, lines: range, *, require_surname: bool) -> Found | None:
    tables = load_tables()
    p = header_patterns()
    for i in lines:
        line = _JOINED.sub(" ", page.lines[i])
        offset = 0
        right = page.right[i]
        if right is not None and right > 0:
            offset = right  # the word boxes say where the right column (the signer's) starts
        elif line.startswith(("-", "+", "•")):
            tail = _RECIPIENT_TAIL.match(line)
            if tail is not None:
                offset = tail.end()
            elif _name_words_only(line.lstrip("-+• ")):
                # A speck read as a dash before a name ("- Đỗ Bích Trâm"); like a name after a
                # recipient, it must start with a family name of the tables.
                offset = len(line) - len(line.lstrip("-+• "))
            else:
                continue  # a recipient of "Nơi nhận" read on the same row
        elif line.startswith("("):
            continue  # "(Ký, ghi rõ họ tên)"
        rank = p.rank.match(page.folded[i][offset:]) or _GARBLED_RANK.match(line[offset:])
        if rank:
            offset += rank.end()
        # OCR specks before the name ("“Dương …", "á Từ Diệu Giang": a rank's last letter).
        offset = _speck_end(line, offset)
        rest = _without_inner_specks(line[offset:])
        name = person_name(rest, tables, address=False)
        if name is None or is_caps(name) or _CLAUSE.match(rest, _end_of(rest, name)):
            continue
        name = _with_small_last_word(name, rest, tables)
        read, name = name, _from_family_name(name, tables)
        known_surname = fold(name.split()[0]) in tables.surnames
        fixed = fix_given_names(fix_surname(respell(name, page), tables), tables)
        by_punctuation = offset and not rank and right is None
        if (require_surname or by_punctuation) and fold(fixed.split()[0]) not in tables.surnames:
            continue  # a recipient's words, not a name
        start = offset + line[offset:].find(name.split()[0])
        found = Found(name, [(i, start, start + len(name))], 0.9, name)
        if right:
            found.rule += ", in the right column of its row (word boxes)"
        elif offset and not rank:
            found.rule += ", at the end of a 'Nơi nhận' row read with it"
        if rank:
            found.problems.append(
                Problem("nguoi_ky", ProblemCode.RANK_REMOVED, "a rank or title was left out")
            )
            found.rule += f", rank {page.lines[i][offset - rank.end() : offset].strip()!r} left out"
        if name != read:
            found.confidence *= 0.8
            found.problems.append(
                Problem(
                    "nguoi_ky", ProblemCode.OCR_REPAIRED, "garbled words before the name left out"
                )
            )
        if fixed != name:
            found.value = fixed
            found.confidence *= 0.9
            found.problems.append(Problem("nguoi_ky", ProblemCode.OCR_REPAIRED, "name respelled"))
        elif known_surname:
            found.confidence = 1.0  # a known family name: the line is a name, not OCR noise
        return found
    return None
