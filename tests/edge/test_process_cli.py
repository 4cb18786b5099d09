"""`sohoa edge process`: per-page text and fields, PDFs per file or per document, bad files, the
stage images of `--keep-stages`; its input stage (page images from files) and how a document's
fields merge across pages; and `--sign` on a real SoftHSM token (the visible box, and the
refusals that leave --out untouched)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from typer.testing import CliRunner

from cli.main import ExitCode
from cli.main import app as sohoa
from edge.capture.files import load_page_image
from edge.cli import PIN_ENV
from edge.errors import CaptureError
from edge.fields import FIELD_KEYS
from edge.ocr import OcrPool
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import VIETNAM_TIME
from edge.pipeline.run import PlannedDocument, process_files
from edge.pipeline.stages import STAGE_IMAGES, merge_fields
from edge.sample_document import SampleDocument, render_sample_result
from edge.signing.box import SignatureBox
from edge.signing.pades import DocumentSigner
from provisioning.ca import CertificateAuthority, Profile
from server.verify import Verifier
from tests.edge.capture.synthetic import CORPUS, CORPUS_MISSING
from tests.fixtures.token import DEVICE_ID, SIGNING_KEY_ID, UNIT, BlankToken

runner = CliRunner()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, SampleDocument]]:
    folder = tmp_path_factory.mktemp("pages")
    made = {}
    for stem, seed in (("trang-1", 0), ("trang-2", 2)):
        sample = render_sample_result(seed)
        path = folder / f"{stem}.png"
        sample.image.save(path, dpi=(300, 300))
        made[stem] = (path, sample)
    broken = folder / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then nothing
    made["broken"] = (broken, render_sample_result(0))
    return made


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    found = re.search(r"Pages:\s+(\d+)", info.stdout)
    assert found is not None
    return int(found.group(1))


@pytest.mark.slow
def test_batch_writes_text_fields_and_a_pdf_per_file_and_survives_a_bad_file(
    pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    files = [str(pages[name][0]) for name in ("trang-1", "broken", "trang-2")]
    result = runner.invoke(sohoa, ["edge", "process", *files, "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert re.search(r"sohoa: error: .*broken\.png: not a readable image", result.stderr)
    for stem in ("trang-1", "trang-2"):
        sample = pages[stem][1]
        text = (out / f"{stem}.txt").read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text)
        assert str(sample.fields["cccd"]) in text
        fields = json.loads((out / f"{stem}.fields.json").read_text(encoding="utf-8"))
        assert list(fields)[: len(FIELD_KEYS)] == list(FIELD_KEYS)  # extra keys may follow
        assert {key: fields[key] for key in FIELD_KEYS} == sample.fields
        assert pdf_pages(out / f"{stem}.pdf") == 1
        assert f"{stem}.pdf: 1 page(s), 9 of 9 fields" in result.stdout
    assert sorted(p.name for p in out.iterdir() if p.stem.startswith("broken")) == []


@pytest.mark.slow
def test_document_groups_all_files_in_order_into_one_pdf(
    pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    files = [str(pages["trang-1"][0]), str(pages["trang-2"][0])]
    result = runner.invoke(
        sohoa, ["edge", "process", *files, "--out", str(out), "--document", "ho-so"]
    )
    assert result.exit_code == 0, result.output
    assert pdf_pages(out / "ho-so.pdf") == 2
    assert {p.name for p in out.iterdir()} == {
        "ho-so.pdf",
        "trang-1.txt",
        "trang-1.fields.json",
        "trang-2.txt",
        "trang-2.fields.json",
    }
    text = subprocess.run(
        ["pdftotext", "-f", "2", "-l", "2", str(out / "ho-so.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(pages["trang-2"][1].fields["cccd"]) in text  # page 2 is the second file


def test_a_document_with_an_unreadable_page_is_not_written(
    pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    small = tmp_path / "header.png"
    pages["trang-1"][1].image.crop((0, 0, 2480, 500)).save(small)
    missing = tmp_path / "missing.png"
    result = runner.invoke(
        sohoa,
        ["edge", "process", str(small), str(missing), "--out", str(out), "--document", "ho-so"],
    )
    assert result.exit_code == 1
    assert "missing.png: no such file" in result.stderr
    assert "ho-so.pdf not written" in result.stderr
    assert not (out / "ho-so.pdf").exists()
    assert (out / "header.txt").is_file()  # the readable page's text is still there


def test_a_document_name_must_be_a_plain_file_name(
    pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path
) -> None:
    result = runner.invoke(
        sohoa,
        ["edge", "process", str(pages["trang-1"][0]), "--out", str(tmp_path), "--document", "../x"],
    )
    assert result.exit_code == 2
    assert "plain file name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_two_inputs_with_the_same_stem_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        render_sample_result(0).image.crop((0, 0, 1200, 400)).save(tmp_path / folder / "p.png")
    out = tmp_path / "out"
    result = runner.invoke(
        sohoa,
        [
            "edge",
            "process",
            str(tmp_path / "a" / "p.png"),
            str(tmp_path / "b" / "p.png"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "another input is also named 'p'" in result.stderr
    assert {p.name for p in out.iterdir()} == {"p.txt", "p.fields.json", "p.pdf"}


@pytest.mark.slow
def test_keep_stages_writes_each_pages_stage_images(tmp_path: Path) -> None:
    """A corpus photo (found on the desk, rectified, its light flattened) and a black-and-white
    scan (found whole, archived black and white): every stage that changed the page left its
    image, named by its place in the row."""
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_MISSING)
    photo, scan = sorted(CORPUS.glob("*_photo.jpg"))[0], sorted(CORPUS.glob("*_scan_bw.png"))[0]
    out, stages = tmp_path / "out", tmp_path / "stages"
    arguments = ["edge", "process", str(photo), str(scan), "--out", str(out)]
    result = runner.invoke(sohoa, [*arguments, "--keep-stages", str(stages)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in stages.iterdir()} == {photo.stem, scan.stem}
    modes = {}
    for stem in (photo.stem, scan.stem):
        for path in (stages / stem).iterdir():
            number, name = path.stem.split("-", 1)
            assert path.suffix == ".png" and int(number) == STAGE_IMAGES.index(name) + 1
            with Image.open(path) as image:
                assert image.format == "PNG"
                modes[stem, name] = image.mode, image.size
    with Image.open(photo) as original:
        assert modes[photo.stem, "detect"] == ("RGB", original.size)  # the outline drawn on it
    assert modes[photo.stem, "rectify"][0] == "RGB"
    assert modes[photo.stem, "flatten"][0] == "L"
    assert modes[photo.stem, "archive"] == ("RGB", modes[photo.stem, "ocr"][1])
    assert modes[photo.stem, "ocr"][0] == "L"
    assert (scan.stem, "rectify") not in modes and (scan.stem, "flatten") not in modes
    assert modes[scan.stem, "archive"] == ("1", modes[scan.stem, "ocr"][1])
    assert modes[scan.stem, "ocr"][0] == "L"
    assert (out / f"{photo.stem}.pdf").is_file() and (out / f"{scan.stem}.pdf").is_file()


# The input stage of the command: page images from files.


def test_exif_orientation_is_honoured_and_dpi_read_or_defaulted(tmp_path: Path) -> None:
    page = Image.new("L", (300, 200), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    page.save(tmp_path / "phone.jpg", exif=exif, dpi=(72, 72))
    image, dpi = load_page_image(tmp_path / "phone.jpg")
    assert image.size == (200, 300) and image.mode == "L"
    assert dpi == 300  # a phone's 72 dpi says nothing about the page
    page.save(tmp_path / "scan.png", dpi=(400, 400))
    assert load_page_image(tmp_path / "scan.png")[1] == 400
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    flat, _ = load_page_image(tmp_path / "clear.png")
    assert flat.mode == "RGB" and flat.getpixel((0, 0)) == (255, 255, 255)


def test_decompression_bombs_and_truncated_files_are_capture_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("L", (100, 100), 255).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # 10,000 pixels: a "bomb" below 2x
    with pytest.raises(CaptureError, match=r"big\.png: the image is too large"):
        load_page_image(tmp_path / "big.png")
    monkeypatch.undo()
    data = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(CaptureError, match=r"cut\.png: "):
        load_page_image(tmp_path / "cut.png")


@pytest.mark.slow
def test_explain_prints_and_writes_where_each_field_came_from(
    pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    path, sample = pages["trang-1"]
    result = runner.invoke(sohoa, ["edge", "process", str(path), "--out", str(out), "--explain"])
    assert result.exit_code == 0, result.output
    explained = out / "trang-1.explain.txt"
    assert explained.stat().st_mode & 0o777 == 0o600  # it holds the page's names and IDs
    text = explained.read_text(encoding="utf-8")
    assert text in result.stdout
    assert f"ho_ten: {sample.fields['ho_ten']!r}" in text
    assert "subject: label" in text and "read from: " in text
    assert "nguoi_ky: " in text and "signer's title" in text
    assert "cmnd: (empty) the subject has no 9-digit ID" in text
    # The signed outputs are unchanged: the flat fields file has no explanation in it.
    fields = json.loads((out / "trang-1.fields.json").read_text(encoding="utf-8"))
    assert all(value is None or "rule" not in str(value) for value in fields.values())


def test_document_fields_come_from_the_first_page_then_later_ones() -> None:
    first = dict.fromkeys(FIELD_KEYS)
    first.update(so_ky_hieu="12/QĐ-UBND", ho_ten="Ngô Thị Huệ")
    second = dict.fromkeys(FIELD_KEYS)
    second.update(ho_ten="Bùi Văn Khoa", nguoi_ky="Lý Quang Tường")
    merged = merge_fields([first, second])
    assert merged["ho_ten"] == "Ngô Thị Huệ"  # the first page wins
    assert merged["nguoi_ky"] == "Lý Quang Tường"  # filled from page 2
    assert merged["so_ky_hieu"] == "12/QĐ-UBND" and merged["cccd"] is None


# `--sign`: the token from the settings, the visible box, and what stops it before any write.


@dataclass(frozen=True)
class Enrolled:
    """A closed token holding a device's signing key and certificate, and its settings file."""

    token: BlankToken
    ca: CertificateAuthority
    config: Path


