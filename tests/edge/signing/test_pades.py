"""PAdES signing through pyHanko's PKCS#11 signer on a real SoftHSM2 token."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from edge.config import EdgeSettings, load_edge_settings
from edge.errors import ConfigError, SigningError, TokenError
from edge.ocr import OcrPage
from edge.pdf.assemble import assemble_pdf
from edge.pdf.pdfa_check import check_pdfa
from edge.pdf.xmp import VIETNAM_TIME, Provenance
from edge.sample_document import render_sample_result
from edge.signing.box import SignatureBox
from edge.signing.pades import DEFAULT_REASON, DocumentSigner, open_document_signer
from edge.signing.token import Token
from provisioning.ca import CertificateAuthority, Profile
from server.verify import Verifier
from tests.fixtures.token import BlankToken, SigningIdentity, make_pdf, provision_signing_identity


def _signer(identity: SigningIdentity) -> DocumentSigner:
    return DocumentSigner(
        identity.token, identity.key_id, organisation=identity.unit, location="Vạn Ninh"
    )


def test_signature_is_pades_with_reason_location_and_time(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = _signer(signing_identity).sign(unsigned_pdf)

    assert signed.startswith(unsigned_pdf)  # an incremental update: the original is untouched
    # Pillow writes generation 65536 for the free entry 0: pyHanko reads that only non-strictly.
    (sig,) = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == DEFAULT_REASON
    assert sig.sig_object["/Location"] == "Vạn Ninh"
    assert sig.sig_object["/Name"] == signing_identity.unit
    assert sig.self_reported_timestamp is not None
    assert sig.self_reported_timestamp >= before - dt.timedelta(seconds=1)
    assert sig.signer_cert.dump() == signing_identity.certificate.public_bytes(
        serialization.Encoding.DER
    )
    signed_attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= signed_attrs
    # PAdES (ETSI EN 319 142-1) forbids the CMS signing-time attribute; the time is /M.
    assert "signing_time" not in signed_attrs


def test_signed_pdf_verifies_against_the_ca(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    signed = _signer(signing_identity).sign(unsigned_pdf)
    verdict = Verifier([signing_identity.ca.cert]).verify(
        signed, device_id=signing_identity.device_id
    )
    assert verdict.valid, verdict.detail


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils is not installed")
def test_poppler_finds_the_signature_intact(
    signing_identity: SigningIdentity, unsigned_pdf: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(_signer(signing_identity).sign(unsigned_pdf))
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature Validation: Signature is Valid." in done.stdout, done.stdout
    assert "Signature Type: ETSI.CAdES.detached" in done.stdout
    assert f"Signer Certificate Common Name: {signing_identity.device_id}" in done.stdout
    assert "Total document signed" in done.stdout


def test_one_signer_signs_many_documents_from_many_threads(
    signing_identity: SigningIdentity,
) -> None:
    signer = _signer(signing_identity)
    verifier = Verifier([signing_identity.ca.cert])
    documents = [make_pdf(f"QUYET DINH so {n:02d}/QD-UBND") for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        signed = list(pool.map(signer.sign, documents))
    for original, result in zip(documents, signed, strict=True):
        assert result.startswith(original)
        verdict = verifier.verify(result, device_id=signing_identity.device_id)
        assert verdict.valid, verdict.detail


def test_not_a_pdf_is_a_signing_error(signing_identity: SigningIdentity) -> None:
    with pytest.raises(SigningError, match=r"not a readable PDF|could not be signed"):
        _signer(signing_identity).sign(b"this is not a PDF at all")


def test_signer_needs_a_certificate_under_the_key_id(token: Token) -> None:
    token.generate_signing_key(b"\x01", "no-certificate-yet")
    with pytest.raises(TokenError, match="enroll the device"):
        DocumentSigner(token, b"\x01")


def test_signing_after_the_token_closed_is_a_token_error(
    blank_token: BlankToken, signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    signer = _signer(signing_identity)
    signing_identity.token.close()
    with pytest.raises(TokenError, match="is closed"):
        signer.sign(unsigned_pdf)
    # Reopened, the key and certificate are still there and sign again.
    with blank_token.open() as token:
        signed = DocumentSigner(token, signing_identity.key_id).sign(unsigned_pdf)
    assert (
        Verifier([signing_identity.ca.cert])
        .verify(signed, device_id=signing_identity.device_id)
        .valid
    )


async def test_signing_on_an_event_loop_is_refused(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    with pytest.raises(SigningError, match="worker thread"):
        _signer(signing_identity).sign(unsigned_pdf)


def test_provisioned_identity_names_the_device(signing_identity: SigningIdentity) -> None:
    again = provision_signing_identity(
        signing_identity.token, signing_identity.ca, key_id=b"\x02", device_id="appliance-02"
    )
    signed = DocumentSigner(again.token, again.key_id).sign(make_pdf())
    verdict = Verifier([again.ca.cert]).verify(signed, device_id="appliance-02")
    assert verdict.valid, verdict.detail
    assert verdict.signer_common_name == "appliance-02"


# --- the visible box of Nghị định 30/2020 and refused input ------------------------------------


def _pdfa(pages: int = 1) -> bytes:
    """A PDF/A-2b of rendered sample pages (an empty OCR layer: no Tesseract needed)."""
    images = [render_sample_result(seed).image for seed in range(pages)]
    return assemble_pdf(
        [(image, OcrPage("", (), image.width, image.height, 300, 0.0)) for image in images],
        title="QUYẾT ĐỊNH",
        provenance=Provenance("UBND xã Vạn Thắng"),
    )


@pytest.fixture(scope="module")
def pdfa() -> bytes:
    return _pdfa()


def _box_signer(identity: SigningIdentity, box: SignatureBox | None = None) -> DocumentSigner:
    return DocumentSigner(
        identity.token,
        identity.key_id,
        organisation=identity.unit,
        location="Vạn Ninh",
        box=box or SignatureBox(),
    )


def _first_page_text(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "box.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-l", "1", str(path), "-"], capture_output=True, text=True, check=True
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def test_visible_box_shows_the_mark_the_organisation_and_the_signing_time_of_m(
    signing_identity: SigningIdentity, pdfa: bytes, tmp_path: Path
) -> None:
    result = _box_signer(signing_identity).sign_document(pdfa)

    reader: Any = PdfFileReader(io.BytesIO(result.pdf), strict=False)  # partly unannotated
    (sig,) = reader.embedded_signatures
    assert sig.self_reported_timestamp == result.signing_time  # `/M`, to the second
    shown = result.signing_time.astimezone(VIETNAM_TIME).isoformat()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", shown)
    lines = _first_page_text(result.pdf, tmp_path)
    start = lines.index("Sao y từ văn bản giấy sang văn bản điện tử")
    assert lines[start : start + 3] == [
        "Sao y từ văn bản giấy sang văn bản điện tử",
        signing_identity.unit,
        shown,
    ]
    # Top right of the first page, inside it, and printable (PDF/A 6.3.2).
    annotation = sig.sig_field
    x1, y1, x2, y2 = (float(v) for v in annotation["/Rect"])
    page_ref, _ = reader.find_page_for_modification(0)
    _, _, width, height = (float(v) for v in page_ref.get_object()["/MediaBox"])
    assert annotation.raw_get("/P").idnum == page_ref.idnum
    assert width - 20 < x2 <= width and height - 20 < y2 <= height
    assert x2 - x1 > 150 and 30 < y2 - y1 < 60
    assert int(annotation["/F"]) & 4


def test_box_signature_keeps_pdfa_and_other_tools_agree(
    signing_identity: SigningIdentity, pdfa: bytes, tmp_path: Path
) -> None:
    signed = _box_signer(signing_identity).sign(pdfa)

    assert signed.startswith(pdfa)
    assert check_pdfa(signed) == []
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    qpdf = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    noto = [line for line in fonts.stdout.splitlines() if "NotoSerif" in line]
    assert len(noto) == 1 and noto[0].split()[-5:-2] == ["yes", "yes", "yes"]  # emb sub uni
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature Validation: Signature is Valid." in done.stdout, done.stdout
    assert "Total document signed" in done.stdout
    verdict = Verifier([signing_identity.ca.cert]).verify(
        signed, device_id=signing_identity.device_id
    )
    assert verdict.valid, verdict.detail


def test_box_text_comes_from_the_template(
    signing_identity: SigningIdentity, pdfa: bytes, tmp_path: Path
) -> None:
    box = SignatureBox("Bản chuyển đổi từ giấy — 100%\nĐơn vị: {organisation}\nKý lúc {time}")
    result = _box_signer(signing_identity, box).sign_document(pdfa)
    shown = result.signing_time.astimezone(VIETNAM_TIME).isoformat()
    lines = _first_page_text(result.pdf, tmp_path)
    start = lines.index("Bản chuyển đổi từ giấy — 100%")
    assert lines[start + 1 : start + 3] == [f"Đơn vị: {signing_identity.unit}", f"Ký lúc {shown}"]


def test_a_second_document_gets_the_box_too(
    signing_identity: SigningIdentity, tmp_path: Path
) -> None:
    signer = _box_signer(signing_identity)
    three_pages = _pdfa(3)
    first = signer.sign_document(three_pages)
    second = signer.sign_document(three_pages)
    assert check_pdfa(second.pdf) == []
    assert second.times.token > 0 and second.times.cms > 0 and second.times.pdf > 0
    for result in (first, second):
        shown = result.signing_time.astimezone(VIETNAM_TIME).isoformat()
        assert shown in _first_page_text(result.pdf, tmp_path)


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{organisation}", r"must show \{time\}"),
        ("{time}", r"must show \{organisation\}"),
        ("{organisation} {time} {device}", r"unknown placeholder \{device\}"),
        ("{organisation} {time:%H}", r"unknown placeholder \{time\}"),
        ("{organisation} {time", "not a valid template"),
    ],
)
def test_a_bad_template_is_refused_with_the_reason(template: str, complaint: str) -> None:
    with pytest.raises(SigningError, match=complaint):
        SignatureBox(template)
    with pytest.raises(ConfigError, match=r"signature_box_text"):
        load_edge_settings_from({"device_id": "dev-1", "signature_box_text": template})


def load_edge_settings_from(values: dict[str, str]) -> EdgeSettings:
    """Settings as `load_edge_settings` reads them (a TOML file), from `values`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edge.toml"
        body = "".join(
            f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in values.items()
        )
        path.write_text(body, encoding="utf-8")
        return load_edge_settings(path)


