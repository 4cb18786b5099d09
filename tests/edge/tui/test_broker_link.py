"""The broker link as the kiosk tells it, with the sync agent running for real: broker down (a
port nobody listens on) → home says the link is lost and the diagnostics' broker test says why
in words; broker up (the Mosquitto fixture) → home says connected, the broker test connects with
the appliance's certificate, and the agent it knocked off for a moment connects again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from edge.config import EdgeSettings
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox, State
from edge.tui import checks
from edge.tui.app import make_kiosk
from edge.tui.screens.diagnostics import DiagnosticsScreen
from edge.tui.screens.home import HomeScreen
from provisioning.broker import Mosquitto
from support.sockets import free_port
from tests.edge.sync.peer import IngestPeer, wait_until
from tests.edge.sync.test_agent import peer, settings_for  # noqa: F401 - the peer fixture
from tests.edge.tui.conftest import ADMIN_PIN, SIZE, fake_pdf, type_pin, wait_workers
from tests.fixtures.broker import MqttIdentity
from tests.fixtures.token import BlankToken


@contextmanager
def running_agent(settings: EdgeSettings) -> Iterator[Outbox]:
    """The sync agent of `settings` in a thread, and its outbox (the kiosk reads another)."""
    stop = threading.Event()
    with Outbox(settings.outbox_dir) as box:
        agent = SyncAgent(settings, box)
        runner = threading.Thread(target=agent.run_forever, args=(stop,))
        runner.start()
        try:
            yield box
        finally:
            stop.set()
            runner.join(15)


async def until(pilot: Pilot[None], done: Callable[[], bool], seconds: float, what: str) -> None:
    """Let the app run until `done()`, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def line(screen: HomeScreen, widget_id: str) -> str:
    return str(screen.query_one(f"#{widget_id}", Static).render())


async def broker_test(pilot: Pilot[None]) -> DiagnosticsScreen:
    """From home: A, the admin PIN, M; the diagnostics screen once the test answered."""
    await pilot.press("a")
    await pilot.pause()
    await type_pin(pilot, ADMIN_PIN)
    screen = pilot.app.screen
    assert isinstance(screen, DiagnosticsScreen)
    await pilot.press("m")
    await wait_workers(pilot)
    await until(pilot, lambda: "broker" in screen.findings, 15, "the broker test")
    return screen


def kiosk_on(agent: EdgeSettings, kiosk: EdgeSettings) -> EdgeSettings:
    """The kiosk's settings (token, admin PIN) on the agent's data and broker."""
    return agent.model_copy(
        update={
            "pkcs11_module": kiosk.pkcs11_module,
            "token_label": kiosk.token_label,
            "kiosk_admin_pin_hash": kiosk.kiosk_admin_pin_hash,
        }
    )


async def test_broker_down_is_said_on_home_and_by_the_broker_test(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    tmp_path: Path,
) -> None:
    device = "kiosk-down-1"
    port = free_port()  # nobody listens there: the appliance started while its broker is down
    agent = settings_for(device, broker, mqtt_identity(device), tmp_path, broker_port=port)
    with running_agent(agent) as box:
        wait_until(lambda: box.status().link_up is False, 10, "the agent's failed connection")
        app = make_kiosk(kiosk_on(agent, kiosk_settings), refresh_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await type_pin(pilot, blank_token.user_pin)
            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_workers(pilot)
            assert line(home, "home-link").startswith("Máy chủ: MẤT KẾT NỐI (từ ")
            assert line(home, "home-link").endswith("kết quả vẫn được giữ an toàn")
            screen = await broker_test(pilot)
            assert screen.text("broker") == (
                f"KHÔNG kết nối được 127.0.0.1:{port}. Máy chủ tin nhắn không trả lời ở địa chỉ "
                "này (không có dịch vụ nào nghe): kiểm tra broker_host, broker_port và hỏi quản "
                "trị viên tỉnh máy chủ có đang chạy."
            )
            assert screen.findings["broker"].ok is False


async def test_broker_up_is_said_on_home_and_by_the_broker_test(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    tmp_path: Path,
) -> None:
    device = "kiosk-up-1"
    agent = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with running_agent(agent) as box:
        wait_until(lambda: box.status().link_up is True, 10, "the agent's connection")
        app = make_kiosk(kiosk_on(agent, kiosk_settings), refresh_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await type_pin(pilot, blank_token.user_pin)
            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_workers(pilot)
            assert line(home, "home-link").startswith("Máy chủ: đã kết nối (từ ")
            before = box.status().link_at
            await pilot.pause(1.1)  # the outbox notes the link to the second
            screen = await broker_test(pilot)
            said = screen.text("broker")
            assert said.startswith(
                f"Tốt. Đã kết nối tới máy chủ tin nhắn {broker.host}:{broker.port} bằng chứng "
                "thư của thiết bị (TLS) trong "
            ), said
            assert screen.findings["broker"].ok
        # The test took the agent's place for a moment (the broker gives a device's
        # connection the device's id): the agent noticed, and is back.
        wait_until(
            lambda: box.status().link_up is True and box.status().link_at != before,
            15,
            "the agent's reconnection",
        )


def test_the_broker_test_keeps_what_waits_in_the_agents_session(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    peer: IngestPeer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """The broker test connects as the device (the broker gives it the device's id): an ack
    queued in the device's session while the agent is away must still reach the agent."""
    device = "kiosk-session-1"
    peer.watch(device)
    settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    with Outbox(settings.outbox_dir) as box:
        result_id = box.add(fake_pdf(1), {}, "2026-12-06T01:00:00+00:00")
        peer.hold = True  # the server answers after the agent has gone
        try:
            first = SyncAgent(settings, box).run_until_drained(timeout=1.5)
            assert (first.sent, first.waiting) == (1, 1)
        finally:
            peer.release()  # the ack waits in the device's session at the broker
        found = checks.check_broker(settings)
        assert found.ok, found.text
        report = SyncAgent(settings, box).run_until_drained(timeout=20)
        # ACCEPTED could only come from the session: sent again, the peer says DUPLICATE.
        assert report.accepted == 1
        assert box.get(result_id).state is State.ACKED
