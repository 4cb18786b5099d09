"""A new result end to end through the kiosk, with real parts: the procedure typed without
marks, a real page scanned through SANE (the `pnm` backend hands SANE a rendered result; the
`test` backend has only test pictures to OCR), Tesseract, the review with a correction, the
signature on SoftHSM, the outbox. And a half-done result that survives the kiosk's crash."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from textual.pilot import Pilot
from textual.widgets import Input, ListView, Static
from textual.widgets._footer import FooterKey

from edge.capture.scanner import ColourMode, ScanSettings
from edge.config import EdgeSettings
from edge.errors import OcrError, TokenError
from edge.fields.model import ProblemCode
from edge.pdf.xmp import signed_metadata
from edge.sample_document import render_sample_result
from edge.sync.outbox import Outbox, State
from edge.tui import flow
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.screens.new_result import NewResultScreen
from edge.tui.screens.review import PROBLEM_WORDS, ReviewScreen
from edge.tui.services import KioskServices
from provisioning.ca import CertificateAuthority
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import SIGNING_KEY_ID, UNIT, BlankToken, provision_signing_identity

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = REPO / "server" / "data" / "procedures.csv"
pytestmark = pytest.mark.slow


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    """A rendered result (300 dpi, grey) as SANE's `pnm` backend reads it."""
    path = tmp_path / "page.pgm"
    render_sample_result(0).image.save(path)
    return path


@pytest.fixture
def flow_settings(
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    signing_ca: CertificateAuthority,
    scanner: SaneTestScanner,
) -> Iterator[EdgeSettings]:
    """The kiosk's appliance with a signing key and certificate on its token, the catalogue
    and the `pnm` scanner."""
    with blank_token.open() as token:
        provision_signing_identity(token, signing_ca)
    yield kiosk_settings.model_copy(
        update={
            "signing_key_id": SIGNING_KEY_ID.hex(),
            "organisation": UNIT,
            "procedures_file": CATALOGUE,
            "scanner_device": "pnm:0",
        }
    )


LOW = ProblemCode.LOW_OCR_CONFIDENCE


def problem_line(review: ReviewScreen, key: str) -> str:
    line = review.query_one(f"#problem-{key}", Static)
    return "" if line.has_class("-empty") else str(line.render())


def kiosk(settings: EdgeSettings, page: Path) -> KioskApp:
    scan = ScanSettings(mode=ColourMode.GREY, backend_options={"filename": str(page)})
    return make_kiosk(settings, scan=scan, refresh_s=3600)


async def scan_one_page(pilot, pin: str) -> CaptureScreen:  # type: ignore[no-untyped-def]
    """Unlock, N, type a procedure without marks, Enter: the page is scanned."""
    await type_pin(pilot, pin)
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(pilot.app.screen, NewResultScreen)
    await pilot.press(*"chung thuc ban sao", "enter")
    await wait_workers(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CaptureScreen)
    assert screen.draft.procedure == "2.000815"
    assert len(screen.draft.pages) == 1
    return screen


