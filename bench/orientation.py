"""Orientation benchmark (issue 17, item 3): pages read upside down, and the CPU it costs.

    .venv/bin/python -m bench.orientation [--corpus ../shared/corpus-dev] [--only-corpus]

Cases: corpus-dev's 24 images as they are (scans upright; photos lying any way, their true
page corners in the sidecar), and made from its four `scan_clean` pages (`bench.degrade`):
heavy-toner and faded 200-dpi copies, each upright and upside down, one of each lying a
quarter turn; a blank page and a page of noise (upright: nothing to turn). Each case goes
through `prepare_page` by three paths, one case at a time on one thread:
- "detect": a page from a file, default options, as `sohoa edge detect` takes it;
- "scanner": the same page handed over by a scanner (the kiosk's ADF: the page fills the
  image, nothing to find or rectify), scans only;
- "pipeline": the pipeline's capture (`edge.pipeline.stages.CAPTURE_OPTIONS`, no OSD); a page
  left with its way up open (`other_turns`) is judged after by reading the whole page
  (`read_upright`), so it is counted "open", not wrong, when the turn it needs is open; with
  `--read`, such pages are read as the pipeline reads them and counted as they end.
For each path: pages left upside down, pages left any other wrong way, and CPU seconds per page
(`time.process_time`), over corpus-dev alone (the common, upright path) and over the synthetic
pages. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import mean
from typing import Any, NamedTuple

import cv2
import numpy as np

from bench.degrade import DPI, blank_page, faded, heavy_toner, noise_page
from edge.capture.enhance import CaptureOptions, PreparedPage, SourceKind, prepare_page
from edge.capture.files import load_page_array
from edge.capture.geometry import PageQuad, mean_corner_error
from edge.ocr import OcrEngine
from edge.pipeline.stages import capture_page, read_upright

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus-dev"
PATHS = {
    "detect": (SourceKind.FILE, CaptureOptions()),
    "scanner": (SourceKind.SCANNER, CaptureOptions()),
    "pipeline": (SourceKind.FILE, CaptureOptions(osd=False)),
}


class Case(NamedTuple):
    """One page to orient: the image, its dpi, and how far its content is turned clockwise
    (None for a photo, judged by its true corners instead)."""

    name: str
    group: str
    image: np.ndarray
    dpi: int
    turned: int | None
    corners: PageQuad | None = None


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def corpus_cases(corpus: Path) -> Iterator[Case]:
    """corpus-dev's images as they are."""
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["images"]:
        sidecar = json.loads((corpus / entry["gt"]).read_text(encoding="utf-8"))
        image, dpi = load_page_array(corpus / entry["image"])
        photo = entry["condition"].startswith("photo")
        corners = PageQuad.from_array(sidecar["page_corners"]) if photo else None
        yield Case(entry["image"], "corpus-dev", image, dpi, None if photo else 0, corners)


