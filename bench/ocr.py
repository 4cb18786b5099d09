"""OCR and PDF/A benchmark (issue 4): ours beside OCRmyPDF and raw Tesseract, in one run.

    .venv/bin/python -m bench.ocr [--corpus ../shared/corpus-dev] [--workers 2]

On the development corpus (24 page images, five capture conditions) it measures:
(a) throughput, pages per minute, image → searchable PDF/A-2b: ours (`OcrPool` + `assemble_pdf`,
    one PDF of all pages) beside `ocrmypdf -l vie --output-type pdfa -j N` on the same pages at
    the same resolution (one PDF of all pages, made lossless with img2pdf outside the clock),
    both with `OMP_THREAD_LIMIT=1`; target ≥ 2× OCRmyPDF;
(b) CER per capture condition of our text, of OCRmyPDF's text layer (`pdftotext`) and of raw
    `tesseract -l vie` (the corpus scorer's `--baseline`), all scored by the corpus scorer;
(c) bytes per page of both PDF/As, and our PDF/A's structural check
    (`edge.pdf.pdfa_check.check_pdfa`) and `qpdf --check`;
(d) peak resident memory of a process with one OCR worker and the increment of a second one
    (each measured in a fresh child process that OCRs a sample of the pages).
The last line printed is one JSON object with every figure.

OCRmyPDF is an anchor, not a dependency: it is installed in the benchmark's own venv
(`bench/.venv-anchor`, made on first run with `python -m venv` + `pip install ocrmypdf`), and
its `--output-type pdfa` needs Ghostscript (Debian `ghostscript`). Without them the anchor's
figures are null and the reason is logged. Ours runs no capture stage here (page detection,
deskew): photos score poorly until the pipeline rectifies them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus-dev"
ANCHOR_VENV = REPO / "bench" / ".venv-anchor"
CONDITIONS = ("scan_clean", "scan_degraded", "scan_bw", "photo", "photo_hard")
MEMORY_SAMPLE = 8
"""Pages the memory probe OCRs: every condition, the largest photos included."""

log = logging.getLogger("bench.ocr")


# --- the corpus and the scorer ------------------------------------------------------------------


def corpus_pages(corpus: Path) -> list[tuple[Path, str]]:
    """Every image of the corpus with its capture condition, in manifest order."""
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    return [(corpus / item["image"], item["condition"]) for item in manifest["images"]]


def score(
    corpus: Path, pred_dir: Path, work: Path, *, baseline: bool = False, fields: bool = False
) -> dict[str, Any]:
    """Run the corpus scorer (never copied: called where it lives) and average CER per condition."""
    out = work / f"score-{pred_dir.name}.json"
    command = [sys.executable, str(corpus / "score.py"), str(corpus)]
    command += (
        ["--baseline", "--pred-out", str(pred_dir), "--jobs", "2"] if baseline else [str(pred_dir)]
    )
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, env=env, check=True
    )
    seconds = time.perf_counter() - started
    rows = json.loads(out.read_text(encoding="utf-8"))
    by_condition: dict[str, list[float]] = defaultdict(list)
    fields_by_condition: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_condition[row["condition"]].append(row["cer"])
        fields_by_condition[row["condition"]] += row["fields"].values()
    cer = {c: round(mean(by_condition[c]), 4) for c in CONDITIONS if by_condition[c]}
    for group in ("scan", "photo"):
        values = [v for c, vs in by_condition.items() if c.startswith(group) for v in vs]
        cer[f"{group}_all"] = round(mean(values), 4)
    field_rates: dict[str, float] = {}
    # Only predictions with `.fields.json` files (ours, the baseline's naive extractor) have
    # field rates: the scorer counts a missing file as every field wrong.
    if fields or baseline:
        for c in CONDITIONS:
            if fields_by_condition[c]:
                field_rates[c] = round(mean(fields_by_condition[c]), 3)
        for group in ("scan", "photo"):
            hits = [v for c, vs in fields_by_condition.items() if c.startswith(group) for v in vs]
            field_rates[f"{group}_all"] = round(mean(hits), 3)
    log.info("scorer on %s: %s", pred_dir.name, done.stdout.strip().splitlines()[-1])
    return {"cer": cer, "fields": field_rates, "score_seconds": round(seconds, 1)}


# --- ours ---------------------------------------------------------------------------------------


def run_ours(pages: list[tuple[Path, str]], workers: int, work: Path) -> dict[str, Any]:
    """Image files → one searchable PDF/A, through the product path
    (`edge.pipeline.run.process_files` with every page in one document, as `sohoa edge process
    --document corpus` does): capture, OCR on the pool, fields, image encoding overlapping the
    OCR, assembly; each page's text and fields written for scoring."""
    from edge.ocr import OcrPool
    from edge.pdf.pdfa_check import check_pdfa
    from edge.pipeline.run import PlannedDocument, process_files

    pred = work / "ours"
    pred.mkdir()
    started = time.perf_counter()
    pool = OcrPool(workers)
    load_seconds = time.perf_counter() - started
    with pool:
        started = time.perf_counter()
        planned = PlannedDocument("corpus-dev", tuple(path for path, _ in pages))
        outcome = process_files(planned, pool, pred)
        seconds = time.perf_counter() - started
    assert not outcome.failures and outcome.pdf_path is not None, outcome.failures
    path = outcome.pdf_path
    pdf = path.read_bytes()
    extract_text_layer(path, pages, work / "ours-pdftotext")
    return {
        "seconds": round(seconds, 2),
        "engine_load_seconds": round(load_seconds, 2),
        "pages_per_minute": round(60 * len(pages) / seconds, 1),
        "stage_seconds": {k: round(v, 2) for k, v in outcome.seconds.as_dict().items()},
        "bytes": len(pdf),
        "bytes_per_page": round(len(pdf) / len(pages)),
        "pdfa_problems": check_pdfa(pdf),
        "qpdf_clean": qpdf_clean(path),
        "pred": pred,
    }


