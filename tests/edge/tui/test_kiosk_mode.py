"""Kiosk mode: the app starts locked at 80x24, the keys that would leave or suspend a terminal
program do nothing, and only the admin PIN leaves it."""

from __future__ import annotations

import pytest

from edge.config import EdgeSettings
from edge.tui.app import make_kiosk
from edge.tui.screens.admin import NO_ADMIN_PIN, AdminPinScreen
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.widgets.pin_form import PinForm
from tests.edge.tui.conftest import ADMIN_PIN, SIZE, type_pin, wait_workers
from tests.fixtures.token import BlankToken

HARMLESS = ["ctrl+c", "ctrl+z", "ctrl+backslash", "ctrl+p"]


async def test_it_starts_locked_over_the_home_screen(kiosk_settings: EdgeSettings) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LockScreen)
        assert isinstance(app.screen_stack[-2], HomeScreen)
        assert app.locked
        assert app.services.token is None


@pytest.mark.parametrize("key", HARMLESS)
async def test_signal_keys_and_the_palette_do_nothing(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, key: str
) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        locked_screen = app.screen
        await pilot.press(key)
        await pilot.pause()
        assert app.is_running
        assert app.screen is locked_screen  # still locked, nothing opened over it
        await type_pin(pilot, blank_token.user_pin)
        home = app.screen
        assert isinstance(home, HomeScreen)
        await pilot.press(key)
        await pilot.pause()
        assert app.is_running
        assert app.screen is home
        assert len(app.screen_stack) == 2


async def test_ctrl_q_asks_for_the_admin_pin_and_a_wrong_one_stays(
    kiosk_settings: EdgeSettings,
) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, AdminPinScreen)
        await type_pin(pilot, "00000")
        assert app.is_running
        assert isinstance(app.screen, AdminPinScreen)
        assert app.screen.query_one(PinForm).status_text == "Mã PIN quản trị không đúng."
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LockScreen)
        assert app.is_running


async def test_the_admin_pin_leaves_the_kiosk(kiosk_settings: EdgeSettings) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press(*ADMIN_PIN, "enter")
        await wait_workers(pilot)
        assert not app.is_running


async def test_without_an_admin_pin_there_is_no_way_out(kiosk_settings: EdgeSettings) -> None:
    settings = kiosk_settings.model_copy(update={"kiosk_admin_pin_hash": None})
    app = make_kiosk(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, AdminPinScreen)
        assert not app.screen.query(PinForm)
        assert str(app.screen.query_one("#admin-none").render()) == NO_ADMIN_PIN
        await pilot.press(*ADMIN_PIN, "enter")
        await pilot.pause()
        assert app.is_running
