"""The kiosk application and its one factory, `make_kiosk`, which the CLI and the tests use.

Kiosk rules, kept here:
- No way out without the admin PIN: Ctrl+Q (and any other route to `quit`) asks for it;
  Ctrl+C, Ctrl+Z and Ctrl+\\ do nothing (the terminal's signals are off: Textual puts it in raw
  mode, and `make_kiosk` removes `TEXTUAL_ALLOW_SIGNALS`, which would turn them back on); the
  command palette is off.
- It starts locked and locks itself after `kiosk_idle_lock_s` without input; locking logs out
  of the token, and only its PIN opens the kiosk again. The lock screen goes on top of what was
  shown, so a half-done task is where the officer left it.
- The admin PIN also opens settings and diagnostics (`A` on home); locking closes them, so that
  the token PIN alone never gets back to them.
- Blocking work runs in workers (`@work(thread=True)`) owned by the screens; they report by
  messages. The UI thread only draws.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType

from edge.capture.scanner import ScanSettings
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.pipeline.run import ProcessedDocument
from edge.tui import flow, texts
from edge.tui.batch import Batch, PageFeed, batch_dir, feeder, load_batch
from edge.tui.flow import Draft, load_procedures
from edge.tui.screens.admin import AdminPinScreen
from edge.tui.screens.batch import BatchScreen
from edge.tui.screens.camera import CameraScreen
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.diagnostics import ConfirmLeaveScreen, DiagnosticsScreen
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.screens.new_result import NewResultScreen
from edge.tui.screens.review import ReviewScreen
from edge.tui.screens.source import Source, SourceScreen
from edge.tui.services import KioskServices

log = logging.getLogger(__name__)

_FLOW_SCREENS = (
    NewResultScreen,
    SourceScreen,
    CameraScreen,
    CaptureScreen,
    ReviewScreen,
    BatchScreen,
)
"""The screens of a new result (or a batch of them)."""

_INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)
"""What counts as the officer's presence for the idle lock (a touch arrives as a mouse down)."""