def extract_text_layer(pdf: Path, pages: list[tuple[Path, str]], pred: Path) -> None:
    """Each page's text layer as `pdftotext` reads it, as `<image stem>.txt` in `pred`."""
    pred.mkdir()
    for number, (path, _) in enumerate(pages, start=1):
        text = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), "-enc", "UTF-8", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (pred / f"{path.stem}.txt").write_text(text, encoding="utf-8")


def qpdf_clean(path: Path) -> bool:
    """`qpdf --check` finds no error and no warning."""
    done = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    return done.returncode == 0 and "WARNING" not in done.stdout + done.stderr


def per_document_throughput(pages: list[tuple[Path, str]], workers: int, work: Path) -> float:
    """Pages per minute of the product path: one PDF/A per image, as `sohoa edge process` does
    without --document (`edge.pipeline.run.process_batch`: capture, OCR, fields, PDF/A, files)."""
    from edge.ocr import OcrPool
    from edge.pipeline.run import plan_documents, process_batch

    out = work / "ours-per-document"
    out.mkdir()
    planned, problems = plan_documents([path for path, _ in pages], None)
    assert not problems, problems
    with OcrPool(workers) as pool:
        started = time.perf_counter()
        outcomes = list(process_batch(planned, pool, out))
        seconds = time.perf_counter() - started
    failures = [f for outcome in outcomes for f in outcome.failures]
    assert not failures, failures
    return round(60 * len(pages) / seconds, 1)


# --- memory -------------------------------------------------------------------------------------


