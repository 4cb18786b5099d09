"""The pages' colours read well: every text colour of the stylesheet on the background it is
drawn on has a contrast ratio of at least 4.5:1 (WCAG 2.1, 1.4.3, normal text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).parents[3] / "server" / "web" / "static" / "site.css"
WHITE = "#ffffff"


def _variables() -> dict[str, str]:
    found = re.findall(r"--([a-z]+):\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", CSS.read_text("utf-8"))
    return {name: "#" + (v if len(v) == 6 else "".join(c * 2 for c in v)) for name, v in found}


def _luminance(colour: str) -> float:
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    """The WCAG contrast ratio of two colours (#rrggbb)."""
    a, b = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


V = _variables()
PAIRS = [
    ("text on the page", V["ink"], WHITE),
    ("muted text on the page", V["muted"], WHITE),
    ("muted text on a table head", V["muted"], V["bg"]),
    ("links on the page", V["link"], WHITE),
    ("the header's text on its blue", WHITE, V["accent"]),
    ("a button's text", WHITE, V["accent"]),
    ("a refusal's text on its pink", V["ink"], "#fdeeee"),
    ("a warning's text on its amber", V["ink"], "#fff4e0"),
    ("a notice's text on its green", V["ink"], "#eaf5ee"),
    ("done in green", V["good"], WHITE),
    ("late in red", V["bad"], WHITE),
    ("a warning tag", V["warn"], WHITE),
    ("a marked match", V["ink"], "#ffe27a"),
]


@pytest.mark.parametrize(("what", "text", "background"), PAIRS, ids=[p[0] for p in PAIRS])
def test_text_stands_out_from_its_background(what: str, text: str, background: str) -> None:
    assert contrast(text, background) >= 4.5, f"{what}: {contrast(text, background):.2f}:1"


def test_the_check_can_fail() -> None:
    assert contrast("#777777", WHITE) < 4.5 < contrast("#595959", WHITE)
