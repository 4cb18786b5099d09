"""Batch mode at the kiosk (issue 16 item 4), with real parts: rendered results and blank
separator sheets scanned one after another through SANE's `pnm` backend (as a feeder hands
them), Tesseract, SoftHSM, the outbox; the blank-page threshold on real SANE `test` scans; a
batch that survives the kiosk's crash without doing a queued result twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from textual.pilot import Pilot
from textual.widgets import Input, Static

from edge.capture.scanner import (
    ColourMode,
    PaperJamError,
    Scanner,
    ScanSettings,
    ScanSource,
)
from edge.capture.source import CapturedPage
from edge.config import EdgeSettings
from edge.sample_document import _font, render_sample_result
from edge.sync.outbox import Outbox, State
from edge.tui import batch as steps
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.batch import Batch, BatchItem, ItemState, is_blank
from edge.tui.screens.batch import BatchReviewScreen, BatchScreen
from edge.tui.widgets.page_image import PageImage
from provisioning.ca import CertificateAuthority
from tests.edge.capture.synthetic import CORPUS, CORPUS_MISSING
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import SIGNING_KEY_ID, UNIT, BlankToken, provision_signing_identity

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = REPO / "server" / "data" / "procedures.csv"
A4 = (2480, 3508)


def blank_sheet(seed: int = 0) -> Image.Image:
    """A blank separator as a scanner sees one: off-white recycled paper with grain, dust
    specks, the scanner's shadow along the top edge and a punch hole."""
    rng = np.random.default_rng(seed)
    paper = np.clip(rng.normal(232, 6, (A4[1], A4[0])), 0, 255).astype(np.uint8)
    sheet = Image.fromarray(paper)
    draw = ImageDraw.Draw(sheet)
    for _ in range(300):
        x, y = int(rng.integers(0, A4[0])), int(rng.integers(0, A4[1]))
        draw.ellipse([x, y, x + 3, y + 3], fill=40)
    draw.rectangle([0, 0, A4[0], 60], fill=60)
    draw.ellipse([80, 1500, 160, 1580], fill=20)
    return sheet


def one_line_page() -> Image.Image:
    """The sparsest printed page a result may have: one line (a signature block's)."""
    page = Image.new("L", A4, 255)
    ImageDraw.Draw(page).text((1500, 600), "TM. ỦY BAN NHÂN DÂN", font=_font("bold", 54), fill=25)
    return page


def test_blank_sheets_are_told_from_printed_pages() -> None:
    for seed in range(3):
        assert not is_blank(render_sample_result(seed).image, 300)
        assert is_blank(blank_sheet(seed), 300)
    assert not is_blank(one_line_page(), 300)
    assert is_blank(Image.new("L", A4, 255), 300)
    # Below a threshold's margin: the sparsest page has 3x the ink the threshold allows, a
    # dusty blank sheet a third of it.
    assert steps.ink_share(one_line_page(), 300)[0] > 3 * steps.BLANK_INK_SHARE
    assert steps.ink_share(blank_sheet(), 300)[0] < steps.BLANK_INK_SHARE / 2


@pytest.mark.parametrize(
    ("picture", "blank"),
    [("Solid white", True), ("Grid", False), ("Color pattern", False), ("Solid black", False)],
)
def test_blank_detection_on_sane_test_scans(
    scanner: SaneTestScanner, picture: str, blank: bool
) -> None:
    scan = ScanSettings(
        source=ScanSource.ADF_SIMPLEX,
        mode=ColourMode.GREY,
        dpi=200,
        backend_options={"test-picture": picture},
    )
    with Scanner.open(scanner.device) as device:
        page = device.scan_page(scan)
    assert is_blank(page.image, page.dpi) is blank


# -- end to end -----------------------------------------------------------------------------------


@pytest.fixture
def batch_settings(
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    signing_ca: CertificateAuthority,
    scanner: SaneTestScanner,
) -> Iterator[EdgeSettings]:
    """The kiosk's appliance with a signing key, the catalogue and the `pnm` scanner."""
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


