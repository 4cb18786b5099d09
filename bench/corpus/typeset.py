"""Lay out a `Doc` on A4 pages at 300 dpi with PIL, and record every printed line exactly.

The layout varies per document (margins, body size, line spacing, justification, header column
widths); text flows onto a second page when it must, and the signer's block is never split.
Each printed line is recorded with its text and ink box in page pixels; the page text is those
lines in logical reading order (a two-column block's left column first), with the row-by-row
readings of the two-column blocks as alternatives, like shared/corpus-dev.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bench.corpus.doc import Columns, Doc, Para
from bench.corpus.fonts import Family

PAGE_W, PAGE_H = 2480, 3508
DPI = 300
MM = DPI / 25.4
INK = (22, 22, 24)


@dataclass(frozen=True)
class Layout:
    """The typographic choices of one document."""

    family: Family
    body_pt: float
    line_factor: float
    margins_mm: tuple[float, float, float, float]  # left, top, right, bottom
    justify: bool
    header_frac: float
    para_space: float

    @staticmethod
    def random(rng: random.Random, family: Family) -> Layout:
        return Layout(
            family=family,
            body_pt=rng.choice([12.5, 13.0, 13.0, 13.5, 14.0, 14.0]),
            line_factor=rng.uniform(1.18, 1.5),
            margins_mm=(
                rng.uniform(25, 35),
                rng.uniform(15, 25),
                rng.uniform(15, 20),
                rng.uniform(15, 25),
            ),
            justify=rng.random() < 0.6,
            header_frac=rng.uniform(0.38, 0.5),
            para_space=rng.choice([0.0, 0.0, 0.15, 0.3]),
        )

    @property
    def body_px(self) -> int:
        return round(self.body_pt * DPI / 72)


@dataclass
class Line:
    """A printed line: text, ink box in page pixels, and where it came from."""

    text: str
    bbox: tuple[int, int, int, int]
    key: str
    block: int  # index of the Doc block
    col: str  # "" for a full-width paragraph, "L" or "R" in a two-column block


@dataclass
class Word:
    x: float
    y: float
    text: str
    style: str
    px: int


@dataclass
class Page:
    """One laid-out page: what to draw, and the printed lines in logical order."""

    words: list[Word] = field(default_factory=list)
    rules: list[tuple[int, int, int]] = field(default_factory=list)  # x0, y, x1
    sign_boxes: list[tuple[int, int, int, int, bool]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)  # block indices of two-column blocks here


class _Flow:
    """The running state of the layout: pages and the current y."""

    def __init__(self, layout: Layout) -> None:
        self.lay = layout
        left, top, right, bottom = (m * MM for m in layout.margins_mm)
        self.x0, self.x1 = left, PAGE_W - right
        self.top, self.bottom = top, PAGE_H - bottom
        self.pages: list[Page] = [Page()]
        self.y = self.top

    def new_page(self) -> None:
        self.pages.append(Page())
        self.y = self.top
        # Nghị định 30: pages from the second on carry their number, centred at the top
        number = str(len(self.pages))
        px = round(self.lay.body_px * 0.95)
        font = self.lay.family.font("r", px)
        w = font.getlength(number)
        x, y = (PAGE_W - w) / 2, self.top - 0.4 * MM * 10
        page = self.pages[-1]
        page.words.append(Word(x, y, number, "r", px))
        left, t, right, bot = font.getbbox(number)
        page.lines.append(
            Line(
                number,
                (round(x + left), round(y + t), round(x + right), round(y + bot)),
                "page_number",
                -1,
                "",
            )
        )


Token = list[tuple[str, str]]  # a word as (text, style) parts: "Thuận" (bold) + "," (regular)


def _segments(para: Para) -> list[list[Token]]:
    """The paragraph's words, cut at forced line breaks; runs that meet without a space glue
    their words together (a bold name and the comma after it are one word)."""
    segs: list[list[Token]] = [[]]
    glue = False  # the previous run ended inside a word
    for text, style in para.runs:
        parts = text.split("\n")
        for k, part in enumerate(parts):
            if k:
                segs.append([])
                glue = False
            words = part.replace("    ", " \t ").split(" ")
            for n, w in enumerate(words):
                if not w:
                    continue
                if n == 0 and glue and segs[-1]:
                    segs[-1][-1].append((w, style))
                else:
                    segs[-1].append([(w, style)])
            glue = bool(part) and not part[-1].isspace()
    return [s for s in segs if s]


def _text(tok: Token) -> str:
    return "".join(t for t, _ in tok)


def _para(
    flow: _Flow,
    para: Para,
    x0: float,
    x1: float,
    block: int,
    col: str,
    page: Page,
    y: float,
    breakable: bool,
) -> tuple[float, Page]:
    """Lay out one paragraph from y between x0 and x1; returns the new y and page."""
    lay = flow.lay
    px = round(lay.body_px * para.size)
    line_h = px * lay.line_factor
    em = lay.body_px

    def width(tok: Token, size: int) -> float:
        if _text(tok) == "\t":
            return 1.5 * em
        return sum(float(lay.family.font(st, size).getlength(t)) for t, st in tok)

    def space(tok: Token) -> float:
        return float(lay.family.font(tok[-1][1], px).getlength(" "))

    if para.fit:  # a heading line that must not wrap: a smaller size instead
        for seg in _segments(para):
            need = sum(width(tok, px) + space(tok) for tok in seg)
            if need > x1 - x0:
                px = max(round(px * (x1 - x0) / need), round(px * 0.7))

    y += para.before * line_h
    for seg in _segments(para):
        first = True
        rest = seg
        while rest:
            left = x0 + para.hang * em + (para.indent * em if first else 0)
            avail = x1 - left
            line: list[tuple[Token, float]] = []
            used = 0.0
            for tok in rest:
                ww = width(tok, px)
                add = ww + (space(line[-1][0]) if line else 0)
                if line and used + add > avail:
                    break
                line.append((tok, ww))
                used += add
            rest = rest[len(line) :]
            while line and _text(line[-1][0]) == "\t":
                ww = line.pop()[1]
                used -= ww + (space(line[-1][0]) if line else 0)
            while rest and _text(rest[0]) == "\t":
                rest = rest[1:]
            if breakable and y + line_h > flow.bottom:
                flow.new_page()
                page, y = flow.pages[-1], flow.y
            extra = 0.0
            if para.align == "center":
                left += (avail - used) / 2
            elif para.align == "right":
                left += avail - used
            elif lay.justify and rest and len(line) > 1 and para.align == "left":
                extra = (avail - used) / (len(line) - 1)
            x = left
            box = [math.inf, math.inf, -math.inf, -math.inf]
            for k, (tok, ww) in enumerate(line):
                if k:
                    x += space(line[k - 1][0]) + extra
                if _text(tok) == "\t":
                    x += ww
                    continue
                for t, st in tok:
                    font = lay.family.font(st, px)
                    page.words.append(Word(x, y, t, st, px))
                    bl, bt, br, bb = font.getbbox(t)
                    box = [
                        min(box[0], x + bl),
                        min(box[1], y + bt),
                        max(box[2], x + br),
                        max(box[3], y + bb),
                    ]
                    x += float(font.getlength(t))
            text = " ".join(_text(tok) for tok, _ in line if _text(tok) != "\t")
            page.lines.append(
                Line(
                    text,
                    (round(box[0]), round(box[1]), round(box[2]), round(box[3])),
                    para.key,
                    block,
                    col,
                )
            )
            y += line_h
            first = False
    if para.rule:
        last = page.lines[-1].bbox
        cx, half = (last[0] + last[2]) / 2, (last[2] - last[0]) * para.rule / 2
        page.rules.append((round(cx - half), round(last[3] + 0.25 * line_h), round(cx + half)))
        y += 0.3 * line_h
    if para.gap:
        top = y
        y += para.gap * line_h
        if para.sign:
            page.sign_boxes.append((round(x0), round(top), round(x1), round(y), para.seal))
    return y + lay.para_space * line_h, page


def _columns(flow: _Flow, blk: Columns, index: int, page: Page, y: float) -> tuple[float, Page]:
    split = flow.x0 + (flow.x1 - flow.x0) * (
        flow.lay.header_frac if blk.kind == "header" else blk.left_frac
    )
    gutter = 0.02 * (flow.x1 - flow.x0)
    ly = ry = y
    for p in blk.left:
        ly, _ = _para(
            flow,
            p,
            flow.x0 - (0.04 * (flow.x1 - flow.x0) if blk.kind == "header" else 0),
            split - gutter,
            index,
            "L",
            page,
            ly,
            False,
        )
    for p in blk.right:
        ry, _ = _para(flow, p, split + gutter, flow.x1, index, "R", page, ry, False)
    page.columns.append(index)
    return max(ly, ry), page


def _height(flow: _Flow, blk: Columns | Para, index: int) -> float:
    """The height a block takes, by laying it out on a scratch page."""
    scratch = Page()
    y0 = 0.0
    if isinstance(blk, Columns):
        y, _ = _columns(flow, blk, index, scratch, y0)
    else:
        y, _ = _para(flow, blk, flow.x0, flow.x1, index, "", scratch, y0, False)
    return y - y0


def lay_out(doc: Doc, layout: Layout) -> list[Page]:
    """Pages with words, rules, signature boxes and printed lines."""
    flow = _Flow(layout)
    line_h = layout.body_px * layout.line_factor
    for index, blk in enumerate(doc.blocks):
        keep = isinstance(blk, Columns) or blk.gap > 0
        if keep:
            before = blk.before * line_h
            if flow.y + before + _height(flow, blk, index) > flow.bottom:
                flow.new_page()
            else:
                flow.y += before
        page = flow.pages[-1]
        if isinstance(blk, Columns):
            flow.y, page = _columns(flow, blk, index, page, flow.y)
        else:
            flow.y, page = _para(flow, blk, flow.x0, flow.x1, index, "", page, flow.y, not keep)
    return flow.pages


# --- page text ----------------------------------------------------------------------------------


def _rows(lines: list[Line]) -> list[str]:
    """A two-column block read row by row: lines whose middles are close share a row."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2):
        mid = (ln.bbox[1] + ln.bbox[3]) / 2
        h = ln.bbox[3] - ln.bbox[1]
        if rows:
            last = rows[-1][-1]
            if abs(mid - (last.bbox[1] + last.bbox[3]) / 2) < 0.5 * min(
                h, last.bbox[3] - last.bbox[1]
            ):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [" ".join(ln.text for ln in sorted(row, key=lambda ln: ln.bbox[0])) for row in rows]