def test_a_font_without_vietnamese_letters_or_no_font_is_refused(
    signing_identity: SigningIdentity, tmp_path: Path
) -> None:
    armenian = Path("/usr/share/fonts/truetype/noto/NotoSansArmenian-Regular.ttf")
    with pytest.raises(SigningError, match=r"has no glyph for .*ắ"):
        _box_signer(signing_identity, SignatureBox(font=armenian))
    with pytest.raises(SigningError, match=r"cannot be read .*fonts-noto-core"):
        _box_signer(signing_identity, SignatureBox(font=tmp_path / "missing.ttf"))


def test_the_box_needs_the_organisation(signing_identity: SigningIdentity) -> None:
    with pytest.raises(SigningError, match="set 'organisation'"):
        DocumentSigner(signing_identity.token, signing_identity.key_id, box=SignatureBox())


def _reissue(identity: SigningIdentity, not_before: dt.datetime, valid_days: int) -> None:
    """Replace the token's certificate by one with the given validity (same key)."""
    csr = identity.token.make_csr(identity.key_id, identity.device_id)
    cert = identity.ca.issue(
        csr.public_key(),
        identity.device_id,
        Profile.DOCUMENT_SIGNING,
        unit=identity.unit,
        not_before=not_before,
        valid_days=valid_days,
    )
    identity.token.import_certificate(cert, identity.key_id, label="document-signing")