def _status_kib(key: str) -> int:
    """A figure of /proc/self/status in KiB. VmHWM (peak RSS) starts afresh at exec, unlike
    getrusage's ru_maxrss, which a child inherits from the process that forked it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status (Linux only)")


def memory_probe(workers: int, corpus: Path) -> dict[str, int]:
    """In a child process: RSS before the pool, and peak RSS after OCR of a sample (KiB)."""
    from edge.capture.files import load_page_image
    from edge.ocr import OcrPool

    pages = corpus_pages(corpus)
    sample = [pages[i] for i in range(0, len(pages), max(1, len(pages) // MEMORY_SAMPLE))]
    base = _status_kib("VmRSS")
    with OcrPool(workers) as pool:
        loaded = [load_page_image(path) for path, _ in sample[:workers]]
        pool.recognize_all(loaded)  # every worker holds a large page at the same time
        for path, _ in sample[workers:]:
            pool.recognize(*load_page_image(path))
    return {"base_kib": base, "peak_kib": _status_kib("VmHWM")}


def measure_memory(corpus: Path, workers: int) -> dict[str, Any]:
    """Peak RSS with 1 and with `workers` OCR workers, each in a fresh process."""
    peaks = {}
    for count in sorted({1, workers}):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ocr",
                "--corpus",
                str(corpus),
                "--memory-probe",
                f"{count}",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        peaks[count] = json.loads(done.stdout.strip().splitlines()[-1])
    one = peaks[1]
    figures: dict[str, Any] = {
        "process_base_mib": round(one["base_kib"] / 1024),
        "peak_rss_one_worker_mib": round(one["peak_kib"] / 1024),
        "per_worker_mib": round((one["peak_kib"] - one["base_kib"]) / 1024),
    }
    if workers > 1:
        many = peaks[workers]
        figures[f"peak_rss_{workers}_workers_mib"] = round(many["peak_kib"] / 1024)
        figures["per_extra_worker_mib"] = round(
            (many["peak_kib"] - one["peak_kib"]) / 1024 / (workers - 1)
        )
    return figures


# --- the anchor: OCRmyPDF -----------------------------------------------------------------------


def ensure_anchor(venv: Path) -> Path | None:
    """The anchor venv's `ocrmypdf`, made on first use; None (logged) when it cannot run."""
    if shutil.which("gs") is None:
        log.warning("no Ghostscript: `apt-get install ghostscript` for the OCRmyPDF anchor")
        return None
    ocrmypdf = venv / "bin" / "ocrmypdf"
    if not ocrmypdf.exists():
        log.info("making the anchor venv %s (python -m venv; pip install ocrmypdf)", venv)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet", "ocrmypdf"],
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as e:
            log.warning("could not install OCRmyPDF in %s: %s", venv, e)
            return None
    return ocrmypdf


