"""Command line: `python -m bench.corpus --out DIR --split dev|holdout --docs N [--seed S]
[--fonts FAMILY ...]`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from bench.corpus import forms
from bench.corpus.capture import CONDITIONS
from bench.corpus.fonts import FAMILIES, FontError
from bench.corpus.generate import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__)
    ap.add_argument(
        "--out", type=Path, required=True, help="folder to write images, sidecars and manifest.json"
    )
    ap.add_argument("--split", choices=["dev", "holdout"], default="dev")
    ap.add_argument("--docs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    ap.add_argument(
        "--per-doc", type=int, default=2, help="capture conditions per document (round robin)"
    )
    ap.add_argument(
        "--fonts",
        nargs="+",
        metavar="FAMILY",
        help="font families to use instead of the split's mix, e.g. Arimo 'Noto Sans'",
    )
    ap.add_argument(
        "--types",
        nargs="+",
        metavar="TYPE",
        help="only these of the split's result types, e.g. con_nuoi mien_hoc_phi",
    )
    a = ap.parse_args(argv)
    if a.fonts and (absent := set(a.fonts) - set(FAMILIES)):
        ap.error(f"unknown font families {sorted(absent)}; known: {sorted(FAMILIES)}")
    if a.types and (foreign := set(a.types) - set(forms.types_of(a.split))):
        ap.error(f"not {a.split} types: {sorted(foreign)}; known: {forms.types_of(a.split)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    try:
        manifest = generate(
            a.out, a.split, a.docs, a.seed, a.conditions, a.per_doc, a.fonts, a.types
        )
    except FontError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = len(manifest["images"])
    secs = time.perf_counter() - started
    print(
        f"{n} images of {a.docs} documents ({len(manifest['types'])} types) in {a.out}, "
        f"{secs:.0f} s ({secs / max(n, 1):.1f} s/image)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
