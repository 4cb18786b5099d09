"""The `scanner` fixture really is SANE's test backend: A4 at 300 dpi, flatbed and ADF."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image

from tests.fixtures.scanner import SaneTestScanner

A4 = ["--resolution", "300", "-x", "210", "-y", "297", "--format=png"]


def _scanimage(scanner: SaneTestScanner, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["scanimage", "-d", scanner.device, *A4, *args],
        env=scanner.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_flatbed_scans_a4_at_300_dpi(scanner: SaneTestScanner, tmp_path: Path) -> None:
    out = tmp_path / "page.png"
    done = _scanimage(scanner, "-o", str(out))
    assert done.returncode == 0, done.stderr
    with Image.open(out) as page:
        width, height = page.size
    # 210 x 297 mm at 300 dpi; SANE rounds the last line down.
    assert width == 2480
    assert height in (3507, 3508)


def test_adf_runs_out_of_documents_after_its_batch(
    scanner: SaneTestScanner, tmp_path: Path
) -> None:
    done = _scanimage(
        scanner, "--source", "Automatic Document Feeder", f"--batch={tmp_path}/p%d.png"
    )
    assert "out of documents" in done.stderr
    assert len(list(tmp_path.glob("p*.png"))) == 10
