"""Capture benchmark (issue 3): page detection, OCR after capture, speed, quality gates.

    .venv/bin/python -m bench.capture [--corpus ../shared/corpus-dev] [--jobs 2]

On the development corpus (`../shared/corpus-dev`, photos with ground-truth `page_corners`):
- page found rate on photos (target ≥ 98%) and mean corner error in the page's own order, as a
  share of the page diagonal (target ≤ 0.5%);
- OCR CER after capture (`prepare_page` + `edge.ocr.OcrEngine`) on photos vs on the scans of the
  same pages (target ≤ 1.5×), beside raw `tesseract -l vie` on the unprocessed photos, all
  scored by the corpus's own `score.py` in the same run (`OMP_THREAD_LIMIT=1` for the CLI);
- preview analysis frames/s at 640×480 on one core (target ≥ 20) and full-resolution rectify
  time;
- every gate's false-reject rate on good captures (the `photo` and `scan_clean` images) and its
  catch rate on bad ones made from the good photos (blur, glare, cut off, low resolution, dark,
  bright; desk frames without a page).
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

import cv2
import numpy as np
from PIL import Image

from edge.capture.detect import detect_page
from edge.capture.enhance import SourceKind, prepare_page
from edge.capture.files import from_pil, load_page_image
from edge.capture.gates import Gate, evaluate_gates
from edge.capture.geometry import PageQuad, mean_corner_error
from edge.capture.rectify import rectify
from edge.ocr import OcrEngine

log = logging.getLogger("bench.capture")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus-dev"
PHOTO = ("photo", "photo_hard")


def out(line: str = "") -> None:
    """Print one report line (the benchmark's output, not a diagnostic)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def load_corpus(corpus: Path) -> list[dict[str, Any]]:
    """The corpus's images with their sidecars, in manifest order."""
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    items = []
    for entry in manifest["images"]:
        sidecar = json.loads((corpus / entry["gt"]).read_text(encoding="utf-8"))
        items.append({"path": corpus / entry["image"], **sidecar})
    return items


def read_colour(path: Path) -> np.ndarray:
    """A corpus image as BGR."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"cannot read {path}")
    return np.asarray(image)


# --- detection ---------------------------------------------------------------------------


def prepare_all(items: list[dict[str, Any]], jobs: int) -> dict[str, Any]:
    """Run `prepare_page` on every image (threads: OpenCV and Tesseract release the GIL)."""

    def one(item: dict[str, Any]) -> tuple[str, Any, float]:
        pil, dpi = load_page_image(item["path"])
        start = time.perf_counter()
        prepared = prepare_page(from_pil(pil), SourceKind.FILE, dpi=dpi)
        return item["image"], prepared, time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, items))
    return {name: (prepared, seconds) for name, prepared, seconds in results}


def detection_figures(items: list[dict[str, Any]], prepared: dict[str, Any]) -> dict[str, Any]:
    """Page found rate and corner error (page order, and frame order) on the photos."""
    found, errors, frame_errors = 0, [], []
    for item in items:
        if item["condition"] not in PHOTO:
            continue
        page = prepared[item["image"]][0]
        truth = PageQuad.from_array(item["page_corners"])
        if page.quad is None:
            out(f"  {item['image']:28s} page NOT found")
            continue
        found += 1
        error = mean_corner_error(page.quad, truth)
        frame_error = mean_corner_error(page.quad.frame_order(), truth.frame_order())
        errors.append(error)
        frame_errors.append(frame_error)
        out(
            f"  {item['image']:28s} corner error {error * 100:6.3f}% of diagonal "
            f"(orientation {page.orientation:3d}°)"
        )
    photos = sum(item["condition"] in PHOTO for item in items)
    return {
        "photos": photos,
        "page_found_rate": found / photos if photos else 0.0,
        "corner_error_pct": 100 * mean(errors) if errors else None,
        "corner_error_max_pct": 100 * max(errors) if errors else None,
        "corner_error_frame_order_pct": 100 * mean(frame_errors) if frame_errors else None,
    }


# --- OCR ---------------------------------------------------------------------------------


def write_text(folder: Path, stem: str, text: str) -> None:
    """`<stem>.txt` as `sohoa edge process` writes it (fields are another issue's bench)."""
    (folder / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")


def ocr_prepared(
    items: list[dict[str, Any]], prepared: dict[str, Any], folder: Path, jobs: int
) -> float:
    """OCR every prepared page (one engine per thread); returns the wall time."""
    chunks = [items[i::jobs] for i in range(jobs)]

    def work(chunk: list[dict[str, Any]]) -> None:
        with OcrEngine() as engine:
            for item in chunk:
                page = prepared[item["image"]][0]
                result = engine.recognize(Image.fromarray(page.ocr_image), page.dpi)
                write_text(folder, Path(item["image"]).stem, result.text)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(work, chunks))
    return time.perf_counter() - start


def raw_tesseract(items: list[dict[str, Any]], folder: Path, jobs: int) -> float:
    """Plain `tesseract IMAGE - -l vie` on the unprocessed photos; returns the wall time."""
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(item: dict[str, Any]) -> None:
        done = subprocess.run(
            ["tesseract", str(item["path"]), "-", "-l", "vie"],
            capture_output=True,
            env=environment,
            check=True,
        )
        write_text(folder, Path(item["image"]).stem, done.stdout.decode("utf-8"))

    photos = [item for item in items if item["condition"] in PHOTO]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, photos))
    return time.perf_counter() - start