@pytest.fixture
def sheets(tmp_path: Path) -> dict[str, Path]:
    """Rendered results r0…r3 and a blank sheet, as `pnm` reads them."""
    files = {}
    for i in range(4):
        files[f"r{i}"] = tmp_path / f"r{i}.pgm"
        render_sample_result(i).image.save(files[f"r{i}"])
    files["blank"] = tmp_path / "blank.pgm"
    blank_sheet().save(files["blank"])
    return files


SCAN = ScanSettings(mode=ColourMode.GREY)


def kiosk(settings: EdgeSettings, feed: steps.PageFeed) -> KioskApp:
    app = make_kiosk(settings, scan=SCAN, refresh_s=3600)
    app.batch_feed = feed
    return app


def count_line(app: KioskApp) -> str:
    screen = app.screen
    assert isinstance(screen, BatchScreen), screen
    return str(screen.query_one("#batch-count", Static).render())


async def run_batch(pilot: Pilot[None], pin: str) -> None:
    """Unlock, L (batch), the procedure typed without marks, Enter, Enter (the whole stack)."""
    await type_pin(pilot, pin)
    await pilot.press("l")
    await wait_workers(pilot)
    await pilot.press(*"chung thuc ban sao", "enter", "enter")
    await wait_workers(pilot)


async def next_review(pilot: Pilot[None]) -> BatchReviewScreen:
    """The review the batch opens by itself: once the last one is gone and the batch screen is
    back on top, a few frames after the signing worker ends."""
    for _ in range(100):
        if isinstance(pilot.app.screen, BatchReviewScreen):
            break
        await pilot.pause(0.05)
    review = pilot.app.screen
    assert isinstance(review, BatchReviewScreen), review
    return review


async def sign_reviews(pilot, expected: int) -> int:  # type: ignore[no-untyped-def]
    """F2 on each review the batch opens by itself; the keys pressed."""
    keys = 0
    for _ in range(expected):
        review = await next_review(pilot)
        # Only the doubtful fields are shown.
        shown = {i.id for i in review.query(Input) if i.parent is not None and i.parent.display}
        assert shown == {f"field-{k}" for k in review.doubtful}
        await pilot.press("f2")
        keys += 1
        await wait_workers(pilot)
    return keys


@pytest.mark.slow
async def test_a_stack_with_separators_goes_to_the_outbox(
    batch_settings: EdgeSettings, blank_token: BlankToken, sheets: dict[str, Path]
) -> None:
    # Result 1: one page; a blank; result 2: two pages; two blanks (one separator); result 3.
    stack = ["r0", "blank", "r1", "r2", "blank", "blank", "r3"]
    feed = steps.pnm_stack("pnm:0", SCAN, [sheets[n] for n in stack])
    app = kiosk(batch_settings, feed)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("l")
        await wait_workers(pilot)
        await pilot.press(*"chung thuc ban sao", "enter")  # the procedure, once per batch
        await wait_workers(pilot)
        assert isinstance(app.screen, BatchScreen)
        await pilot.press("enter")  # the whole stack
        await wait_workers(pilot)
        # Every sample result has a doubtful field (the issuer is read with low confidence):
        # the review opens by itself on each, in turn.
        await sign_reviews(pilot, 3)
        assert count_line(app) == "Đã xong: 3 kết quả · 4 trang · 0 cần xem"
        await pilot.press("escape")
        await wait_workers(pilot)
        assert not isinstance(app.screen, BatchScreen)
    with Outbox(batch_settings.outbox_dir) as outbox:
        items = outbox.listing()[::-1]
    assert [i.state for i in items] == [State.QUEUED] * 3
    assert [i.metadata["pages"] for i in items] == ["1", "2", "1"]
    assert all(i.metadata["procedure"] == "2.000815" for i in items)
    assert [i.fields["so_ky_hieu"] for i in items] == [
        render_sample_result(n).fields["so_ky_hieu"] for n in (0, 1, 3)
    ]
    assert not steps.batch_dir(batch_settings).exists()  # a finished batch is forgotten


