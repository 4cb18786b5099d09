"""The visible signature box: the organisation's signature on a converted copy (Nghị định 30/2020).

What the box is, after Nghị định 30/2020/NĐ-CP Phụ lục I (the digitizing organisation's signature
on a copy) and Luật Giao dịch điện tử 2023 Điều 12 (the mark that a document was converted from
paper, and who converted it):
- at the top right of the first page, inside the page's top margin (Nghị định 30 asks for 20-25 mm,
  the box's bottom edge is ~18 mm below the top of the page);
- no image: text only, upright, black, in a thin black frame. The decree names Times New Roman 10;
  Debian has no Times with Vietnamese glyphs (Liberation lacks 39 of them), so the default is Noto
  Serif (`fonts-noto-core`) at 10 pt, embedded as a subset (PDF/A-2b requires embedded fonts);
- its lines come from a template (configurable, `edge.signing.box_text`) with `{organisation}` and
  `{time}`; the default names the copy type and the conversion ("Sao y từ văn bản giấy sang văn
  bản điện tử"), then the organisation, then the signing time in ISO 8601 with Vietnam's
  offset, e.g. 2026-11-27T14:05:09+07:00.

The time shown is the signature's own `/M` entry: pyHanko renders the appearance from the signing
session's time, the same value it writes to `/M` (both to the second). `SignatureBoxStyle` only
re-expresses that instant at +07:00.

Drawing uses pyHanko's stamp machinery (`TextStampStyle`, a `SigFieldSpec` with a box). The font is
subset once per signer to the characters the box can show: pyHanko parses and subsets the font
again for every signature, which takes ~200 ms on the full Noto Serif and ~2 ms on the subset.
"""

from __future__ import annotations

import functools
import io
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools import subset, ttLib
from fontTools.ttLib import TTLibError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields
from pyhanko.stamp import TextStamp, TextStampStyle

from edge.errors import SigningError
from edge.pdf.xmp import VIETNAM_TIME
from edge.signing.box_text import DEFAULT_FONT, DEFAULT_TEMPLATE, check_template

FONT_SIZE = 10
"""Points; Nghị định 30/2020 asks for size 10."""
LEADING = 12
"""Points between baselines (pyHanko takes whole points)."""
PADDING = 4
"""Points between the frame and the text."""
PAGE_MARGIN = 8
"""Points between the box and the page's top and right edges."""
BORDER = 1
"""The frame's line width in points."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""How pyHanko hands the signing time to the style (parsed back by `SignatureBoxStyle`)."""
_SAMPLE_TIME = "2026-11-27T14:05:09+07:00"
"""A time as the box shows it, for measuring the box (digits share one advance width)."""
_TIME_CHARACTERS = frozenset(string.digits + "-:T+")

# Parts of pyHanko's API are unannotated; `Any` handles keep mypy's untyped-call check quiet.
_MARGINS: Any = layout.Margins


def box_time(when: datetime) -> str:
    """The signing time as the box shows it: ISO 8601 to the second at +07:00."""
    return when.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SignatureBox:
    """What the visible box says and how it is drawn (the configurable part).

    Attributes:
        template: the box's lines (`\\n` between them) with `{organisation}` and `{time}`.
        font: a TrueType/OpenType font file with Vietnamese glyphs, embedded as a subset.
    """

    template: str = DEFAULT_TEMPLATE
    font: Path = DEFAULT_FONT

    def __post_init__(self) -> None:
        """Refuse a template with unknown or missing placeholders (as a SigningError)."""
        try:
            check_template(self.template)
        except ValueError as e:
            raise SigningError(str(e)) from e

    def text(self, organisation: str, when: datetime) -> str:
        """The box's text for `organisation` signing at `when`."""
        return self.template.format(organisation=organisation, time=box_time(when))


@dataclass(frozen=True)
class SignatureBoxStyle(TextStampStyle):
    """pyHanko's text stamp, with the signing time shown in ISO 8601 at +07:00.

    pyHanko formats the signing session's time with `timestamp_format` (here ISO 8601 with the
    offset it has) into the `ts` parameter; `create_stamp` reads that instant back and shows it
    at Vietnam's offset, which a strftime format alone cannot do.
    """

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> TextStamp:
        """Draw the stamp with `ts` re-expressed at +07:00 (see the class docstring)."""
        params = dict(text_params)
        params["ts"] = box_time(datetime.strptime(params["ts"], _TIME_FORMAT))
        return super().create_stamp(writer, box, params)


class _SubsetFontFactory(FontEngineFactory):
    """Hands pyHanko a font already cut down to the box's characters (see the module doc)."""

    def __init__(self, font: bytes) -> None:
        self._font = font

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> GlyphAccumulator:
        """A glyph accumulator over the subset (pyHanko subsets it again to the glyphs used)."""
        return GlyphAccumulator(
            writer=writer, font_handle=io.BytesIO(self._font), font_size=FONT_SIZE
        )


