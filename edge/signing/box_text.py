"""What the visible signature box says: its default text, its font, and the template's rules.

Kept apart from `edge.signing.box` (which draws the box with pyHanko and fontTools) so that the
appliance's settings can check a configured template without loading those libraries.

The template is plain text, one box line per `\\n`, with two placeholders: `{organisation}` (the
digitizing organisation) and `{time}` (the signing time, ISO 8601 at +07:00). Both are required:
Nghị định 30/2020 has the organisation's signature on a copy show the organisation and the
signing time; Luật Giao dịch điện tử 2023 Điều 12 wants the mark that the document was converted
from paper, which the default's first line carries (with the copy type, "Sao y").
"""

from __future__ import annotations

import string
from pathlib import Path

DEFAULT_TEMPLATE = "Sao y từ văn bản giấy sang văn bản điện tử\n{organisation}\n{time}"
"""The box's lines: the copy type and the conversion mark, the organisation, the signing time."""

DEFAULT_FONT = Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf")
"""Noto Serif (Debian `fonts-noto-core`): a Times-like serif with every Vietnamese letter."""

TEMPLATE_FIELDS = frozenset({"organisation", "time"})
"""The placeholders a template may (and must) use."""


def check_template(template: str) -> str:
    """Check a box template: plain text with `{organisation}` and `{time}`, nothing else.

    Returns:
        The template, unchanged.

    Raises:
        ValueError: an unknown placeholder, a format spec, or a required placeholder missing; the
            message says which.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(
            f"the signature box text is not a valid template ({e}): write {{{{ and }}}} for "
            "literal braces"
        ) from e
    seen = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                f"the signature box text has an unknown placeholder {{{name}}}: use only "
                "{organisation} and {time} (write {{ and }} for literal braces)"
            )
        seen.add(name)
    missing = TEMPLATE_FIELDS - seen
    if missing:
        raise ValueError(
            "the signature box text must show "
            + " and ".join(f"{{{name}}}" for name in sorted(missing))
            + " (Nghị định 30/2020: the organisation and the signing time)"
        )
    return template
