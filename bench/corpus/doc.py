"""The document model between the forms and the typesetter: paragraphs, two-column blocks, fields.

A form builds a `Doc` from paragraphs of styled runs; each paragraph may carry a key, and each
field names the key and the exact printed words it is read from, so the typesetter can say on
which page a field is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Run = tuple[str, str]  # (text, style) with style in r, b, i, bi


@dataclass
class Para:
    """A paragraph: runs wrapped to the column; "\\n" in a run forces a new line."""

    runs: list[Run]
    align: str = "left"  # left | center | right
    indent: float = 0.0  # first-line indent, in body em
    hang: float = 0.0  # left offset of every line, in body em
    size: float = 1.0  # relative to the body size
    before: float = 0.0  # space before, in line heights
    key: str = ""
    rule: float = 0.0  # a rule under the last line, this fraction of its width (0: none)
    gap: float = 0.0  # blank lines reserved after the paragraph for a signature and seal
    sign: bool = False  # the gap holds the signature (and the seal when `seal`)
    seal: bool = False
    fit: bool = False  # shrink rather than wrap (the national motto, titles)


@dataclass
class Columns:
    """Two columns side by side (the header; "Nơi nhận" beside the signer's block)."""

    left: list[Para]
    right: list[Para]
    left_frac: float = 0.45  # share of the text width for the left column
    kind: str = "header"  # header | signature
    before: float = 0.0


Block = Para | Columns


@dataclass
class Doc:
    """One result document: blocks in reading order, fields, and where each field is printed."""

    type_id: str
    blocks: list[Block]
    fields: dict[str, str | None]
    evidence: dict[str, tuple[str, str]]  # field → (paragraph key, printed words)
    extra: dict[str, str] = field(default_factory=dict)
    old_style: bool = False


def r(text: str) -> Run:
    return (text, "r")


def b(text: str) -> Run:
    return (text, "b")


def i(text: str) -> Run:
    return (text, "i")


def bi(text: str) -> Run:
    return (text, "bi")