class BoxAppearance:
    """The box prepared for one signer (organisation fixed): font subset, style and size."""

    def __init__(self, box: SignatureBox, organisation: str) -> None:
        """Prepare the box's font and measure the box.

        Raises:
            SigningError: the font is missing, unreadable, or lacks a character of the text.
        """
        self.box = box
        self.organisation = organisation
        # The static text is fixed per signer; pyHanko fills the time in for each signature.
        literal = box.template.replace("%", "%%")
        self._stamp_text = literal.format(
            organisation=organisation.replace("%", "%%"), time="%(ts)s"
        )
        sample = box.template.format(organisation=organisation, time=_SAMPLE_TIME)
        characters = frozenset(sample.replace("\n", "")) | _TIME_CHARACTERS | {" "}
        font = _subset_font(box.font, characters)
        self.width, self.height = _measure(font, sample.split("\n"))
        self.style = SignatureBoxStyle(
            stamp_text=self._stamp_text,
            timestamp_format=_TIME_FORMAT,
            border_width=BORDER,
            text_box_style=TextBoxStyle(
                font=_SubsetFontFactory(font),
                font_size=FONT_SIZE,
                leading=LEADING,
                box_layout_rule=layout.SimpleBoxLayoutRule(
                    x_align=layout.AxisAlignment.ALIGN_MIN,
                    y_align=layout.AxisAlignment.ALIGN_MID,
                ),
            ),
            inner_content_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=_MARGINS.uniform(PADDING),
            ),
        )

    def field_spec(self, writer: BasePdfFileWriter, field_name: str) -> fields.SigFieldSpec:
        """A signature field at the top right of the document's first page.

        Raises:
            SigningError: the first page has no usable page box.
        """
        left, bottom, right, top = first_page_box(writer)
        x2 = int(right - PAGE_MARGIN)
        y2 = int(top - PAGE_MARGIN)
        x1 = max(int(left), x2 - self.width)
        y1 = max(int(bottom), y2 - self.height)
        return fields.SigFieldSpec(field_name, on_page=0, box=(x1, y1, x2, y2))


def first_page_box(writer: BasePdfFileWriter) -> tuple[float, float, float, float]:
    """The visible area (CropBox, else MediaBox, inherited or not) of the first page.

    Raises:
        SigningError: the document has no pages or no page box.
    """
    pages: Any = writer
    try:
        page_ref, _ = pages.find_page_for_modification(0)
    except (IndexError, KeyError, ValueError) as e:
        raise SigningError(f"the document has no first page to put the signature on ({e})") from e
    node: Any = page_ref.get_object()
    while node is not None:
        for key in ("/CropBox", "/MediaBox"):
            if key in node:
                values = [float(v) for v in node[key]]
                if len(values) == 4:
                    x1, y1, x2, y2 = values
                    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
        # Indexing resolves an indirect reference; dict.get would not (pyHanko's dictionaries).
        node = node["/Parent"] if "/Parent" in node else None  # noqa: SIM401
    raise SigningError("the document's first page has no page box (/MediaBox): it is malformed")


@functools.lru_cache(maxsize=8)
def _subset_font(path: Path, characters: frozenset[str]) -> bytes:
    """`path` cut down to `characters` (a TTF/OTF's bytes), checking it has every one."""
    try:
        font = ttLib.TTFont(str(path))
    except (OSError, TTLibError) as e:
        raise SigningError(
            f"the signature box font {path} cannot be read ({e}): install it (Noto Serif is in "
            "Debian's fonts-noto-core) or set 'signature_font' to a TrueType font"
        ) from e
    cmap = font.getBestCmap() or {}
    missing = sorted(c for c in characters if ord(c) not in cmap)
    if missing:
        raise SigningError(
            f"the signature box font {path} has no glyph for {''.join(missing)!r}: use a font "
            "with Vietnamese letters, e.g. Noto Serif from fonts-noto-core"
        )
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the names: pyHanko reads the PostScript name
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in characters])
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _measure(font: bytes, lines: list[str]) -> tuple[int, int]:
    """The box's width and height in points for `lines` set in `font` (shaped as pyHanko does)."""
    face = hb.Face(font)
    shaper = hb.Font(face)
    widest = 0.0
    for line in lines:
        buffer = hb.Buffer()
        buffer.add_str(line)
        buffer.guess_segment_properties()
        hb.shape(shaper, buffer, {})
        advance = sum(position.x_advance for position in buffer.glyph_positions)
        widest = max(widest, advance / face.upem * FONT_SIZE)
    # Rounded up, plus a point of slack: pyHanko shrinks the text if it ever overflows.
    width = int(widest) + 2 + 2 * PADDING
    height = len(lines) * LEADING + 2 * PADDING
    return width, height
