"""Make a corpus directory: typeset documents, capture their pages, write sidecars and manifest.

Everything is drawn from random streams seeded by (seed, split, document number), so the same
arguments give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.corpus import fonts, forms
from bench.corpus.capture import CONDITIONS, Capture, capture
from bench.corpus.doc import Doc, Para
from bench.corpus.parts import Ctx
from bench.corpus.people import old_style
from bench.corpus.typeset import DPI, PAGE_H, PAGE_W, Layout, Page, lay_out, page_texts, render

VERSION = "1.0"
log = logging.getLogger("bench.corpus")


def _collapse(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip()


def _old_style(doc: Doc) -> None:
    """Print the whole document with old-style tone placement (fields follow what is printed)."""
    paras = [blk for blk in doc.blocks if isinstance(blk, Para)]
    for blk in doc.blocks:
        if not isinstance(blk, Para):
            paras += blk.left + blk.right
    for para in paras:
        para.runs = [(old_style(t), st) for t, st in para.runs]
    doc.fields = {
        k: (old_style(v) if v is not None and k not in ("cccd",) else v)
        for k, v in doc.fields.items()
    }
    doc.evidence = {k: (key, old_style(pr)) for k, (key, pr) in doc.evidence.items()}
    doc.old_style = True


def page_fields(doc: Doc, page: Page) -> dict[str, str | None]:
    """The fields visible on the page: their printed words are in their paragraphs there."""
    out: dict[str, str | None] = {}
    for name, value in doc.fields.items():
        out[name] = None
        if value is None or name not in doc.evidence:
            continue
        key, printed = doc.evidence[name]
        text = _collapse(" ".join(ln.text for ln in page.lines if ln.key == key))
        if _collapse(printed) in text:
            out[name] = value
    return out


def make_doc(
    seed: int, split: str, index: int, type_id: str, families: list[str] | None = None
) -> tuple[Doc, Layout, random.Random]:
    rng = random.Random(f"{seed}:{split}:{index}")
    mix = dict.fromkeys(families, 1.0) if families else forms.FONT_MIX[split]
    family = fonts.pick(rng.random(), mix)
    layout = Layout.random(rng, family)
    doc = forms.TYPES[type_id](Ctx.new(rng, split))
    if rng.random() < 0.25:
        _old_style(doc)
    return doc, layout, rng


def doc_type(seed: int, split: str, index: int, only: list[str] | None = None) -> str:
    """The type of document number `index` (from 0) of a set made with `seed`: the split's
    types (those in `only`, when given) are dealt in a shuffled order, reshuffled each round."""
    types = [t for t in forms.types_of(split) if only is None or t in only]
    order = random.Random(f"{seed}:{split}:types")
    cycle: list[str] = []
    for _ in range(index + 1):
        if not cycle:
            cycle = types[:]
            order.shuffle(cycle)
        type_id = cycle.pop()
    return type_id


def one_capture(seed: int, split: str, index: int, condition: str, page: int = 1) -> Capture:
    """One capture of a set made with `seed`, exactly as `generate` writes it: document number
    `index` (from 0), its page `page` (from 1), under `condition`. For tests that replay the
    one capture a rule was made for."""
    doc, layout, rng = make_doc(seed, split, index, doc_type(seed, split, index))
    pages = lay_out(doc, layout)
    for rendered in pages[: page - 1]:
        render(rendered, layout, rng)  # each page's rendering draws on the document's rng
    rgb = render(pages[page - 1], layout, rng)
    return capture(rgb, condition, random.Random(f"{seed}:{split}:{index}:{page}:{condition}"))


def _round(x: float) -> float:
    return round(float(x), 1)


def _map(hom: np.ndarray, pts: list[tuple[float, float]]) -> list[list[float]]:
    res = cv2.perspectiveTransform(np.array([pts], np.float64), hom)[0]
    return [[_round(x), _round(y)] for x, y in res]


def generate(
    out: Path,
    split: str,
    docs: int,
    seed: int,
    conditions: list[str],
    per_doc: int = 2,
    families: list[str] | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Write `docs` documents of the split into `out`; returns the manifest. `families`, when
    given, replaces the split's font mix (equal shares): a stress set in fonts neither split
    uses. `only`, when given, keeps to those of the split's types."""
    out.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    for n in range(docs):
        type_id = doc_type(seed, split, n, only)
        doc, layout, rng = make_doc(seed, split, n, type_id, families)
        pages = lay_out(doc, layout)
        doc_id = f"{'d' if split == 'dev' else 'h'}{n + 1:03d}"
        conds = [
            conditions[(n * per_doc + k) % len(conditions)]
            for k in range(min(per_doc, len(conditions)))
        ]
        for pno, page in enumerate(pages, 1):
            rgb = render(page, layout, rng)
            text, alts = page_texts(page)
            fields = page_fields(doc, page)
            for cond in conds:
                cap = capture(rgb, cond, random.Random(f"{seed}:{split}:{n}:{pno}:{cond}"))
                name = f"{doc_id}_p{pno}_{cond}.{cap.ext}"
                (out / name).write_bytes(cap.data)
                lines = [
                    {
                        "text": ln.text,
                        "bbox": list(ln.bbox),
                        "quad": _map(
                            cap.H,
                            [
                                (ln.bbox[0], ln.bbox[1]),
                                (ln.bbox[2], ln.bbox[1]),
                                (ln.bbox[2], ln.bbox[3]),
                                (ln.bbox[0], ln.bbox[3]),
                            ],
                        ),
                    }
                    for ln in page.lines
                ]
                sidecar = {
                    "image": name,
                    "doc_id": doc_id,
                    "condition": cond,
                    "page": pno,
                    "pages": len(pages),
                    "width": cap.width,
                    "height": cap.height,
                    "dpi": cap.dpi,
                    "text": text,
                    "text_alt": alts,
                    "fields": fields,
                    "doc_fields": doc.fields,
                    "extra_fields": doc.extra,
                    "page_corners": _map(
                        cap.H, [(0, 0), (PAGE_W, 0), (PAGE_W, PAGE_H), (0, PAGE_H)]
                    ),
                    "page_to_image": [[float(f"{v:.10g}") for v in row] for row in cap.H],
                    "page_size_px": [PAGE_W, PAGE_H],
                    "template": doc.type_id,
                    "font": layout.family.name,
                    "old_style_diacritics": doc.old_style,
                    "layout": {
                        "body_pt": layout.body_pt,
                        "line_factor": round(layout.line_factor, 3),
                        "margins_mm": [round(m, 1) for m in layout.margins_mm],
                        "justify": layout.justify,
                    },
                    "capture": cap.params,
                    "generator": {"version": VERSION, "set": split, "seed": seed},
                    "lines": lines,
                }
                gt = name + ".json"
                (out / gt).write_text(
                    json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8"
                )
                images.append(
                    {
                        "image": name,
                        "gt": gt,
                        "doc_id": doc_id,
                        "page": pno,
                        "pages": len(pages),
                        "condition": cond,
                        "type": doc.type_id,
                        "width": cap.width,
                        "height": cap.height,
                        "bytes": len(cap.data),
                    }
                )
        log.info("%s %s: %d page(s), %s", doc_id, type_id, len(pages), ", ".join(conds))
    manifest = {
        "set": split,
        "seed": seed,
        "generator_version": VERSION,
        "page_size_px": [PAGE_W, PAGE_H],
        "page_dpi": DPI,
        "types": sorted({i["type"] for i in images}),
        "images": images,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return manifest


__all__ = ["CONDITIONS", "generate"]