def synthetic_cases(corpus: Path) -> Iterator[Case]:
    """Heavy-toner and faded copies of the clean scans, upright and turned; blank, noise."""
    for index, path in enumerate(sorted(corpus.glob("*_scan_clean.png"))):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            sys.exit(f"cannot read {path}")
        stem = path.name.removesuffix("_scan_clean.png")
        for kind, degrade in (("heavy", heavy_toner), ("faded", faded)):
            page = degrade(grey, 300, seed=0)
            turns = (0, 180, 90) if index == 0 else (0, 180)
            for turn in turns:
                # np.rot90 turns counter-clockwise: k quarter turns leave the content turned
                # (360 - 90k) clockwise.
                image = np.ascontiguousarray(np.rot90(page, (360 - turn) // 90 % 4))
                yield Case(f"{stem}_{kind}_{turn}", kind, image, DPI, turn)
    yield Case("blank", "blank/noise", blank_page(), DPI, 0)
    yield Case("noise", "blank/noise", noise_page(), DPI, 0)


def residual(case: Case, page: PreparedPage) -> int | None:
    """How far the page's content is still turned clockwise after the capture (0 = upright);
    None for a photo whose page was not found."""
    if case.turned is not None:
        return (case.turned - page.orientation) % 360
    found, truth = page.quad, case.corners
    if found is None or truth is None:
        return None
    k = min(range(4), key=lambda k: mean_corner_error(found.rotated_order(k), truth))
    return 90 * k


def turn_after_reading(engine: OcrEngine, case: Case) -> int:
    """The clockwise turn `read_upright` undid after the pipeline's capture (0: none)."""
    images = capture_page(case.image, case.dpi)
    _, upright = read_upright(engine, images)
    if upright is None:
        return 0
    turned = np.asarray(upright.archive)
    for turn in (90, 180, 270):
        if np.array_equal(np.asarray(images.turned(turn).archive), turned):
            return turn
    raise AssertionError(f"{case.name}: read_upright turned the page an unknown way")


def run(cases: list[Case], engine: OcrEngine | None) -> dict[str, Any]:
    """Orient every case by every path; print one line per case."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        row: dict[str, Any] = {"name": case.name, "group": case.group}
        for path, (source, options) in PATHS.items():
            if source == SourceKind.SCANNER and case.turned is None:
                continue  # a photo is no scanner's page
            started = time.process_time()
            page = prepare_page(case.image, source, dpi=case.dpi, options=options)
            row[f"{path}_cpu_s"] = time.process_time() - started
            left = residual(case, page)
            row[f"{path}_left"] = left
            row[f"{path}_open"] = left is not None and left != 0 and left in page.other_turns
            if engine is not None and path == "pipeline" and page.other_turns:
                row["pipeline_left"] = (
                    None if left is None else (left - turn_after_reading(engine, case)) % 360
                )
                row["pipeline_open"] = False  # settled by the reading
        rows.append(row)
        out(
            f"  {case.name:24s} "
            + " ".join(
                f"{path} {_verdict(row, path):11s} {row[f'{path}_cpu_s']:4.2f} s"
                for path in PATHS
                if f"{path}_cpu_s" in row
            )
        )
    return summarise(rows)


def _verdict(row: dict[str, Any], path: str) -> str:
    left = row[f"{path}_left"]
    if left is None:
        return "no page"
    if left == 0:
        return "upright"
    return f"{'open' if row[f'{path}_open'] else 'WRONG'} {left}°"


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and CPU per page, by path and by group of cases."""
    figures: dict[str, Any] = {}
    for group in ("corpus-dev", "synthetic", "all"):
        chosen = [
            r
            for r in rows
            if group == "all" or (r["group"] == "corpus-dev") == (group == "corpus-dev")
        ]
        if not chosen:
            continue
        for path in PATHS:
            ran = [r for r in chosen if f"{path}_cpu_s" in r]
            figures[f"{group}/{path}"] = {
                "pages": len(ran),
                "upside_down": sum(r[f"{path}_left"] == 180 and not r[f"{path}_open"] for r in ran),
                "wrong_other": sum(
                    r[f"{path}_left"] in (90, 270) and not r[f"{path}_open"] for r in ran
                ),
                "open": sum(bool(r[f"{path}_open"]) for r in ran),
                "cpu_s_per_page": mean(r[f"{path}_cpu_s"] for r in ran),
            }
    return figures


def main() -> None:
    """Run the cases and print the report, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--only-corpus", action="store_true", help="corpus-dev's images only (no synthetic)"
    )
    parser.add_argument(
        "--read",
        action="store_true",
        help="read the pages the pipeline's capture left open (read_upright), count them as "
        "they end",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.corpus / "manifest.json").is_file():
        sys.exit(f"no corpus at {args.corpus}: give --corpus")
    cv2.setNumThreads(1)  # CPU per page, one page at a time
    cases = list(corpus_cases(args.corpus))
    if not args.only_corpus:
        cases += list(synthetic_cases(args.corpus))
    out(f"orientation bench on {args.corpus}: {len(cases)} pages")
    if args.read:
        with OcrEngine() as engine:
            figures = run(cases, engine)
    else:
        figures = run(cases, None)
    out("\nset / path                 pages  upside down  other wrong  open  CPU s/page")
    for key, f in figures.items():
        out(
            f"{key:26s} {f['pages']:5d}  {f['upside_down']:11d}  {f['wrong_other']:11d}  "
            f"{f['open']:4d}  {f['cpu_s_per_page']:10.3f}"
        )
    out(json.dumps(figures))


if __name__ == "__main__":
    main()