def page_texts(page: Page) -> tuple[str, list[str]]:
    """The logical text of the page and its alternatives (two-column blocks row by row)."""
    logical = "\n".join(ln.text for ln in page.lines)
    variants: list[str] = []
    for choice in itertools.product([False, True], repeat=len(page.columns)):
        if not any(choice):
            continue
        row_blocks = {b for b, c in zip(page.columns, choice, strict=True) if c}
        out: list[str] = []
        done: set[int] = set()
        for ln in page.lines:
            if ln.block in row_blocks:
                if ln.block not in done:
                    done.add(ln.block)
                    out += _rows([x for x in page.lines if x.block == ln.block])
            else:
                out.append(ln.text)
        text = "\n".join(out)
        if text != logical and text not in variants:
            variants.append(text)
    return logical, variants


# --- drawing ------------------------------------------------------------------------------------


def _signature(img: np.ndarray, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2 + rng.uniform(-60, 60), (y0 + y1) / 2 + rng.uniform(-20, 20)
    w, h = min(380, (x1 - x0) * 0.5), max(40, (y1 - y0) * 0.35)
    pts = []
    for t in np.linspace(0, 1, 90):
        pts.append(
            (
                cx - w / 2 + w * t + 25 * math.sin(t * rng.uniform(18, 30)),
                cy + h / 2 * math.sin(t * rng.uniform(9, 16) + rng.uniform(0, 3)) * (1 - t * 0.5),
            )
        )
    color = (40, 50, 150) if rng.random() < 0.7 else (30, 30, 35)
    cv2.polylines(img, [np.array(pts, np.int32)], False, color, rng.randint(3, 5), cv2.LINE_AA)


def _seal(img: np.ndarray, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    radius = int(min(215, max(150, (y1 - y0) * 0.62)))
    cx = int(x0 + (x1 - x0) * rng.uniform(0.22, 0.35))
    cy = int((y0 + y1) / 2 + rng.uniform(-20, 20))
    mask = np.zeros((2 * radius + 8, 2 * radius + 8), np.uint8)
    c = radius + 4
    cv2.circle(mask, (c, c), radius, 255, 9, cv2.LINE_AA)
    cv2.circle(mask, (c, c), int(radius * 0.68), 255, 4, cv2.LINE_AA)
    star = [
        (
            c + radius * 0.3 * math.cos(math.pi / 2 + k * 4 * math.pi / 5),
            c - radius * 0.3 * math.sin(math.pi / 2 + k * 4 * math.pi / 5),
        )
        for k in range(5)
    ]
    cv2.fillPoly(mask, [np.array(star, np.int32)], 255, cv2.LINE_AA)
    for k in range(28):  # the ring's lettering, as short strokes
        a = 2 * math.pi * k / 28
        r1, r2 = radius * 0.76, radius * 0.92
        cv2.line(
            mask,
            (int(c + r1 * math.cos(a)), int(c + r1 * math.sin(a))),
            (int(c + r2 * math.cos(a + 0.05)), int(c + r2 * math.sin(a + 0.05))),
            255,
            5,
        )
    ya, xa = cy - c, cx - c
    ys, xs = slice(max(ya, 0), ya + mask.shape[0]), slice(max(xa, 0), xa + mask.shape[1])
    roi = img[ys, xs].astype(np.float32)
    m = mask[
        ys.start - ya : ys.start - ya + roi.shape[0], xs.start - xa : xs.start - xa + roi.shape[1]
    ]
    alpha = (m.astype(np.float32) / 255 * rng.uniform(0.7, 0.9))[..., None]
    red = np.array([205, 45, 50], np.float32)
    img[ys, xs] = (roi * (1 - alpha) + np.minimum(roi, red) * alpha).astype(np.uint8)


def render(page: Page, layout: Layout, rng: random.Random) -> np.ndarray:
    """The page as an RGB array (PAGE_H × PAGE_W × 3), with signature and seal in colour."""
    im = Image.new("RGB", (PAGE_W, PAGE_H), (253, 253, 251))
    draw = ImageDraw.Draw(im)
    for w in page.words:
        draw.text((w.x, w.y), w.text, font=layout.family.font(w.style, w.px), fill=INK)
    for x0, y, x1 in page.rules:
        draw.line([(x0, y), (x1, y)], fill=INK, width=3)
    arr = np.asarray(im).copy()
    for x0, y0, x1, y1, seal in page.sign_boxes:
        _signature(arr, (x0, y0, x1, y1), rng)
        if seal:
            _seal(arr, (x0, y0, x1, y1), rng)
    return arr