@pytest.mark.slow
async def test_a_sheet_that_is_no_result_is_dropped_at_its_review_and_never_signed(
    batch_settings: EdgeSettings, blank_token: BlankToken, sheets: dict[str, Path]
) -> None:
    feed = steps.pnm_stack("pnm:0", SCAN, [sheets[n] for n in ("r0", "blank", "r1")])
    app = kiosk(batch_settings, feed)
    folder = steps.batch_dir(batch_settings)
    async with app.run_test(size=SIZE) as pilot:
        await run_batch(pilot, blank_token.user_pin)
        first = await next_review(pilot)
        dropped = first.item.name
        assert (folder / dropped).is_dir()
        await wait_workers(pilot)
        assert first.query_one("#review-image", PageImage).image is not None  # its own page
        await pilot.press("f8", "escape")  # asked, and the officer keeps it after all
        await wait_workers(pilot)
        assert app.screen is first and (folder / dropped).is_dir()
        await pilot.press("f8", "enter")  # asked again: yes
        await wait_workers(pilot)
        second = await next_review(pilot)  # the next flagged result opens by itself
        assert second.item.name != dropped
        assert not (folder / dropped).exists()  # its pages are gone
        await pilot.press("f2")
        await wait_workers(pilot)
        for _ in range(100):
            if isinstance(app.screen, BatchScreen):
                break
            await pilot.pause(0.05)
        assert count_line(app) == "Đã xong: 1 kết quả · 1 trang · 0 cần xem"
        listed = str(app.screen.query_one("#batch-list", Static).render())
        assert "Kết quả 1: 1 trang — đã bỏ, không ký" in listed
        await pilot.press("escape")
        await wait_workers(pilot)
    with Outbox(batch_settings.outbox_dir) as outbox:
        items = outbox.listing()
    assert len(items) == 1  # the dropped sheet was never signed
    assert items[0].fields["so_ky_hieu"] == render_sample_result(1).fields["so_ky_hieu"]
    assert not folder.exists()  # every result queued or dropped: the batch is forgotten


def test_a_queued_result_cannot_be_dropped(tmp_path: Path) -> None:
    batch = Batch("2.000815", "Chứng thực", [BatchItem("a", ItemState.QUEUED, 1, "r" * 64)])
    (tmp_path / "a").mkdir()
    assert not steps.drop_item(tmp_path, batch, batch.items[0])
    assert batch.items[0].state is ItemState.QUEUED and (tmp_path / "a").is_dir()


def jams_after(feed: steps.PageFeed) -> steps.PageFeed:
    """`feed`, then a paper jam (the pages before it handed on, as the scanner does)."""

    def pages() -> Iterator[CapturedPage]:
        yield from feed()
        raise PaperJamError("paper jam", pages_captured=3)

    return pages


@pytest.mark.slow
async def test_a_batch_survives_a_crash_without_redoing_a_queued_result(
    batch_settings: EdgeSettings, blank_token: BlankToken, sheets: dict[str, Path]
) -> None:
    first = steps.pnm_stack("pnm:0", SCAN, [sheets[n] for n in ("r0", "blank", "r1")])
    app = kiosk(batch_settings, jams_after(first))
    async with app.run_test(size=SIZE) as pilot:
        await run_batch(pilot, blank_token.user_pin)
        await sign_reviews(pilot, 1)  # result 1 signed and queued
        screen = app.screen
        assert isinstance(screen, BatchScreen)
        error = str(screen.query_one("#batch-error", Static).render())
        assert error.startswith("Kẹt giấy ở khay nạp.")
        assert count_line(app) == "Đã xong: 1 kết quả · 2 trang · 0 cần xem"
    # The kiosk is gone, as after a crash, with result 2 half-scanned (1 page of 2).
    kept = steps.load_batch(steps.batch_dir(batch_settings))
    assert kept is not None
    assert [(i.state, i.pages) for i in kept.items] == [(ItemState.QUEUED, 1), (ItemState.OPEN, 1)]

    # The rest of the stack back in the feeder: result 2's second page.
    rest = steps.pnm_stack("pnm:0", SCAN, [sheets["r2"]])
    again = kiosk(batch_settings, rest)
    async with again.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await wait_workers(pilot)
        assert isinstance(again.screen, BatchScreen)  # offered back after the unlock
        assert count_line(again) == "Đã xong: 1 kết quả · 2 trang · 0 cần xem"
        await pilot.press("enter")
        await wait_workers(pilot)
        await sign_reviews(pilot, 1)
        assert count_line(again) == "Đã xong: 2 kết quả · 3 trang · 0 cần xem"
    with Outbox(batch_settings.outbox_dir) as outbox:
        items = outbox.listing()[::-1]
    assert [i.metadata["pages"] for i in items] == ["1", "2"]  # result 1 once, result 2 whole