class KioskApp(App[None]):
    """The appliance's kiosk. Build it with `make_kiosk`.

    Args:
        services: the appliance as the kiosk reaches it.
        refresh_s: seconds between two reads of the home screen's figures.
        clock: a monotonic clock (seconds), for the idle lock.
    """

    CSS_PATH = "kiosk.tcss"
    TITLE = texts.APP_TITLE
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority bindings: they win over every widget's own.
        Binding("ctrl+q", "leave", "Thoát (quản trị)", show=False, priority=True, system=True),
        Binding("ctrl+c", "nothing", show=False, priority=True, system=True),
        Binding("ctrl+z", "nothing", show=False, priority=True, system=True),
        Binding("ctrl+backslash", "nothing", show=False, priority=True, system=True),
        Binding("ctrl+p", "nothing", show=False, priority=True, system=True),
    ]

    def __init__(
        self,
        services: KioskServices,
        *,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.services = services
        self._refresh_s = refresh_s
        self._clock = clock
        self.last_input = clock()
        """When the officer last pressed a key or touched the screen (`clock` seconds)."""
        self.locked = True
        """Whether the lock screen is up (the token logged out)."""
        self.batch_feed: PageFeed | None = None
        """Where batch mode's pages come from (None: the scanner's document feeder)."""
        self.warm_up = False
        """Whether to start the OCR engine and warm the reading path after unlock
        (`run_kiosk` sets it; tests leave it off, for speed)."""
        self._reading_warm = False
        self.stop_signals: tuple[signal.Signals, ...] = ()
        """Signals that end the kiosk cleanly, as the admin PIN does (`run_kiosk` sets
        SIGTERM and SIGHUP: systemd's stop, the terminal closing)."""
        self.on_stop_signal: Callable[[signal.Signals], None] | None = None
        """Called first when one of `stop_signals` arrives (`run_kiosk`: let go of a closed
        terminal, and make sure the process ends even if the clean exit cannot)."""

    @property
    def settings(self) -> EdgeSettings:
        """The appliance's settings."""
        return self.services.settings

    def on_mount(self) -> None:
        """Home underneath, the lock screen on top; the idle watch starts."""
        self.push_screen(HomeScreen(self.services, refresh_s=self._refresh_s))
        self.push_screen(LockScreen(self.services), self._unlocked)
        idle = self.settings.kiosk_idle_lock_s
        self.set_interval(min(1.0, idle / 4), self._check_idle)
        loop = asyncio.get_running_loop()
        for sig in self.stop_signals:
            loop.add_signal_handler(sig, self._stop_on, sig)

    def _stop_on(self, sig: signal.Signals) -> None:
        log.info("kiosk stopping on %s", sig.name)
        if self.on_stop_signal is not None:
            self.on_stop_signal(sig)
        self.exit()

    def on_unmount(self) -> None:
        """Log out of the token and close the outbox (the app is ending: no frame to keep)."""
        loop = asyncio.get_running_loop()
        for sig in self.stop_signals:
            loop.remove_signal_handler(sig)
        self.services.close()

    async def on_event(self, event: events.Event) -> None:
        """Note the officer's presence, then handle the event as usual."""
        if isinstance(event, _INPUT_EVENTS):
            self.last_input = self._clock()
        await super().on_event(event)

    # -- locking -------------------------------------------------------------------------------

    def action_lock(self) -> None:
        """Lock now: the lock screen goes on top and the token is logged out."""
        if self.locked:
            return
        self.locked = True
        log.info("kiosk locked")
        # What the admin PIN opened closes: the token PIN alone must never give it back.
        while isinstance(self.screen, (DiagnosticsScreen, ConfirmLeaveScreen, AdminPinScreen)):
            self.pop_screen()
        self.push_screen(LockScreen(self.services), self._unlocked)
        self._log_out()

    def _unlocked(self, opened: bool | None) -> None:
        self.locked = not opened
        self.last_input = self._clock()
        if opened and self.warm_up:
            self._start_ocr()
        if opened and not self._in_flow():
            self._look_for_draft()

    @work(thread=True, exclusive=True, group="ocr-start")
    def _start_ocr(self) -> None:
        """Start the OCR engine and warm the reading path (once per run) while the officer
        looks at the home screen, not during the first result's reading."""
        if self._reading_warm:
            return
        self._reading_warm = True
        try:
            flow.warm_up_reading(self.services.ocr())
        except EdgeError as e:  # said again, in words, when a reading needs it
            log.warning("kiosk: the reading path did not start: %s", e)

    # -- a new result --------------------------------------------------------------------------

    def action_new_result(self) -> None:
        """Start a new result: pick its procedure, then scan, review, sign."""
        if self._in_flow():
            return
        self.push_screen(NewResultScreen(self.services.procedures), self._procedure_picked)

    def _procedure_picked(self, draft: Draft | None) -> None:
        if draft is None:
            return
        if not self.settings.camera_source:
            self._capture(draft)
            return

        def picked(source: Source | None) -> None:
            if source == "scanner":
                self._capture(draft)
            elif source == "camera":
                self._camera(draft)

        self.push_screen(SourceScreen(draft.procedure_name), picked)

    def _camera(self, draft: Draft) -> None:
        """Capture with the camera; then the capture screen reads the pages kept."""

        def done(finished: bool | None) -> None:
            if finished and draft.pages:
                self._capture(draft)

        self.push_screen(CameraScreen(self.services, draft), done)

    def _capture(self, draft: Draft) -> None:
        def captured(document: ProcessedDocument | None) -> None:
            if document is not None:
                self.push_screen(ReviewScreen(self.services, draft, document), self._reviewed)

        self.push_screen(CaptureScreen(self.services, draft), captured)

    def _reviewed(self, result_id: str | None) -> None:
        if result_id is not None:
            self.notify("Đã ký và đưa vào hộp gửi.", title="Xong")

    def _in_flow(self) -> bool:
        """Whether a new result's screens are open (under the lock screen, maybe)."""
        return any(isinstance(s, _FLOW_SCREENS) for s in self.screen_stack)

    @work(thread=True, exclusive=True, group="draft")
    def _look_for_draft(self) -> None:
        batch = load_batch(batch_dir(self.settings))
        if batch is not None:
            self.call_from_thread(self._offer_batch, batch)
            return
        draft = self.services.pending_draft()
        if draft is not None:
            self.call_from_thread(self._offer_draft, draft)

    def _offer_draft(self, draft: Draft) -> None:
        """A half-done result survived a restart: take it up where it stopped."""
        if self._in_flow() or self.locked:
            return
        log.info("kiosk draft offered back (%d page(s))", len(draft.pages))
        self.notify(
            f"Tiếp tục kết quả đang làm dở: {draft.procedure_name} ({len(draft.pages)} trang).",
            title="Làm tiếp",
        )
        self._capture(draft)

    # -- batch mode ----------------------------------------------------------------------------

    def action_batch(self) -> None:
        """Batch mode: the batch kept from before, or a new one (its procedure picked first)."""
        if not self._in_flow():
            self._open_batch()

    @work(thread=True, exclusive=True, group="draft")
    def _open_batch(self) -> None:
        batch = load_batch(batch_dir(self.settings))
        self.call_from_thread(self._batch_found, batch)

    def _batch_found(self, batch: Batch | None) -> None:
        if batch is not None:
            self._offer_batch(batch)
            return

        def picked(draft: Draft | None) -> None:
            if draft is not None:
                self._batch(Batch(draft.procedure, draft.procedure_name))

        self.push_screen(NewResultScreen(self.services.procedures), picked)

    def _offer_batch(self, batch: Batch) -> None:
        if self._in_flow() or self.locked:
            return
        log.info("kiosk batch offered back (%d result(s))", len(batch.items))
        self._batch(batch)

    def _batch(self, batch: Batch) -> None:
        s = self.services
        feed = self.batch_feed or feeder(s.settings.scanner_device, s.scan)
        self.push_screen(BatchScreen(s, batch, feed))

    def _check_idle(self) -> None:
        if any(getattr(screen, "busy", False) for screen in self.screen_stack):
            # Scanning, reading or signing: the officer is waiting for the machine, not away.
            self.last_input = self._clock()
            return
        if not self.locked and self._clock() - self.last_input >= self.settings.kiosk_idle_lock_s:
            log.info("kiosk idle for %.0f s", self.settings.kiosk_idle_lock_s)
            self.action_lock()

    @work(thread=True, group="token")
    def _log_out(self) -> None:
        self.services.close_token()

    # -- settings and diagnostics --------------------------------------------------------------

    def action_admin(self) -> None:
        """Ask for the admin PIN; open settings and diagnostics only when it is right."""
        if self.locked or isinstance(self.screen, (AdminPinScreen, DiagnosticsScreen)):
            return
        self.push_screen(AdminPinScreen(self.services, texts.DIAG_PURPOSE), self._admin_checked)

    def _admin_checked(self, right: bool | None) -> None:
        if right and not self.locked:
            self.push_screen(DiagnosticsScreen(self.services))

    # -- leaving -------------------------------------------------------------------------------

    def action_leave(self) -> None:
        """Ask for the admin PIN; leave only when it is right."""
        if isinstance(self.screen, AdminPinScreen):
            return
        self.push_screen(AdminPinScreen(self.services), self._leave_checked)

    def _leave_checked(self, right: bool | None) -> None:
        if right:
            log.warning("kiosk left with the admin PIN")
            self.exit()

    async def action_quit(self) -> None:
        """Every route to quitting goes through the admin PIN."""
        self.action_leave()

    def action_nothing(self) -> None:
        """What Ctrl+C, Ctrl+Z, Ctrl+\\ and Ctrl+P do in the kiosk: nothing."""


def make_kiosk(
    settings: EdgeSettings,
    *,
    refresh_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    scan: ScanSettings | None = None,
    note: str | None = None,
) -> KioskApp:
    """Build the kiosk for the appliance `settings` (nothing is opened until it runs).

    Args:
        settings: the appliance's settings (token, outbox, kiosk_* keys).
        refresh_s: seconds between two reads of the home screen's figures.
        clock: a monotonic clock, for the idle lock.
        scan: how to scan (default: 300 dpi grey A4 from `scanner_source`; the tests and the
            demo scan a real page through SANE's `pnm` backend with it).
        note: a line for the lock screen (the demo's PINs).

    Returns:
        The app, ready for `run()` (the CLI) or `run_test()` (the tests).

    Raises:
        ConfigError: the procedure catalogue cannot be read.
    """
    # Textual turns the terminal's Ctrl+C / Ctrl+Z / Ctrl+\ signals back on with this set.
    os.environ.pop("TEXTUAL_ALLOW_SIGNALS", None)
    procedures = load_procedures(settings.procedures_file) if settings.procedures_file else ()
    services = KioskServices(settings, scan=scan, procedures=procedures, note=note)
    return KioskApp(services, refresh_s=refresh_s, clock=clock)
