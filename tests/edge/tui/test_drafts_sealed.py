"""The kiosk's half-done results sealed at rest like the outbox (`edge.tui.flow`'s draft files,
`edge.tui.batch`'s signed PDFs): with `outbox_sealing` on, the unlock opens the outbox and from
then on every page image, draft and batch file is written sealed with the outbox's data key,
bound to its place; it reads back whole; moved or altered it is refused; with sealing off the
files stay as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from edge.capture.source import CapturedPage, SourceKind
from edge.config import EdgeSettings
from edge.errors import CaptureError
from edge.tui import batch, flow, pages
from edge.tui.services import KioskServices
from tests.fixtures.token import BlankToken

NAME = "Nguyễn Thị Hương"
CCCD = "056185000123"
PNG_MAGIC = b"\x89PNG"


def page(text: str = "QUYET DINH 12/QD-UBND") -> CapturedPage:
    image = Image.new("L", (620, 877), 255)
    ImageDraw.Draw(image).text((40, 60), text, fill=0)
    return CapturedPage(image=image, dpi=150, source=SourceKind.CAMERA, index=0)


def settings_for(token: BlankToken, tmp_path: Path, *, sealing: bool) -> EdgeSettings:
    return EdgeSettings(
        device_id="kiosk-seal-01",
        data_dir=tmp_path / "data",
        pkcs11_module=token.module_path,
        token_label=token.label,
        outbox_sealing=sealing,
    )


@pytest.fixture
def unlocked(blank_token: BlankToken, tmp_path: Path) -> Iterator[KioskServices]:
    """A kiosk with sealing on, unlocked with the token's PIN."""
    services = KioskServices(settings_for(blank_token, tmp_path, sealing=True))
    try:
        services.open_token(blank_token.user_pin)
        yield services
    finally:
        services.close()
        flow.seal_drafts(flow.kiosk_dir(services.settings), None)


def raw_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_after_unlock_the_draft_is_written_sealed_and_reads_back(
    unlocked: KioskServices,
) -> None:
    folder = flow.draft_dir(unlocked.settings)
    draft = flow.Draft(procedure="1.001193", procedure_name="Đăng ký khai sinh")
    first = flow.keep_page(folder, draft, page())
    flow.keep_page(folder, draft, page("TRANG 2"))
    draft.corrections = {"ho_ten": NAME, "cccd": CCCD}
    flow.save_draft(folder, draft)

    for name, data in raw_files(folder).items():
        assert not data.startswith(PNG_MAGIC), name
        assert NAME.encode() not in data and CCCD.encode() not in data, name
        assert b"1.001193" not in data, name  # the draft's JSON is sealed whole

    again = unlocked.pending_draft()
    assert again is not None and again.pages == draft.pages
    assert again.corrections == {"ho_ten": NAME, "cccd": CCCD}
    array, dpi = flow.load_draft_page(folder / first, max_pixels=40_000_000)
    assert array.shape == (877, 620) and dpi == 150
    assert pages.small_image(folder / first, 100).width == 100


def test_a_batch_results_signed_pdf_and_its_fields_are_sealed(unlocked: KioskServices) -> None:
    where = batch.batch_dir(unlocked.settings) / "r001"
    meta = json.dumps({"fields": {"ho_ten": NAME, "cccd": CCCD}}, ensure_ascii=False).encode()
    flow.write_draft_file(where / batch.SIGNED_META, meta)
    flow.write_draft_file(where / batch.SIGNED_PDF, b"%PDF-1.7 " + CCCD.encode())
    for name, data in raw_files(where).items():
        assert not data.startswith(b"%PDF") and CCCD.encode() not in data, name
    assert flow.read_draft_file(where / batch.SIGNED_META) == meta


def test_a_moved_or_altered_page_is_refused(unlocked: KioskServices) -> None:
    folder = flow.draft_dir(unlocked.settings)
    draft = flow.Draft(procedure="1.001193", procedure_name="Đăng ký khai sinh")
    first = flow.keep_page(folder, draft, page())
    second = flow.keep_page(folder, draft, page("TRANG 2"))
    (folder / second).write_bytes((folder / first).read_bytes())  # bound to its own name
    with pytest.raises(CaptureError, match="does not open"):
        flow.load_draft_page(folder / second, max_pixels=40_000_000)
    with pytest.raises(OSError, match="does not open"):
        pages.small_image(folder / second, 100)
    data = bytearray((folder / first).read_bytes())
    data[-1] ^= 1
    (folder / first).write_bytes(bytes(data))
    with pytest.raises(CaptureError, match="does not open"):
        flow.load_draft_page(folder / first, max_pixels=40_000_000)


def test_a_sealed_draft_is_kept_not_set_aside_while_the_outbox_is_not_open(
    unlocked: KioskServices,
) -> None:
    folder = flow.draft_dir(unlocked.settings)
    draft = flow.Draft(procedure="1.001193", procedure_name="Đăng ký khai sinh")
    flow.keep_page(folder, draft, page())
    flow.seal_drafts(flow.kiosk_dir(unlocked.settings), None)  # as before the unlock
    assert flow.load_draft(folder) is None
    assert (folder / flow.DRAFT_FILE).exists()  # kept for when the key is open again


def test_with_sealing_off_the_draft_stays_as_it_was(
    blank_token: BlankToken, tmp_path: Path
) -> None:
    services = KioskServices(settings_for(blank_token, tmp_path, sealing=False))
    try:
        services.open_token(blank_token.user_pin)
        folder = flow.draft_dir(services.settings)
        draft = flow.Draft(procedure="1.001193", procedure_name="Đăng ký khai sinh")
        name = flow.keep_page(folder, draft, page())
        assert (folder / name).read_bytes().startswith(PNG_MAGIC)
        assert json.loads((folder / flow.DRAFT_FILE).read_text())["pages"] == [name]
    finally:
        services.close()
