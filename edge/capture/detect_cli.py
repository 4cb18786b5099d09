"""`sohoa edge detect FILE... [--json]`: the page's corners and the quality gates' verdicts.

For each image: detect the page, judge it, rectify and ask OSD which way up it reads, and print
the corners in the page's own order (top-left, top-right, bottom-right, bottom-left as the page
reads, in input-image pixels; `null` when no page is found) and every gate's verdict — one JSON
object per line with `--json`, a table otherwise. An unreadable file is reported and the others
go on; the count of unreadable files is returned, and the command then exits 1 (INCOMPLETE).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from edge.capture.enhance import CaptureOptions, PreparedPage, SourceKind, prepare_page
from edge.capture.files import load_page_array
from edge.errors import CaptureError

log = logging.getLogger(__name__)

DETECT_OPTIONS = CaptureOptions(dpi=150)
"""Rectify at 150 dpi: enough for OSD to tell which way up the page is, and fast."""


def detect_record(path: Path, prepared: PreparedPage) -> dict[str, Any]:
    """The JSON object printed for one file."""
    corners = (
        [[round(x, 1), round(y, 1)] for x, y in prepared.quad.corners]
        if prepared.quad is not None
        else None
    )
    gates = {
        g.gate.value: {
            "passed": g.passed,
            "value": round(g.value, 4),
            "threshold": g.threshold,
            "message": g.message_vi,
        }
        for g in prepared.gates
    }
    return {
        "file": str(path),
        "corners": corners,
        "source": prepared.source.value,
        "orientation": prepared.orientation,
        "gates": gates,
    }


def detect_file(path: Path, options: CaptureOptions = DETECT_OPTIONS) -> dict[str, Any]:
    """Detect, judge and orient the page in one image file.

    Raises:
        CaptureError: the file cannot be read, or the orientation data is missing.
    """
    image, dpi = load_page_array(path)
    prepared = prepare_page(image, SourceKind.FILE, dpi=dpi, options=options)
    return detect_record(path, prepared)


def _table_line(record: dict[str, Any]) -> str:
    corners = record["corners"]
    where = " ".join(f"({x:.0f},{y:.0f})" for x, y in corners) if corners is not None else "no page"
    failed = [name for name, verdict in record["gates"].items() if not verdict["passed"]]
    verdict = "ok" if not failed else "FAILED " + ",".join(failed)
    return f"{record['file']}: {where}  [{verdict}]"


def detect_command(files: list[Path], json_output: bool) -> int:
    """Implement `sohoa edge detect`.

    Args:
        files: the page images.
        json_output: one JSON object per line instead of a table.

    Returns:
        How many files could not be read (each reported on stderr).
    """
    unreadable = 0
    for path in files:
        try:
            record = detect_file(path)
        except CaptureError as e:
            typer.echo(f"sohoa: error: {e}", err=True)
            unreadable += 1
            continue
        if json_output:
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        typer.echo(_table_line(record))
        for name, verdict in record["gates"].items():
            if not verdict["passed"]:
                typer.echo(f"    {name}: {verdict['message']} ({verdict['value']:g})")
    return unreadable