def _write_config(path: Path, values: dict[str, str]) -> Path:
    body = "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in values.items()
    )
    path.write_text(body, encoding="utf-8")
    return path


def _settings_for(token: BlankToken) -> dict[str, str]:
    return {
        "device_id": DEVICE_ID,
        "pkcs11_module": str(token.module_path),
        "token_label": token.label,
        "signing_key_id": SIGNING_KEY_ID.hex(),
        "organisation": UNIT,
        "location": "Vạn Ninh",
    }


def _enroll(
    token: BlankToken,
    ca: CertificateAuthority,
    folder: Path,
    *,
    not_before: dt.datetime | None = None,
    valid_days: int = 825,
) -> Enrolled:
    with token.open() as opened:
        opened.generate_signing_key(SIGNING_KEY_ID, "document-signing")
        csr = opened.make_csr(SIGNING_KEY_ID, DEVICE_ID)
        cert = ca.issue(
            csr.public_key(),
            DEVICE_ID,
            Profile.DOCUMENT_SIGNING,
            unit=UNIT,
            not_before=not_before,
            valid_days=valid_days,
        )
        opened.import_certificate(cert, SIGNING_KEY_ID, "document-signing")
    return Enrolled(token, ca, _write_config(folder / "edge.toml", _settings_for(token)))


