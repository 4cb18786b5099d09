"""Field readers benchmark (issue 17): our readers on a corpus's ground-truth text, per field,
beside the corpus scorer's naive regex extractor (the anchor), in one run.

    .venv/bin/python -m bench.fields [--corpus ../shared/corpus-dev] [--json out.json]
    .venv/bin/python -m bench.fields --corpus /tmp/corpus-dev-split

A corpus is a folder of `<image>.json` ground-truth sidecars (with `text` and `fields`), as
`shared/corpus-dev` and `bench.corpus` write them; a `manifest.json` is used when present.
The readers see the ground-truth text only (no OCR): this measures the readers alone. Each field
is scored as the corpus scorer scores it (`norm_field`: NFC, whitespace, casefold, old-style tone
marks); a field whose ground truth is null is not scored. The last line printed is one JSON object
with every figure: per field, ours, the anchor's and their ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

from edge.fields import extract_fields
from protocol.messages import FIELD_KEYS

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus-dev"
SCORER = DEFAULT_CORPUS / "score.py"


def load_scorer(path: Path = SCORER) -> ModuleType:
    """The corpus scorer as a module (its `norm_field` and `naive_fields`); it stays in shared/."""
    spec = importlib.util.spec_from_file_location("corpus_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench.fields: cannot load the scorer {path}: check shared/corpus-dev")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ground_truth(corpus: Path) -> list[dict[str, Any]]:
    """Every ground-truth sidecar of the corpus, in manifest (or name) order."""
    manifest = corpus / "manifest.json"
    if manifest.exists():
        items = json.loads(manifest.read_text(encoding="utf-8"))["images"]
        paths = [corpus / item["gt"] for item in items]
    else:
        paths = sorted(p for p in corpus.glob("*.json") if p.name != "manifest.json")
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def measure(corpus: Path, scorer: ModuleType, *, show_misses: bool = False) -> dict[str, Any]:
    """Per field: pages scored, exact for ours and for the anchor. Pages with the same text
    (one document in several capture conditions) are read once."""
    ours: dict[str, list[bool]] = defaultdict(list)
    anchor: dict[str, list[bool]] = defaultdict(list)
    seen: dict[str, tuple[dict[str, str | None], dict[str, Any]]] = {}
    for gt in ground_truth(corpus):
        text = gt["text"]
        if text not in seen:
            seen[text] = (extract_fields(text), scorer.naive_fields(text))
        mine, naive = seen[text]
        for key in FIELD_KEYS:
            expected = gt["fields"].get(key)
            if expected is None:
                continue
            want = scorer.norm_field(key, expected)
            ok = scorer.norm_field(key, mine.get(key)) == want
            ours[key].append(ok)
            anchor[key].append(scorer.norm_field(key, naive.get(key)) == want)
            if show_misses and not ok:
                print(
                    f"  miss {gt.get('image', '?')} {key}: {mine.get(key)!r} != {expected!r}",
                    file=sys.stderr,
                )
    rows = {}
    for key in FIELD_KEYS:
        if not ours[key]:
            continue
        a = sum(ours[key]) / len(ours[key])
        b = sum(anchor[key]) / len(anchor[key])
        rows[key] = {"n": len(ours[key]), "ours": a, "anchor": b, "ratio": a / b if b else None}
    flat_ours = [v for key in FIELD_KEYS for v in ours[key]]
    flat_anchor = [v for key in FIELD_KEYS for v in anchor[key]]
    total = {
        "n": len(flat_ours),
        "ours": sum(flat_ours) / len(flat_ours) if flat_ours else None,
        "anchor": sum(flat_anchor) / len(flat_anchor) if flat_anchor else None,
    }
    return {"corpus": str(corpus), "pages": len(ground_truth(corpus)), "fields": rows, "all": total}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table, then the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.fields", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--scorer", type=Path, default=SCORER)
    parser.add_argument("--misses", action="store_true", help="print every field we got wrong")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = measure(args.corpus, load_scorer(args.scorer), show_misses=args.misses)
    print(f"{'field':18s} {'n':>4s} {'ours':>6s} {'anchor':>7s} {'ratio':>6s}")
    for key, row in result["fields"].items():
        ratio = f"{row['ratio']:6.2f}" if row["ratio"] is not None else "     -"
        print(f"{key:18s} {row['n']:4d} {row['ours']:6.3f} {row['anchor']:7.3f} {ratio}")
    total = result["all"]
    if total["ours"] is not None:
        print(f"{'ALL':18s} {total['n']:4d} {total['ours']:6.3f} {total['anchor']:7.3f}")
    line = json.dumps(result, ensure_ascii=False)
    if args.json:
        args.json.write_text(line + "\n", encoding="utf-8")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