async def test_a_result_from_new_to_queued(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    app = kiosk(flow_settings, page_file)
    async with app.run_test(size=SIZE) as pilot:
        await scan_one_page(pilot, blank_token.user_pin)
        await pilot.press("enter")  # read
        await wait_workers(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        read = dict(review.document.fields)
        assert read["loai_van_ban"] == "QUYẾT ĐỊNH"
        # The officer corrects the number.
        review.query_one("#field-so_ky_hieu").focus()
        await pilot.press("ctrl+u", *"99/QĐ-UBND", "tab")
        await pilot.pause()
        assert review.draft.corrections == {"so_ky_hieu": "99/QĐ-UBND"}
        await pilot.press("f2")  # sign
        await wait_workers(pilot)
        assert isinstance(app.screen, HomeScreen)

    with Outbox(flow_settings.outbox_dir) as outbox:
        (item,) = outbox.listing()
        assert item.state is State.QUEUED
        assert item.fields["so_ky_hieu"] == "99/QĐ-UBND"
        assert item.fields["ho_ten"] == read["ho_ten"]
        assert dict(item.metadata) == {
            "procedure": "2.000815",
            "pages": "1",
            "corrected": "so_ky_hieu",
        }
        pdf = outbox.load_pdf(item.result_id)
    # The correction is inside the signed document, and the document is signed.
    signed = signed_metadata(pdf)
    assert signed is not None and signed.fields["so_ky_hieu"] == "99/QĐ-UBND"
    assert signed.read == {"so_ky_hieu": read["so_ky_hieu"]}  # the value read, signed beside
    assert PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert not flow.draft_dir(flow_settings).exists()  # nothing half-done is left


async def tap_key(pilot: Pilot[None], action: str) -> None:
    """A tap on the footer's key for `action` (a touch arrives as a mouse click)."""
    keys = [k for k in pilot.app.screen.query(FooterKey) if k.action == action]
    assert keys, f"no footer key for {action} on {pilot.app.screen}"
    assert await pilot.click(keys[0])
    await wait_workers(pilot)


async def test_a_result_by_touch_alone(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    """No keyboard: the PIN on the lock screen's keypad, then taps on the footer's keys and on
    a procedure of the list, from the lock screen to a queued result."""
    app = kiosk(flow_settings, page_file)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LockScreen)
        await pilot.click("#pin-key-9")  # a slip, erased
        await pilot.click("#pin-key-erase")
        for digit in blank_token.user_pin:
            assert await pilot.click(f"#pin-key-{digit}")
        assert app.screen.query_one("#pin-input", Input).value == blank_token.user_pin
        assert await pilot.click("#pin-key-enter")
        await wait_workers(pilot)
        assert isinstance(app.screen, HomeScreen)
        await tap_key(pilot, "app.new_result")
        assert isinstance(app.screen, NewResultScreen)
        first = app.screen.shown[0]
        assert await pilot.click("#new-list", offset=(2, 1))  # the first procedure listed
        await wait_workers(pilot)
        capture = app.screen
        assert isinstance(capture, CaptureScreen) and capture.draft.procedure == first.code
        assert len(capture.draft.pages) == 1
        await tap_key(pilot, "read")
        assert isinstance(app.screen, ReviewScreen)
        await tap_key(pilot, "sign")
        assert isinstance(app.screen, HomeScreen)
    with Outbox(flow_settings.outbox_dir) as outbox:
        (item,) = outbox.listing()
    assert item.state is State.QUEUED and item.metadata["procedure"] == first.code


async def test_after_unlock_the_reading_path_is_warmed_before_the_first_result(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    # `sohoa edge tui` warms it (Tesseract's first recognition held the screen still for
    # 120-170 ms inside the first result's reading); tests leave it off unless they ask.
    app = kiosk(flow_settings, page_file)
    app.warm_up = True
    async with app.run_test(size=SIZE) as pilot:
        assert not app.services.ocr_started
        await type_pin(pilot, blank_token.user_pin)
        assert isinstance(app.screen, HomeScreen)
        assert app.services.ocr_started
    assert not app.services.ocr_started  # stopped with the kiosk


async def test_the_footer_is_not_rebuilt_when_focus_moves_and_its_keys_stay(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    app = kiosk(flow_settings, page_file)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NewResultScreen)
        before = list(screen.query(FooterKey))
        assert [k.action for k in before] == ["back"]
        screen.query_one("#new-list").focus()  # the keys shown stay the same
        await pilot.pause()
        await pilot.pause()
        after = list(screen.query(FooterKey))
        assert [id(k) for k in after] == [id(k) for k in before]
        # Home again: its own keys, rebuilt for it.
        await pilot.press("escape")
        await pilot.pause()
        assert {k.action for k in app.screen.query(FooterKey)} > {"app.new_result"}


async def test_a_half_done_result_survives_a_crash(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    app = kiosk(flow_settings, page_file)
    async with app.run_test(size=SIZE) as pilot:
        capture = await scan_one_page(pilot, blank_token.user_pin)
        # A second page, moved to the top; the first one deleted (after a yes).
        await pilot.press("s")
        await wait_workers(pilot)
        capture.query_one(ListView).index = 1
        await pilot.press("shift+up")
        await wait_workers(pilot)
        assert capture.draft.pages == ["page-002.png", "page-001.png"]
        await pilot.press("down", "delete", "enter")
        await wait_workers(pilot)
        assert capture.draft.pages == ["page-002.png"]
        await pilot.press("enter")
        await wait_workers(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        # What reading doubted is highlighted, in words, and the cursor starts there.
        assert review.doubtful == {"co_quan_ban_hanh": [PROBLEM_WORDS[LOW]]}
        doubted = review.query_one("#field-co_quan_ban_hanh")
        assert doubted.has_focus and doubted.has_class("-doubtful")
        assert problem_line(review, "co_quan_ban_hanh") == f"⚠ {PROBLEM_WORDS[LOW]}"
        # A value that breaks a rule is said in words as it is typed.
        review.query_one("#field-cccd").focus()
        await pilot.press("ctrl+u", *"0562")
        await pilot.pause()
        assert problem_line(review, "cccd") == f"⚠ {PROBLEM_WORDS[ProblemCode.CCCD_LENGTH]}"
        assert review.query_one("#field-cccd").has_class("-doubtful")
        review.query_one("#field-so_ky_hieu").focus()
        await pilot.press("ctrl+u", *"77/QĐ-UBND", "tab")  # leaving the field saves it
        await wait_workers(pilot)
    # The kiosk is gone (as after a crash: nothing ran at its end for the draft).
    kept = json.loads((flow.draft_dir(flow_settings) / flow.DRAFT_FILE).read_text())
    assert kept["procedure"] == "2.000815" and kept["pages"] == ["page-002.png"]
    assert sorted(p.name for p in flow.draft_dir(flow_settings).glob("*.png")) == ["page-002.png"]
    assert kept["corrections"] == {"cccd": "0562", "so_ky_hieu": "77/QĐ-UBND"}

    again = kiosk(flow_settings, page_file)
    async with again.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await wait_workers(pilot)
        offered = again.screen
        assert isinstance(offered, CaptureScreen)  # offered back at once after the unlock
        assert offered.draft.pages == ["page-002.png"]
        assert len(offered.query_one(ListView).children) == 1
        await pilot.press("enter")
        await wait_workers(pilot)
        review = again.screen
        assert isinstance(review, ReviewScreen)
        assert review.query_one("#field-so_ky_hieu").value == "77/QĐ-UBND"  # type: ignore[attr-defined]


async def test_a_token_lost_before_signing_is_said_and_nothing_is_lost(
    flow_settings: EdgeSettings, blank_token: BlankToken, page_file: Path
) -> None:
    app = kiosk(flow_settings, page_file)
    async with app.run_test(size=SIZE) as pilot:
        await scan_one_page(pilot, blank_token.user_pin)
        await pilot.press("enter")
        await wait_workers(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        token = app.services.token
        assert token is not None
        token.close()  # the session is gone, as when the token is pulled out
        await pilot.press("f2")
        await wait_workers(pilot)
        state = review.query_one("#review-state", Static)
        assert str(state.render()) == flow.problem_words(TokenError("x"))
        assert state.has_class("-error")
        assert not review.busy
        assert app.screen is review  # still there, with what to do
    with Outbox(flow_settings.outbox_dir) as outbox:
        assert outbox.listing() == []
    kept = flow.load_draft(flow.draft_dir(flow_settings))
    assert kept is not None and kept.pages == ["page-001.png"]


def test_no_ocr_engine_starts_once_the_kiosk_is_closing(kiosk_settings: EdgeSettings) -> None:
    # A stop signal right after unlock closes the services while the warm-up is about to start
    # the engine: one started then would keep the process alive after the kiosk ended.
    services = KioskServices(kiosk_settings)
    services.close()
    with pytest.raises(OcrError, match="closing"):
        services.ocr()
    assert not services.ocr_started