@pytest.fixture
def enrolled(blank_token: BlankToken, signing_ca: CertificateAuthority, tmp_path: Path) -> Enrolled:
    return _enroll(blank_token, signing_ca, tmp_path)


@pytest.fixture
def header_page(pages: dict[str, tuple[Path, SampleDocument]], tmp_path: Path) -> Path:
    """The top of a sample page: enough to OCR quickly and to carry the box."""
    path = tmp_path / "header.png"
    pages["trang-1"][1].image.crop((0, 0, 2480, 700)).save(path, dpi=(300, 300))
    return path


def test_sign_writes_a_signed_pdfa_with_the_box(
    enrolled: Enrolled, header_page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PIN_ENV, enrolled.token.user_pin)
    out = tmp_path / "out"
    result = runner.invoke(
        sohoa,
        [
            "edge",
            "process",
            str(header_page),
            "--out",
            str(out),
            "--sign",
            "--config",
            str(enrolled.config),
        ],
    )
    assert result.exit_code == 0, result.output
    signed = (out / "header.pdf").read_bytes()
    assert check_pdfa(signed) == []
    verdict = Verifier([enrolled.ca.cert]).verify(signed, device_id=DEVICE_ID)
    assert verdict.valid, verdict.detail
    assert verdict.signing_time is not None
    shown = verdict.signing_time.astimezone(VIETNAM_TIME).isoformat()
    assert f"signed {shown} in " in result.stdout
    text = subprocess.run(
        ["pdftotext", str(out / "header.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Sao y từ văn bản giấy sang văn bản điện tử\n{UNIT}\n{shown}" in text
    xmp = PdfFileReader(io.BytesIO(signed), strict=False).root["/Metadata"].data
    assert f"do {UNIT}".encode() in xmp  # the conversion mark of the PDF/A names the unit
    assert {p.name for p in out.iterdir()} == {"header.pdf", "header.txt", "header.fields.json"}


def test_sign_asks_for_the_pin_when_it_is_not_in_the_environment(
    enrolled: Enrolled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PIN_ENV, raising=False)
    missing = tmp_path / "missing.png"  # fails after the token opened: nothing to OCR
    result = runner.invoke(
        sohoa,
        [
            "edge",
            "process",
            str(missing),
            "--out",
            str(tmp_path / "out"),
            "--sign",
            "--config",
            str(enrolled.config),
        ],
        input=f"{enrolled.token.user_pin}\n",
    )
    assert "Mã PIN của token ký số" in result.output
    assert "missing.png: no such file" in result.stderr
    assert "PIN" not in result.stderr


def _refused(
    config: Path,
    out: Path,
    pin: str,
    monkeypatch: pytest.MonkeyPatch,
    page: Path,
    code: ExitCode = ExitCode.EDGE,
) -> str:
    """Run `sohoa edge process --sign`, expect a refusal with exit status `code` before anything
    is written; return stderr."""
    monkeypatch.setenv(PIN_ENV, pin)
    result = runner.invoke(
        sohoa,
        ["edge", "process", str(page), "--out", str(out), "--sign", "--config", str(config)],
    )
    assert result.exit_code == code, result.output
    assert not out.exists()
    return result.stderr


def test_a_wrong_pin_stops_before_anything_is_written(
    enrolled: Enrolled, header_page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _refused(enrolled.config, tmp_path / "out", "000000", monkeypatch, header_page)
    assert "refused the PIN. It was not retried" in stderr


def test_a_missing_module_stops_before_anything_is_written(
    enrolled: Enrolled, header_page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "libvendor-pkcs11.so"
    config = _write_config(
        tmp_path / "vendor.toml", {**_settings_for(enrolled.token), "pkcs11_module": str(module)}
    )
    stderr = _refused(config, tmp_path / "out", enrolled.token.user_pin, monkeypatch, header_page)
    assert f"the PKCS#11 module {module} does not exist" in stderr


@pytest.mark.parametrize(
    ("start_days", "valid_days", "complaint"),
    [(-400, 30, "expired on"), (3, 365, "is not valid yet")],
)
def test_a_certificate_outside_its_validity_stops_before_anything_is_written(
    blank_token: BlankToken,
    signing_ca: CertificateAuthority,
    header_page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_days: int,
    valid_days: int,
    complaint: str,
) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=start_days)
    enrolled = _enroll(blank_token, signing_ca, tmp_path, not_before=start, valid_days=valid_days)
    stderr = _refused(
        enrolled.config, tmp_path / "out", blank_token.user_pin, monkeypatch, header_page
    )
    assert f"the signing certificate of {DEVICE_ID} {complaint}" in stderr


@pytest.mark.parametrize(
    ("drop", "complaint"),
    [
        ("signing_key_id", "'signing_key_id' is not set"),
        ("token_label", "'token_label' (or 'token_serial') is not set"),
        ("organisation", "'organisation' is not set"),
    ],
)
def test_a_missing_signing_setting_is_named(
    enrolled: Enrolled,
    header_page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drop: str,
    complaint: str,
) -> None:
    values = {k: v for k, v in _settings_for(enrolled.token).items() if k != drop}
    config = _write_config(tmp_path / "partial.toml", values)
    stderr = _refused(
        config, tmp_path / "out", enrolled.token.user_pin, monkeypatch, header_page, ExitCode.CONFIG
    )
    assert complaint in stderr


def test_a_document_whose_signature_fails_gets_none_of_its_files(
    enrolled: Enrolled, header_page: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with enrolled.token.open() as token, OcrPool(1) as pool:
        signer = DocumentSigner(token, SIGNING_KEY_ID, organisation=UNIT, box=SignatureBox())
        token.close()  # the token is gone by the time the document is ready
        outcome = process_files(PlannedDocument("ho-so", (header_page,)), pool, out, signer=signer)
    assert outcome.pdf_path is None
    assert len(outcome.failures) == 1
    assert "ho-so: not signed, so none of its files were written" in outcome.failures[0]
    assert "is closed" in outcome.failures[0]
    assert list(out.iterdir()) == []


def test_queue_without_sign_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    made = CliRunner().invoke(sohoa, ["edge", "sample", "--out", str(page), "--seed", "3"])
    assert made.exit_code == 0 and page.stat().st_size > 0, made.output
    refused = CliRunner().invoke(
        sohoa, ["edge", "process", str(page), "--out", str(tmp_path / "out"), "--queue"]
    )
    assert refused.exit_code == ExitCode.USAGE
    assert "give --sign too" in refused.output
    assert not (tmp_path / "out").exists()
