"""The lock screen on a real SoftHSM token: the PIN opens it (a real login, in a worker), a
wrong one is said in words with what the token reports of the tries left and never retried,
a missing token is said as such, and the kiosk locks itself when left idle."""

from __future__ import annotations

from edge.config import EdgeSettings
from edge.errors import PinError, TokenError
from edge.tui import texts
from edge.tui.app import make_kiosk
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.widgets.pin_form import PinForm
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.token import BlankToken


async def test_the_token_pin_unlocks(kiosk_settings: EdgeSettings, blank_token: BlankToken) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        assert isinstance(app.screen, HomeScreen)
        assert not app.locked
        token = app.services.token
        assert token is not None and not token.closed
        assert token.label == blank_token.label
    assert token.closed  # logged out when the kiosk ends


async def test_a_wrong_pin_is_said_with_what_the_token_reports(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, "999999")
        assert isinstance(app.screen, LockScreen)
        assert app.locked and app.services.token is None
        form = app.screen.query_one(PinForm)
        # SoftHSM2 reports CKF_USER_PIN_COUNT_LOW (a wrong PIN since the last good one) and
        # no count (it never locks): the screen says exactly that.
        assert form.status_text == f"{texts.PIN_WRONG}\n{texts.PIN_COUNT_LOW}"
        assert form.query_one("#pin-input").value == ""  # type: ignore[attr-defined]
        # Nothing is retried behind the officer's back: the token stays closed.
        await wait_workers(pilot)
        assert app.services.token is None
        await type_pin(pilot, blank_token.user_pin)
        assert isinstance(app.screen, HomeScreen)


async def test_a_missing_token_is_said_as_such(kiosk_settings: EdgeSettings) -> None:
    settings = kiosk_settings.model_copy(update={"token_label": "no-such-token"})
    app = make_kiosk(settings)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, "123456")
        assert isinstance(app.screen, LockScreen)
        assert app.screen.query_one(PinForm).status_text == texts.SIGNER_MISSING


def test_pin_problems_say_what_the_token_reports() -> None:
    assert texts.pin_problem(PinError("x", locked=True)) == texts.PIN_LOCKED
    assert texts.pin_problem(PinError("x", final_try=True)).endswith(texts.PIN_FINAL_TRY)
    assert texts.pin_problem(PinError("x", count_low=True)).endswith(texts.PIN_COUNT_LOW)
    assert texts.pin_problem(PinError("x")).endswith(texts.PIN_NO_COUNT)
    assert texts.pin_problem(TokenError("the module failed")) == texts.SIGNER_BROKEN


async def test_it_locks_itself_when_idle_and_logs_out(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    now = [1000.0]
    settings = kiosk_settings.model_copy(update={"kiosk_idle_lock_s": 0.4})
    app = make_kiosk(settings, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        home = app.screen
        assert isinstance(home, HomeScreen)
        token = app.services.token
        assert token is not None
        now[0] += 0.3
        await pilot.pause(0.3)  # a few idle checks: not idle long enough yet
        assert app.screen is home
        await pilot.press("f5")  # the officer's key restarts the idle time
        now[0] += 0.3
        await pilot.pause(0.3)
        assert app.screen is home
        now[0] += 0.5
        await pilot.pause(0.3)
        await wait_workers(pilot)
        assert isinstance(app.screen, LockScreen)
        assert app.screen_stack[-2] is home  # what was on screen waits under the lock
        assert app.locked and app.services.token is None and token.closed
        await type_pin(pilot, blank_token.user_pin)
        assert app.screen is home


async def test_k_locks_at_once(kiosk_settings: EdgeSettings, blank_token: BlankToken) -> None:
    app = make_kiosk(kiosk_settings)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("k")
        await wait_workers(pilot)
        assert isinstance(app.screen, LockScreen)
        assert app.services.token is None
