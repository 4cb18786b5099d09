"""The home screen: today's results, the outbox by state, the token, the disk, and the link
and last answer the sync agent notes in the outbox — read in a worker, refreshed live, at 80x24.
The agent runs for real against the Mosquitto fixture, with the server played by `IngestPeer`."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from textual.widgets import Static

from edge.config import EdgeSettings
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox, State
from edge.tui.app import make_kiosk
from edge.tui.screens.home import HomeScreen
from protocol.messages import Ack, AckStatus
from protocol.reasons import RejectReason
from provisioning.broker import Mosquitto
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from tests.edge.sync.peer import IngestPeer, wait_until
from tests.edge.sync.test_agent import peer, settings_for  # noqa: F401 - the peer fixture
from tests.edge.tui.conftest import SIZE, fake_pdf, type_pin, wait_workers
from tests.fixtures.broker import MqttIdentity
from tests.fixtures.token import BlankToken

NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.isoformat()
LONG_AGO = (NOW - dt.timedelta(days=3)).isoformat()
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
"""Where the home screen's certificate warnings are saved, to be looked at."""
FIELDS = {"so_ky_hieu": "12/QĐ-UBND", "loai_van_ban": "QUYẾT ĐỊNH"}


def line(home: HomeScreen, widget_id: str) -> str:
    return str(home.query_one(f"#{widget_id}", Static).render())


def fill(outbox: Outbox) -> list[str]:
    """Four results: queued, sent, acked (today) and one refused three days ago."""
    ids = [outbox.add(fake_pdf(i), FIELDS, TODAY if i < 3 else LONG_AGO) for i in range(4)]
    outbox.mark_sent(ids[1])
    outbox.mark_sent(ids[2])
    outbox.apply_ack(Ack(ids[2], AckStatus.ACCEPTED, record_id="rec-2"))
    outbox.mark_sent(ids[3])
    outbox.apply_ack(
        Ack(ids[3], AckStatus.REJECTED, RejectReason.UNKNOWN_DEVICE, "device not registered")
    )
    return ids


async def test_home_shows_the_outbox_and_the_appliance(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, outbox: Outbox
) -> None:
    fill(outbox)
    app = make_kiosk(kiosk_settings, refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        home = app.screen
        assert isinstance(home, HomeScreen)
        await wait_workers(pilot)
        assert line(home, "home-today") == "Hôm nay đã số hóa: 3 kết quả"
        assert line(home, "home-outbox") == (
            "Hộp gửi: 1 chờ gửi · 1 đang gửi · 1 máy chủ đã nhận · 1 bị từ chối"
        )
        assert line(home, "home-token") == "Token ký số: đã cắm"
        assert line(home, "home-link").startswith("Máy chủ: chưa rõ")
        assert line(home, "home-disk").startswith("Dung lượng trống: ")
        assert "bị từ chối: mở Hộp gửi" in line(home, "home-problem")

        # Live: a result queued meanwhile (another process) shows within the refresh time.
        outbox.add(fake_pdf(9), FIELDS, TODAY)
        await pilot.pause(0.5)
        await wait_workers(pilot)
        assert line(home, "home-today") == "Hôm nay đã số hóa: 4 kết quả"
        assert line(home, "home-outbox").startswith("Hộp gửi: 2 chờ gửi")
        assert home.status is not None and home.status.outbox.counts[State.QUEUED] == 2


async def test_home_shows_the_link_and_the_last_answer_of_the_running_agent(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    peer: IngestPeer,  # noqa: F811 - the fixture imported above
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    tmp_path: Path,
) -> None:
    device = "kiosk-link-1"
    peer.watch(device)
    agent_settings = settings_for(device, broker, mqtt_identity(device), tmp_path)
    settings = kiosk_settings.model_copy(update={"data_dir": agent_settings.data_dir})
    stop = threading.Event()
    with Outbox(settings.outbox_dir) as agent_box:
        result_id = agent_box.add(fake_pdf(1), FIELDS, TODAY)
        agent = SyncAgent(agent_settings, agent_box)
        runner = threading.Thread(target=agent.run_forever, args=(stop,))
        runner.start()
        try:
            wait_until(
                lambda: agent_box.get(result_id).state is State.ACKED, 20, "the server's ack"
            )
            app = make_kiosk(settings, refresh_s=0.2)
            async with app.run_test(size=SIZE) as pilot:
                await type_pin(pilot, blank_token.user_pin)
                home = app.screen
                assert isinstance(home, HomeScreen)
                await wait_workers(pilot)
                assert line(home, "home-link").startswith("Máy chủ: đã kết nối (từ ")
                assert not line(home, "home-sync").endswith("—")
                assert line(home, "home-outbox").startswith(
                    "Hộp gửi: 0 chờ gửi · 0 đang gửi · 1 máy chủ đã nhận"
                )
                stop.set()
                runner.join(10)
                await pilot.pause(0.5)
                await wait_workers(pilot)
                assert line(home, "home-link").startswith("Máy chủ: MẤT KẾT NỐI")
        finally:
            stop.set()
            runner.join(10)


async def test_home_says_when_the_certificate_nears_its_end_or_the_clock_is_wrong(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, outbox: Outbox, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create("Home Test CA")
    cases = [
        (NOW - dt.timedelta(days=400), 412, "hết hạn ngày", "còn 12 ngày"),
        (NOW - dt.timedelta(days=400), 398, "đã hết hạn ngày", "đăng ký lại"),
        (NOW + dt.timedelta(days=900), 825, "Đồng hồ của thiết bị đang sai", "chỉnh lại ngày giờ"),
    ]
    for start, days, first, second in cases:
        cert = ca.issue(
            new_key().public_key(),
            "kiosk-01",
            Profile.TLS_CLIENT,
            valid_days=days,
            not_before=start,
        )
        write_certificate(cert, tmp_path / "transport.pem")
        settings = kiosk_settings.model_copy(update={"cert_file": tmp_path / "transport.pem"})
        app = make_kiosk(settings, refresh_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await type_pin(pilot, blank_token.user_pin)
            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_workers(pilot)
            said = line(home, "home-problem")
            assert first in said and second in said, said
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # a clean clone has no build/
            app.save_screenshot(f"home-certificate-{days}.svg", path=str(SCREENSHOTS))
