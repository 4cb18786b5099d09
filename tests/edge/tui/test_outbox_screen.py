"""The outbox screen: every result with its state in words and the server's refusal with what
to do; R queues a refused result again (and only that); nothing can be deleted."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from edge.config import EdgeSettings
from edge.sync.outbox import Outbox, State
from edge.tui import texts
from edge.tui.app import make_kiosk
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.outbox import NO_DELETE, RETRY_ONLY_REFUSED, OutboxScreen
from protocol.reasons import RejectReason
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.edge.tui.test_home import fill
from tests.fixtures.token import BlankToken


def note(screen: OutboxScreen) -> str:
    return str(screen.query_one("#outbox-note", Static).render())


async def open_outbox(app, pilot, pin: str) -> OutboxScreen:  # type: ignore[no-untyped-def]
    await type_pin(pilot, pin)
    await pilot.press("h")
    await wait_workers(pilot)
    screen = app.screen
    assert isinstance(screen, OutboxScreen)
    return screen


async def test_every_result_is_listed_with_its_state_and_reason(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, outbox: Outbox
) -> None:
    ids = fill(outbox)
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, blank_token.user_pin)
        table: DataTable[str] = screen.query_one(DataTable)
        assert table.row_count == 4
        states = {item.result_id: table.get_row(item.result_id)[2] for item in screen.items}
        assert states == {
            ids[0]: "chờ gửi",
            ids[1]: "đang gửi",
            ids[2]: "máy chủ đã nhận",
            ids[3]: "bị từ chối",
        }
        assert table.get_row(ids[3])[3] == "xem dưới ↓"
        table.move_cursor(row=[i.result_id for i in screen.items].index(ids[3]))
        await pilot.pause()
        words = f"{texts.REASON_WORDS[RejectReason.UNKNOWN_DEVICE]} (mã unknown_device)"
        assert note(screen) == words
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_only_a_refused_result_is_queued_again(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, outbox: Outbox
) -> None:
    ids = fill(outbox)
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, blank_token.user_pin)
        acked = [i.result_id for i in screen.items].index(ids[2])
        screen.query_one(DataTable).move_cursor(row=acked)
        await pilot.press("r")
        await wait_workers(pilot)
        assert note(screen) == RETRY_ONLY_REFUSED
        assert outbox.get(ids[2]).state is State.ACKED

        refused = [i.result_id for i in screen.items].index(ids[3])
        screen.query_one(DataTable).move_cursor(row=refused)
        await pilot.press("r")
        await wait_workers(pilot)
        item = outbox.get(ids[3])
        assert (item.state, item.last_error) == (State.QUEUED, None)
        assert screen.query_one(DataTable).get_row(ids[3])[2] == "chờ gửi"
        assert note(screen) == "Đã đưa kết quả vào hàng chờ gửi lại."


async def test_nothing_can_be_deleted(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, outbox: Outbox
) -> None:
    fill(outbox)
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_outbox(app, pilot, blank_token.user_pin)
        for key in ("delete", "backspace", "d", "x"):
            await pilot.press(key)
            await wait_workers(pilot)
        assert note(screen) == NO_DELETE
        assert screen.query_one(DataTable).row_count == 4
        assert sum(outbox.counts().values()) == 4