def test_an_expired_certificate_is_refused(signing_identity: SigningIdentity) -> None:
    now = dt.datetime.now(dt.UTC)
    _reissue(signing_identity, now - dt.timedelta(days=400), valid_days=30)
    with pytest.raises(SigningError, match=r"test-appliance-01 expired on .*enroll again"):
        _box_signer(signing_identity)


def test_a_certificate_not_valid_yet_is_refused(signing_identity: SigningIdentity) -> None:
    now = dt.datetime.now(dt.UTC)
    _reissue(signing_identity, now + dt.timedelta(days=3), valid_days=365)
    with pytest.raises(SigningError, match=r"is not valid yet: .*appliance's clock"):
        _signer(signing_identity)


def test_a_certificate_that_expires_while_the_signer_lives_is_refused_then(
    signing_identity: SigningIdentity,
) -> None:
    signer = _signer(signing_identity)
    later = signing_identity.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(SigningError, match="expired on"):
        signer.check_certificate(later)


def test_a_signed_document_is_not_signed_again(
    signing_identity: SigningIdentity, unsigned_pdf: bytes
) -> None:
    signer = _signer(signing_identity)
    signed = signer.sign(unsigned_pdf)
    with pytest.raises(SigningError, match=r"already signed \(signature field 'Signature1'\)"):
        signer.sign(signed)


def test_a_truncated_pdf_is_a_signing_error(signing_identity: SigningIdentity, pdfa: bytes) -> None:
    with pytest.raises(SigningError, match=r"not a readable PDF|could not be signed"):
        _box_signer(signing_identity).sign(pdfa[: len(pdfa) // 2])


def test_settings_pick_the_token_by_serial_and_may_ask_for_an_invisible_signature(
    blank_token: BlankToken, signing_ca: CertificateAuthority
) -> None:
    with blank_token.open() as token:
        identity = provision_signing_identity(token, signing_ca)
        serial = token.serial
    settings = EdgeSettings(
        device_id=identity.device_id,
        pkcs11_module=blank_token.module_path,
        token_serial=serial,
        signing_key_id=identity.key_id.hex(),
        organisation=identity.unit,
        signature_box=False,
    )
    with open_document_signer(settings, blank_token.user_pin) as signer:
        assert not signer.visible
        signed = signer.sign(make_pdf())
    (sig,) = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures
    assert [float(v) for v in sig.sig_field["/Rect"]] == [0, 0, 0, 0]
    visible = settings.model_copy(update={"signature_box": True})
    with open_document_signer(visible, blank_token.user_pin) as signer:
        assert signer.visible