def score(corpus: Path, folder: Path) -> dict[str, dict[str, Any]]:
    """Per-image rows of the corpus's scorer (called, not copied)."""
    report = folder / "score.json"
    subprocess.run(
        [sys.executable, str(corpus / "score.py"), str(corpus), str(folder), "--json", str(report)],
        capture_output=True,
        check=True,
    )
    rows = json.loads(report.read_text(encoding="utf-8"))
    return {row["image"]: row for row in rows}


def ocr_figures(
    items: list[dict[str, Any]], ours: dict[str, dict[str, Any]], raw: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Photo CER vs the scans of the same pages, and raw Tesseract on the photos."""
    scans = {
        (item["doc_id"], item["page"]): item["image"]
        for item in items
        if item["condition"] not in PHOTO
    }
    pairs, clean_pairs = [], []
    for item in items:
        if item["condition"] not in PHOTO:
            continue
        scan = scans.get((item["doc_id"], item["page"]))
        if scan is None:
            continue
        pair = (ours[item["image"]]["cer"], ours[scan]["cer"], raw[item["image"]]["cer"])
        pairs.append(pair)
        if "scan_clean" in scan:
            clean_pairs.append(pair)
        out(
            f"  {item['image']:28s} CER {pair[0]:.4f}   its scan {scan:26s} {pair[1]:.4f}   "
            f"raw tesseract on the photo {pair[2]:.4f}"
        )
    photo = mean(p[0] for p in pairs)
    scan_cer = mean(p[1] for p in pairs)
    figures: dict[str, Any] = {
        "cer_photo": photo,
        "cer_scan_same_pages": scan_cer,
        "cer_ratio": photo / scan_cer if scan_cer else None,
        "cer_photo_raw_tesseract": mean(p[2] for p in pairs),
        "cer_photo_good": mean(ours[i["image"]]["cer"] for i in items if i["condition"] == "photo"),
        "cer_photo_hard": mean(
            ours[i["image"]]["cer"] for i in items if i["condition"] == "photo_hard"
        ),
    }
    if clean_pairs:
        figures["cer_photo_with_clean_scan"] = mean(p[0] for p in clean_pairs)
        figures["cer_clean_scan"] = mean(p[1] for p in clean_pairs)
        clean = figures["cer_clean_scan"]
        figures["cer_ratio_clean"] = figures["cer_photo_with_clean_scan"] / clean if clean else None
    return figures


# --- speed -------------------------------------------------------------------------------


def speed_figures(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Preview detection frames/s at 640×480 on one core; full-resolution rectify time."""
    cv2.setNumThreads(1)
    frames, photos = [], []
    for item in items:
        if item["condition"] not in PHOTO:
            continue
        image = read_colour(item["path"])
        photos.append(image)
        if image.shape[0] > image.shape[1]:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        frames.append(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3.0:
        for frame in frames:
            detect_page(frame)
            count += 1
    fps = count / (time.perf_counter() - start)
    detect_times, rectify_times = [], []
    for image in photos:
        start = time.perf_counter()
        quad = detect_page(image)
        detect_times.append(time.perf_counter() - start)
        if quad is None:
            continue
        start = time.perf_counter()
        rectify(image, quad, dpi=300)
        rectify_times.append(time.perf_counter() - start)
    cv2.setNumThreads(0)
    return {
        "preview_fps_640x480_1core": fps,
        "detect_full_res_s": mean(detect_times),
        "rectify_full_res_s": mean(rectify_times) if rectify_times else None,
    }


# --- gates -------------------------------------------------------------------------------


def add_glare(image: np.ndarray, rng: np.random.Generator, quad: PageQuad) -> np.ndarray:
    """A specular spot on the page: a bright Gaussian blob that clips, ~8% of the page wide."""
    corners = quad.as_array()
    weights = rng.dirichlet(np.ones(4))
    cx, cy = (weights[:, None] * corners).sum(axis=0) * 0.6 + corners.mean(axis=0) * 0.4
    radius = 0.08 * quad.diagonal
    height, width = image.shape[:2]
    ys, xs = np.ogrid[:height, :width]
    spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius * radius)).astype(np.float32)
    values = image.astype(np.float32)
    values += (255 - values) * np.minimum(1.0, 1.6 * spot)[..., None]
    return np.clip(values, 0, 255).astype(np.uint8)


