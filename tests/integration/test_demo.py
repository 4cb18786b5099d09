"""The thin path end to end, as `sohoa demo` runs it: real SoftHSM, Tesseract, Mosquitto, server.

One run of the real command; then other tools check what it left behind.
"""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.pdf.pdfa_check import check_pdfa
from edge.sample_document import render_sample_result

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--json", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, json.loads(done.stdout.strip().splitlines()[-1])


def test_demo_reports_a_verified_record(demo_run: tuple[Path, dict[str, Any]]) -> None:
    _, result = demo_run
    assert result["signature_valid"] is True
    assert result["device_id"] == "demo-appliance-01"
    assert result["record_id"]
    for stage in (
        "provision",
        "broker",
        "server",
        "render",
        "ocr",
        "fields",
        "pdf",
        "sign",
        "sync",
        "fetch",
    ):
        assert result["seconds"][stage] >= 0


def test_demo_reads_every_field_of_the_sample(demo_run: tuple[Path, dict[str, Any]]) -> None:
    _, result = demo_run
    expected = render_sample_result(0).fields
    assert result["fields"] == {k: expected[k] for k in result["fields"]}
    assert set(expected) <= set(result["fields"])


def test_signed_pdf_verifies_with_poppler(demo_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, result = demo_run
    pdf = Path(result["pdf_path"])
    assert pdf.parent == workdir
    done = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, check=False)
    assert "Signature is Valid" in done.stdout, done.stdout
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    number = render_sample_result(0).fields["so_ky_hieu"]
    assert number is not None
    assert number in text


def test_signed_pdf_shows_the_box_and_stays_pdfa(demo_run: tuple[Path, dict[str, Any]]) -> None:
    """The demo signs as the appliance does: Nghị định 30's box at the top right of page 1, and
    the signed file is still a PDF 1.7 file that keeps PDF/A-2b's rules."""
    _, result = demo_run
    signed = Path(result["pdf_path"]).read_bytes()
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    (signature,) = reader.embedded_signatures
    x1, y1, x2, y2 = (float(v) for v in signature.sig_field["/Rect"])
    _, _, width, height = (float(v) for v in reader.root["/Pages"]["/Kids"][0]["/MediaBox"])
    assert x2 - x1 > 150 and y2 - y1 > 30
    assert x2 > width / 2 and y2 > height / 2
    assert signed.startswith(b"%PDF-1.7")
    assert str(reader.root.get("/Version", "/1.7")) == "/1.7"
    assert check_pdfa(signed) == []
    page_one = subprocess.run(
        ["pdftotext", "-l", "1", Path(result["pdf_path"]), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "UBND xã Vạn Thắng" in page_one


def test_signer_certificate_chains_to_the_demo_ca(demo_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, result = demo_run
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            result["ca_cert_path"],
            str(workdir / "device/signing.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_repository_holds_the_record_once(demo_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, result = demo_run
    with sqlite3.connect(workdir / "server/repository.db") as db:
        rows = db.execute("SELECT id, signature_valid FROM record").fetchall()
    assert rows == [(result["record_id"], 1)]


def test_demo_reads_its_record_through_an_account_it_made(
    demo_run: tuple[Path, dict[str, Any]],
) -> None:
    """The API answers only with a token: the demo made a province admin account, signed in
    with it and fetched the record (issue 15, item 1)."""
    workdir, result = demo_run
    with sqlite3.connect(workdir / "server/repository.db") as db:
        rows = db.execute(
            "SELECT username, role, password_hash, last_login_at FROM account"
        ).fetchall()
    assert len(rows) == 1
    username, role, password_hash, last_login_at = rows[0]
    assert (username, role) == ("demo-admin", "province_admin")
    assert password_hash.startswith("$argon2id$") and last_login_at is not None
    assert result["record_url"].endswith(f"/api/records/{result['record_id']}")


def test_citizen_data_is_its_services_user_only(demo_run: tuple[Path, dict[str, Any]]) -> None:
    """After the real run: the server's data folder, repository, blobs and log, and the
    appliance's outbox and its PDFs, are readable by their owner only (issue 14, item 6)."""
    workdir, _ = demo_run
    server, outbox = workdir / "server", workdir / "device" / "data" / "outbox"
    # Both stores are content-addressed (`blobs/ab/<sha256>.pdf`): how many `ab` folders
    # there are depends on the hashes and on whether the LTV copy is written yet, so the
    # count below is of the folders every run has.
    folders = [server, server / "blobs", *(p for p in (server / "blobs").rglob("*") if p.is_dir())]
    folders += [outbox, *(p for p in outbox.rglob("*") if p.is_dir())]
    files = [server / "repository.db", server / "server.log", server / "token-key"]
    files += list((server / "blobs").rglob("*.pdf"))
    files += [outbox / "outbox.db", *outbox.rglob("*.pdf")]
    assert len(folders) >= 6 and len(files) >= 5
    modes = {str(p): stat.S_IMODE(p.stat().st_mode) for p in folders + files}
    assert modes == {str(p): 0o700 for p in folders} | {str(p): 0o600 for p in files}


def test_demo_without_mosquitto_names_the_cause_and_the_fix(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # mosquitto lives in /usr/sbin
    done = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "broker" in last
    assert "apt-get install mosquitto" in last