@pytest.mark.slow
def test_a_result_signed_before_a_crash_is_queued_once_and_never_signed_again(
    batch_settings: EdgeSettings, blank_token: BlankToken, sheets: dict[str, Path]
) -> None:
    folder = steps.batch_dir(batch_settings)
    batch = Batch("2.000815", "Chứng thực bản sao")
    steps.feed(folder, batch, steps.pnm_stack("pnm:0", SCAN, [sheets["r0"]]), lambda: None)
    (item,) = batch.items
    assert item.state is ItemState.READY
    document, _ = steps.read_item(folder, batch, item, batch_settings)
    with Outbox(batch_settings.outbox_dir) as outbox, blank_token.open() as token:
        steps.queue_item(
            folder, batch, item,
            settings=batch_settings, token=token, outbox=outbox, document=document,
        )  # fmt: skip
        first = outbox.listing()
        # A crash after the outbox took it but before the batch file said so: the batch as it
        # was, the signed PDF back in the result's folder.
        signed = outbox.load_pdf(item.result_id or "")
        stale = Batch("2.000815", "Chứng thực bản sao", [BatchItem("r0001", ItemState.READY, 1)])
        (folder / "r0001").mkdir()
        meta = {"fields": dict(first[0].fields), "metadata": dict(first[0].metadata),
                "created": first[0].created_at}  # fmt: skip
        (folder / "r0001" / steps.SIGNED_META).write_text(json.dumps(meta, ensure_ascii=False))
        (folder / "r0001" / steps.SIGNED_PDF).write_bytes(signed)
        # Taken up again with no token and no document: it must not be signed again.
        again = steps.queue_item(
            folder, stale, stale.items[0],
            settings=batch_settings, token=None, outbox=outbox, document=None,
        )  # fmt: skip
        assert again == item.result_id
        assert len(outbox.listing()) == 1
    assert stale.items[0].state is ItemState.QUEUED


@pytest.mark.slow
def test_batch_screen(
    snap_compare: Callable[..., bool],
    batch_settings: EdgeSettings,
    blank_token: BlankToken,
    sheets: dict[str, Path],
) -> None:
    # One result queued, the next half-scanned when the feeder jammed.
    first = steps.pnm_stack("pnm:0", SCAN, [sheets[n] for n in ("r0", "blank", "r1")])

    async def run_before(pilot: Pilot[None]) -> None:
        await run_batch(pilot, blank_token.user_pin)
        await sign_reviews(pilot, 1)
        await pilot.pause()

    app = kiosk(batch_settings, jams_after(first))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow
async def test_a_result_with_nothing_doubtful_is_signed_without_a_key(
    batch_settings: EdgeSettings, blank_token: BlankToken, sheets: dict[str, Path], tmp_path: Path
) -> None:
    # A corpus scan that reads with no doubtful field, a blank, a sample result (its issuer
    # doubtful).
    clean = sorted(CORPUS.glob("d01_p1_scan_bw.png")) if CORPUS.is_dir() else []
    if not clean:
        pytest.skip(CORPUS_MISSING)
    page = tmp_path / "clean.pgm"
    Image.open(clean[0]).convert("L").save(page)
    feed = steps.pnm_stack("pnm:0", SCAN, [page, sheets["blank"], sheets["r0"]])
    app = kiosk(batch_settings, feed)
    async with app.run_test(size=SIZE) as pilot:
        await run_batch(pilot, blank_token.user_pin)
        # Only the doubtful result is shown: the other was signed and queued meanwhile.
        assert await sign_reviews(pilot, 1) == 1
        assert count_line(app) == "Đã xong: 2 kết quả · 2 trang · 0 cần xem"
    with Outbox(batch_settings.outbox_dir) as outbox:
        items = outbox.listing()[::-1]
    assert len(items) == 2 and all(i.state is State.QUEUED for i in items)
    assert "corrected" not in items[0].metadata
