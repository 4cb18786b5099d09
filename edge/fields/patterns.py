"""The compiled patterns of a Nghị định 30 page's header and signer's block, built once from
the tables (`labels.toml`, `ranks.toml`): shared by the header's readers and the signer's."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from edge.fields.tables import load_tables
from edge.fields.text import fold, label_pattern


@dataclass(frozen=True)
class HeaderPatterns:
    """The compiled patterns of the header and the signer's block, built from the tables."""

    national: tuple[re.Pattern[str], ...]
    national_start: re.Pattern[str]
    bare_body: re.Pattern[str]
    about: re.Pattern[str]
    body_start: re.Pattern[str]
    role: re.Pattern[str]
    rank: re.Pattern[str]


_MOTTO_READ_LOOSELY = (
    r"(?<![^\W_])d\wc\s*lap\W+tu\s*d|(?<![^\W_])d\wc\s*l\w{1,3}\W.*\bh\wnh\s*ph\wc\b"
    r"|^\W*d\wc\s*lap\W*$|(?<![^\W_])tu\s*do\W+h\wnh\s*ph\wc\b"
)
"""The motto with its hyphen or a mark misread ("Độc lập : Tự do", "Đậc lập- Tự d do"), or its
middle ("Độc lâu - Eự đủ - Hạnh phúc"), or broken over two lines ("Độc lập -" / "Tự do - Hạnh
phúc"), folded."""


@lru_cache(maxsize=1)
def header_patterns() -> HeaderPatterns:
    """The patterns, compiled once per process."""
    t = load_tables()
    return HeaderPatterns(
        national=tuple(re.compile(label_pattern([p])) for p in t.national_header),
        national_start=re.compile(
            f"{label_pattern(t.national_header_starts)}|{_MOTTO_READ_LOOSELY}"
        ),
        bare_body=re.compile(rf"^{label_pattern(t.bare_body_names)}$"),
        about=re.compile(rf"^{label_pattern(t.about_prefixes)}\b"),
        body_start=re.compile(rf"^[-–•+._\s]*{label_pattern(t.body_starts)}\b"),
        role=re.compile(rf"(?:^|\s){label_pattern(t.signer_roles)}"),
        rank=re.compile(rf"^(?:{_rank_pattern(t.ranks)}|{label_pattern(t.name_titles)})\s+"),
    )


def _rank_pattern(ranks: Iterable[str]) -> str:
    """Ranks in folded text, their last word's letters each allowed to be an OCR speck.

    The rank's first word ("thieu", "dai", "trung") must be read whole; its short second word
    under a signature's stroke or a seal's edge is often not ("Thiếu †á"): that speck must not
    make the rank part of the name, nor keep the name from being read.
    """
    alternatives = []
    for rank in sorted(set(ranks), key=len, reverse=True):
        *head, last = fold(rank).split()
        if not head:  # a one-word rank: read whole
            alternatives.append(re.escape(last))
            continue
        loose = "".join(rf"(?:{re.escape(c)}|[^\w\s])" for c in last)
        alternatives.append(r"\W*".join([*(re.escape(w) for w in head), loose]))
    return "(?:" + "|".join(alternatives) + ")"