def run_anchor(
    pages: list[tuple[Path, str]], ocrmypdf: Path, workers: int, work: Path
) -> dict[str, Any]:
    """OCRmyPDF on the same pages: img2pdf (lossless, our dpi) outside the clock, then one
    timed `ocrmypdf -l vie --output-type pdfa -j N`; its text layer extracted per page."""
    from edge.capture.files import load_page_image

    dpis = [load_page_image(path)[1] for path, _ in pages]  # the resolution we OCR at
    source = work / "anchor-in.pdf"
    script = (
        "import img2pdf, json, sys\n"
        "pages = json.loads(sys.argv[1])\n"
        "layouts = [img2pdf.get_fixed_dpi_layout_fun((d, d)) for _, d in pages]\n"
        "parts = [img2pdf.convert(p, layout_fun=f) for (p, _), f in zip(pages, layouts)]\n"
        "import pikepdf\n"
        "out = pikepdf.Pdf.new()\n"
        "for part in parts:\n"
        "    out.pages.extend(pikepdf.Pdf.open(__import__('io').BytesIO(part)).pages)\n"
        "out.save(sys.argv[2])\n"
    )
    argument = json.dumps([[str(p), d] for (p, _), d in zip(pages, dpis, strict=True)])
    python = ocrmypdf.parent / "python"
    subprocess.run([str(python), "-c", script, argument, str(source)], check=True)
    output = work / "anchor.pdf"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = [str(ocrmypdf), "-l", "vie", "--output-type", "pdfa", "-j", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--quiet", str(source), str(output)], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        log.warning("ocrmypdf failed (%d): %s", done.returncode, done.stderr[-2000:])
        return {"error": f"ocrmypdf exit {done.returncode}"}
    pred = work / "anchor"
    extract_text_layer(output, pages, pred)
    size = output.stat().st_size
    version = subprocess.run([str(ocrmypdf), "--version"], capture_output=True, text=True)
    return {
        "version": version.stdout.strip(),
        "seconds": round(seconds, 2),
        "pages_per_minute": round(60 * len(pages) / seconds, 1),
        "bytes": size,
        "bytes_per_page": round(size / len(pages)),
        "qpdf_clean": qpdf_clean(output),
        "pred": pred,
    }


# --- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the summary and, last, one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--workers", type=int, default=2, help="OCR workers / ocrmypdf -j")
    parser.add_argument("--anchor-venv", type=Path, default=ANCHOR_VENV)
    parser.add_argument("--keep", type=Path, help="keep PDFs and predictions in this folder")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("edge").setLevel(logging.WARNING)  # not a line per page without dpi
    if args.memory_probe:
        sys.stdout.write(json.dumps(memory_probe(args.memory_probe, args.corpus)) + "\n")
        return 0
    pages = corpus_pages(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="bench-ocr-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict[str, Any] = {"pages": len(pages), "workers": args.workers}

    log.info("ours: %d pages → one PDF/A with %d OCR workers", len(pages), args.workers)
    ours = run_ours(pages, args.workers, work)
    ours_pred = ours.pop("pred")
    ours["per_document_pages_per_minute"] = per_document_throughput(pages, args.workers, work)
    ours.update(score(args.corpus, ours_pred, work, fields=True))
    ours["text_layer_cer"] = score(args.corpus, work / "ours-pdftotext", work)["cer"]
    result["ours"] = ours

    anchor: dict[str, Any] | None = None
    ocrmypdf = ensure_anchor(args.anchor_venv)
    if ocrmypdf is not None:
        log.info("anchor: ocrmypdf -l vie --output-type pdfa -j %d on the same pages", args.workers)
        anchor = run_anchor(pages, ocrmypdf, args.workers, work)
        if "pred" in anchor:
            anchor.update(score(args.corpus, anchor.pop("pred"), work))
    result["ocrmypdf"] = anchor

    log.info("raw tesseract -l vie (the scorer's --baseline, OMP_THREAD_LIMIT=1, 2 jobs)")
    result["tesseract"] = score(args.corpus, work / "tesseract", work, baseline=True)

    log.info("memory: peak RSS with 1 and %d workers (child processes)", args.workers)
    result["memory"] = measure_memory(args.corpus, args.workers)

    if anchor and "pages_per_minute" in anchor:
        result["throughput_ratio"] = round(ours["pages_per_minute"] / anchor["pages_per_minute"], 2)
        result["bytes_ratio"] = round(ours["bytes_per_page"] / anchor["bytes_per_page"], 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["work_dir"] = str(work)
    _summary(result)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0


def _summary(result: dict[str, Any]) -> None:
    ours, anchor = result["ours"], result.get("ocrmypdf") or {}
    lines = [
        f"pages/min (image → PDF/A, {result['workers']} workers): ours {ours['pages_per_minute']}"
        f" (per document {ours['per_document_pages_per_minute']}), OCRmyPDF "
        f"{anchor.get('pages_per_minute')}, ratio {result.get('throughput_ratio')} (target ≥ 2)",
        f"bytes/page: ours {ours['bytes_per_page']}, OCRmyPDF {anchor.get('bytes_per_page')}",
        f"PDF/A check: {ours['pdfa_problems'] or 'no problem'}; qpdf clean: {ours['qpdf_clean']}",
    ]
    rows = (
        ("ours (OCR text)", ours.get("cer")),
        ("ours (pdftotext of our PDF/A)", ours.get("text_layer_cer")),
        ("OCRmyPDF (pdftotext)", anchor.get("cer")),
        ("raw tesseract -l vie", result["tesseract"].get("cer")),
    )
    for name, cer in rows:
        if cer:
            lines.append(f"CER {name}: " + " ".join(f"{c}={v:.4f}" for c, v in cer.items()))
    for name, fields in (
        ("ours", ours.get("fields")),
        ("raw tesseract + the scorer's naive extractor", result["tesseract"].get("fields")),
    ):
        if fields:
            lines.append(
                f"fields exact, {name}: " + " ".join(f"{c}={v:.3f}" for c, v in fields.items())
            )
    lines.append(
        "targets: CER ≤ 0.015 clean/bw, ≤ 0.03 degraded/photos; fields ≥ 0.95 scans, ≥ 0.90 photos"
    )
    lines.append(f"memory: {result['memory']}")
    for line in lines:
        sys.stdout.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