def cut_off(image: np.ndarray, rng: np.random.Generator, quad: PageQuad) -> np.ndarray:
    """Crop the frame through the page so that one corner falls outside it."""
    corners = quad.as_array()
    k = int(rng.integers(4))
    x, y = corners[k]
    height, width = image.shape[:2]
    cut = 0.06 * quad.diagonal
    left = int(x + cut) if x < width / 2 else 0
    right = int(x - cut) if x >= width / 2 else width
    top = int(y + cut) if y < height / 2 else 0
    bottom = int(y - cut) if y >= height / 2 else height
    return image[top:bottom, left:right].copy()


def motion_blur(image: np.ndarray, length: int) -> np.ndarray:
    """A horizontal shake of `length` pixels."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


def desk_frame(rng: np.random.Generator, size: tuple[int, int] = (1600, 1200)) -> np.ndarray:
    """A frame of desk without a page: wood grain, dark laminate or grey cloth."""
    width, height = size
    kind = int(rng.integers(3))
    coarse = rng.normal(0, 1, (height // 8, width // 8)).astype(np.float32)
    noise = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    if kind == 0:  # wood: streaks along x
        grain = cv2.GaussianBlur(rng.normal(0, 1, (height, 1)).astype(np.float32), (1, 9), 3)
        base = 0.6 + 0.15 * np.tile(grain, (1, width)) + 0.05 * noise
        colour = np.array([40, 90, 150], np.float32)  # BGR brown
    elif kind == 1:
        base = 0.35 + 0.05 * noise
        colour = np.array([60, 60, 60], np.float32)
    else:
        base = 0.7 + 0.06 * noise
        colour = np.array([150, 150, 140], np.float32)
    frame = base[..., None] * colour[None, None, :] * 1.4
    frame += rng.normal(0, 3, frame.shape).astype(np.float32)
    return np.asarray(np.clip(frame, 0, 255), dtype=np.uint8)


BAD_CAPTURES: dict[Gate, list[tuple[str, Callable[..., np.ndarray]]]] = {
    Gate.BLUR: [
        ("defocus σ3", lambda im, rng, q: cv2.GaussianBlur(im, (0, 0), 3.0)),
        ("defocus σ4", lambda im, rng, q: cv2.GaussianBlur(im, (0, 0), 4.0)),
        ("shake 20 px", lambda im, rng, q: motion_blur(im, 20)),
    ],
    Gate.GLARE: [("glare spot", add_glare)],
    Gate.CUT_OFF: [("corner outside", cut_off)],
    Gate.RESOLUTION: [
        (
            "60% size",
            lambda im, rng, q: cv2.resize(im, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
        )
    ],
    Gate.TOO_DARK: [("exposure ×0.3", lambda im, rng, q: (im * 0.3).astype(np.uint8))],
    Gate.TOO_BRIGHT: [
        ("exposure ×2.2+130", lambda im, rng, q: cv2.convertScaleAbs(im, alpha=2.2, beta=130))
    ],
}


def gates_of(image: np.ndarray, dpi: int | None = None) -> dict[Gate, bool]:
    """Which gates fail on one capture (detect, then judge as `prepare_page` does)."""
    quad = detect_page(image)
    height, width = image.shape[:2]
    full = quad is not None and quad.area >= 0.98 * (width - 1) * (height - 1)
    results = evaluate_gates(image, quad, full_frame=full, dpi=dpi if full else None)
    return {r.gate: not r.passed for r in results}


def gate_figures(items: list[dict[str, Any]], jobs: int) -> dict[str, Any]:
    """Every gate's false-reject rate on good captures and catch rate on bad ones."""
    rng = np.random.default_rng(3)
    good = [item for item in items if item["condition"] in ("photo", "scan_clean")]
    images = {item["image"]: read_colour(item["path"]) for item in good}

    def judge_good(item: dict[str, Any]) -> dict[Gate, bool]:
        return gates_of(images[item["image"]], dpi=300)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        good_results = list(pool.map(judge_good, good))
    tasks = []
    for item in good:
        if item["condition"] != "photo":
            continue
        truth = PageQuad.from_array(item["page_corners"])
        for gate, makers in BAD_CAPTURES.items():
            for name, make in makers:
                tasks.append((gate, name, item["image"], make, truth))

    def judge_bad(task: tuple[Any, ...]) -> tuple[Gate, str, str, dict[Gate, bool]]:
        gate, name, image_name, make, truth = task
        bad = make(
            images[image_name], np.random.default_rng(zlib.crc32(image_name.encode())), truth
        )
        return gate, name, image_name, gates_of(bad)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        bad_results = list(pool.map(judge_bad, tasks))
    desks = [desk_frame(rng) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        desk_results = list(pool.map(gates_of, desks))
    figures: dict[str, Any] = {}
    for gate in Gate:
        rejected = sum(result[gate] for result in good_results)
        if gate == Gate.PAGE_FOUND:
            caught, total = sum(r[gate] for r in desk_results), len(desk_results)
        else:
            mine = [r for r in bad_results if r[0] == gate]
            caught, total = sum(r[3][gate] for r in mine), len(mine)
        figures[gate.value] = {
            "false_reject": rejected / len(good_results),
            "catch": caught / total if total else None,
            "good": len(good_results),
            "bad": total,
        }
        out(
            f"  {gate.value:11s} false reject {rejected}/{len(good_results)}   "
            f"caught {caught}/{total}"
        )
    natural = [item for item in items if "glare" in item.get("capture", {})]
    glared = [i["image"] for i in natural if gates_of(read_colour(i["path"]))[Gate.GLARE]]
    out(f"  natural glare (photo_hard with a glare spot): caught {len(glared)}/{len(natural)}")
    figures["glare_natural_catch"] = len(glared) / len(natural) if natural else None
    return figures


def main() -> None:
    """Run every measurement and print the report, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (args.corpus / "manifest.json").is_file():
        sys.exit(f"no corpus at {args.corpus}: give --corpus")
    started = time.perf_counter()
    items = load_corpus(args.corpus)
    out(f"capture bench on {args.corpus} ({len(items)} images, {args.jobs} jobs)")

    out("\npage detection on photos (corners in the page's own order):")
    prepared = prepare_all(items, args.jobs)
    figures: dict[str, Any] = detection_figures(items, prepared)
    figures["prepare_s_per_image"] = mean(seconds for _, seconds in prepared.values())

    out("\nOCR after capture (prepare_page + OcrEngine) vs raw tesseract on the photos:")
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as raw_dir:
        figures["ocr_wall_s"] = ocr_prepared(items, prepared, Path(ours_dir), args.jobs)
        figures["raw_tesseract_wall_s"] = raw_tesseract(items, Path(raw_dir), args.jobs)
        ours, raw = score(args.corpus, Path(ours_dir)), score(args.corpus, Path(raw_dir))
    figures.update(ocr_figures(items, ours, raw))

    out("\nspeed:")
    figures.update(speed_figures(items))
    out(f"  preview detection {figures['preview_fps_640x480_1core']:.0f} frames/s at 640×480")
    out(
        f"  full-resolution detect {figures['detect_full_res_s'] * 1000:.0f} ms, rectify "
        f"to A4 300 dpi {figures['rectify_full_res_s'] * 1000:.0f} ms"
    )

    out("\nquality gates (good: photo + scan_clean; bad: made from the good photos):")
    figures["gates"] = gate_figures(items, args.jobs)
    figures["bench_s"] = time.perf_counter() - started

    out("\nfigure                              measured     target")
    out(f"page found on photos                {figures['page_found_rate']:8.1%}     ≥ 98%")
    out(f"mean corner error (% of diagonal)   {figures['corner_error_pct']:8.3f}%    ≤ 0.5%")
    out(f"CER photos after capture            {figures['cer_photo']:8.4f}")
    out(f"CER scans of the same pages         {figures['cer_scan_same_pages']:8.4f}")
    out(f"  ratio                             {figures['cer_ratio']:8.2f}×     ≤ 1.5×")
    if "cer_ratio_clean" in figures:
        out(f"  ratio on pages with a clean scan  {figures['cer_ratio_clean']:8.2f}×")
    out(f"CER raw tesseract on the photos     {figures['cer_photo_raw_tesseract']:8.4f}")
    out(
        f"preview frames/s (640×480, 1 core)  {figures['preview_fps_640x480_1core']:8.0f}      ≥ 20"
    )
    out(f"bench wall time                     {figures['bench_s']:8.0f} s")
    out(json.dumps(figures, ensure_ascii=False, default=float))


if __name__ == "__main__":
    main()
