"""The fleet pages in a real browser (Debian's Chromium, driven by Playwright) against a live
server whose seed devices carry synthetic heartbeats (`server.seed_fleet`), beside one appliance
whose month of hourly heartbeats went through the server's own path: filtering the fleet,
paging it, opening a device and its charts, revoking one with its confirmation, an auditor
without actions, a phone's width, labels; screenshots "fleet", "fleet-phone", "device" and
"device-revoke" saved (`browser.SCREENSHOTS`)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, select

from protocol.commands import CommandName, CommandReply, ReplyStatus
from protocol.messages import sha256_hex
from protocol.status import LinkState
from server.api.main import create_app
from server.db import make_engine, migrate, session_scope
from server.models import Device, DeviceStatus, Record, utc_now
from server.repository import commands, devices
from server.seed_fleet import seed_fleet
from tests.server.peers import api_settings_for
from tests.server.web.browser import PHONE, assert_fits_a_phone, screenshot, serve, sign_in
from tests.server.web.fleet import VAN_THANG, Appliance, beat, commands_of, register, status_of
from tests.server.web.pages import fill

SHOWCASE = "kiosk-van-thang-01"
"""The appliance whose month went through `devices.record_heartbeat`, heartbeat by heartbeat."""
DOOMED = "kiosk-van-thang-02"
"""The appliance the revocation test revokes."""


@dataclass(frozen=True)
class Site:
    """The live server and its repository."""

    url: str
    engine: Engine


def _showcase(engine: Engine, now: dt.datetime) -> None:
    """`SHOWCASE`: a month of heartbeats, one an hour, through the server's own path (a backlog
    ten days ago that it caught up with), and the results it delivered each working day."""
    showcase = Appliance(
        SHOWCASE,
        cert_in=dt.timedelta(days=21),
        heard_ago=None,
        registered_ago=dt.timedelta(days=90),
    )
    register(engine, showcase, now)
    rng = random.Random(18)  # test data, reproducible
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=30)
    with session_scope(engine) as s:
        for h in range(30 * 24 + 1):
            at = min(start + dt.timedelta(hours=h, minutes=1), now)
            office = 1 <= at.hour <= 10  # 08:00-17:00 in Việt Nam
            depth = rng.randrange(0, 5) if office else 0
            if 9 <= (now - at).days <= 11:
                depth += 40 * (12 - (now - at).days)  # the link was down for three days
            devices.record_heartbeat(s, beat(SHOWCASE, at, queue_depth=depth), at)
        devices.record_heartbeat(s, beat(SHOWCASE, now, queue_depth=0), now)  # online now
        for day in range(30):
            received = now - dt.timedelta(days=day, hours=rng.randrange(0, 6))
            for i in range(rng.randrange(0, 14) if received.weekday() < 5 else 0):
                s.add(
                    Record(
                        result_id=sha256_hex(f"{SHOWCASE}:{day}:{i}".encode()),
                        device_id=SHOWCASE,
                        signature_valid=True,
                        received_at=received - dt.timedelta(minutes=i),
                        pdf_size=1,
                        pdf_path="none",
                    )
                )
        s.commit()
        ping = commands.issue_command(s, SHOWCASE, CommandName.PING)
        commands.record_reply(
            s,
            CommandReply(SHOWCASE, ping.command_id, ReplyStatus.OK, "pong", {"queue_depth": 0}),
        )
        config = commands.issue_command(
            s, SHOWCASE, CommandName.CONFIG, {"settings": {"heartbeat_s": 30}}
        )
        detail = "this appliance does not change its settings over the air (heartbeat_s)"
        commands.record_reply(
            s, CommandReply(SHOWCASE, config.command_id, ReplyStatus.ERROR, detail)
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("fleet-site")
    db_url = f"sqlite:///{root / 'repository.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    fill(engine, root / "data")
    now = utc_now()
    with Session(engine) as s:
        seed_fleet(s, now=now)
    _showcase(engine, now)
    register(engine, Appliance(DOOMED, queue_depth=3), now)
    app = create_app(api_settings_for(db_url, root / "data"), engine)
    with serve(app) as live:
        yield Site(live.url, engine)
    engine.dispose()


def _everyone(site: Site) -> list[Device]:
    with Session(site.engine) as s:
        return list(s.exec(select(Device)).all())


def _shown(page: Page) -> list[str]:
    return page.locator("table.fleet tbody td[data-label='Thiết bị'] a").all_inner_texts()


def test_the_fleet_page_filters_and_pages(page: Page, site: Site) -> None:
    everyone = _everyone(site)
    sign_in(page, "admin", "/fleet")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thiết bị số hóa")
    expect(page.get_by_role("link", name="Thiết bị", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    ids = sorted(d.device_id for d in everyone)
    assert _shown(page) == ids[:100]
    screenshot(page, "fleet")
    page.get_by_role("link", name="Trang sau").click()
    assert _shown(page) == ids[100:200]

    now = utc_now()
    page.get_by_label("Chứng thư hết hạn trong 30 ngày").check()
    page.get_by_role("button", name="Lọc").click()
    expect(page).to_have_url(f"{site.url}/fleet?expiring=1&backlog=&unit=")
    soon = now + dt.timedelta(days=30)
    expiring = sorted(d.device_id for d in everyone if d.cert_not_after and d.cert_not_after < soon)
    assert SHOWCASE in expiring and _shown(page) == expiring
    expect(page.get_by_label("Chứng thư hết hạn trong 30 ngày")).to_be_checked()

    page.get_by_label("Chứng thư hết hạn trong 30 ngày").uncheck()
    page.get_by_label("Hàng đợi trên (kết quả)").fill("100")
    page.get_by_role("button", name="Lọc").click()
    backlog = sorted(d.device_id for d in everyone if (d.queue_depth or 0) > 100)
    assert backlog and _shown(page) == backlog
    depths = page.locator("table.fleet td[data-label='Hàng đợi']").all_inner_texts()
    assert all(int(d.replace(".", "")) > 100 for d in depths)

    page.get_by_label("Hàng đợi trên (kết quả)").fill("")
    page.get_by_label("Không liên lạc quá 1 ngày").check()
    page.get_by_role("button", name="Lọc").click()
    day_ago = now - dt.timedelta(days=1)
    offline = sorted(
        d.device_id for d in everyone if (d.status_received_at or d.registered_at) < day_ago
    )
    assert offline and _shown(page) == offline
    links = page.locator("table.fleet td[data-label='Kết nối']").all_inner_texts()
    assert "Trực tuyến" not in links

    page.get_by_label("Không liên lạc quá 1 ngày").uncheck()
    page.get_by_label("Đang báo lỗi").check()
    page.get_by_role("button", name="Lọc").click()
    errors = sorted(d.device_id for d in everyone if d.last_error)
    assert errors and _shown(page) == errors


def test_a_device_shows_its_month_as_charts_and_tables(page: Page, site: Site) -> None:
    sign_in(page, "admin", "/fleet?unit=" + VAN_THANG)
    page.get_by_role("link", name=SHOWCASE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Thiết bị {SHOWCASE}")
    queue = page.get_by_role("img", name="Hàng đợi lớn nhất mỗi ngày", exact=False)
    stored = page.get_by_role("img", name="Kết quả máy chủ đã lưu mỗi ngày", exact=False)
    expect(queue).to_be_visible()
    expect(stored).to_be_visible()
    assert queue.locator("rect").count() == 30
    expect(page.locator(".fields").first).to_contain_text("Còn 20 ngày")
    replies = page.get_by_role("region", name="Lệnh đã gửi").locator("tbody tr")
    expect(replies).to_have_count(2)
    expect(replies.first).to_contain_text("does not change its settings over the air")
    expect(replies.last).to_contain_text("Thành công")
    screenshot(page, "device")
    page.get_by_text("Bảng số liệu hàng đợi").click()  # the table behind the chart
    peak = page.locator("td[data-label='Hàng đợi lớn nhất']")
    expect(peak.first).to_be_visible()
    depths = [int(v) for v in peak.all_inner_texts() if v != "—"]
    assert peak.count() == 30 and max(depths) >= 80  # the three days the link was down


def test_revoking_a_device_asks_for_a_reason_and_a_confirmation(page: Page, site: Site) -> None:
    sign_in(page, "admin", f"/fleet/{DOOMED}")
    page.get_by_role("button", name="Thu hồi…").click()
    # The browser will not send the form without a reason; nothing happened.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Thiết bị {DOOMED}")
    assert status_of(site.engine, DOOMED) is DeviceStatus.ACTIVE
    page.get_by_label("Lý do thu hồi (bắt buộc)").fill("Máy bị mất ngày 05/12")
    page.get_by_role("button", name="Thu hồi…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Xác nhận thu hồi thiết bị {DOOMED}")
    expect(page.get_by_role("note")).to_contain_text("không thể hoàn tác")
    screenshot(page, "device-revoke")
    assert status_of(site.engine, DOOMED) is DeviceStatus.ACTIVE
    assert commands_of(site.engine, DOOMED) == []
    page.get_by_role("button", name="Xác nhận thu hồi").click()
    expect(page.get_by_role("status")).to_contain_text("Đã thu hồi thiết bị")
    expect(page.get_by_role("button", name="Thu hồi…")).to_have_count(0)
    assert status_of(site.engine, DOOMED) is DeviceStatus.REVOKED
    [revoke] = commands_of(site.engine, DOOMED)
    assert revoke.args == {"reason": "Máy bị mất ngày 05/12"}
    row = page.get_by_role("region", name="Lệnh đã gửi").locator("tbody tr").first
    expect(row).to_contain_text("Thu hồi")
    expect(row).to_contain_text("Chờ gửi")


def test_an_auditor_sees_the_device_but_no_action(page: Page, site: Site) -> None:
    sign_in(page, "auditor", f"/fleet/{SHOWCASE}")
    expect(page.get_by_role("heading", name="Nhịp tim gần nhất")).to_be_visible()
    expect(page.get_by_role("button", name="Gửi lệnh ping")).to_have_count(0)
    expect(page.get_by_text("Chỉ quản trị cấp tỉnh được gửi lệnh")).to_be_visible()


def test_the_fleet_pages_fit_a_phone(browser: Browser, site: Site) -> None:
    ctx = browser.new_context(base_url=site.url, viewport=PHONE, locale="vi-VN")
    page = ctx.new_page()
    try:
        sign_in(page, "admin", "/fleet")
        for path, name in (("/fleet", "fleet-phone"), (f"/fleet/{SHOWCASE}", "device-phone")):
            assert_fits_a_phone(page, path)
            screenshot(page, name)
    finally:
        ctx.close()


def test_every_field_of_the_fleet_pages_has_a_label(page: Page, site: Site) -> None:
    sign_in(page, "admin", "/fleet")
    for path in ("/fleet", f"/fleet/{SHOWCASE}"):
        page.goto(path)
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => e.labels.length === 0).map(e => e.name)"
        )
        assert unlabelled == [], path
        assert page.locator("main").count() == 1


def test_the_showcase_went_through_the_heartbeat_path(site: Site) -> None:
    with Session(site.engine) as s:
        hours = devices.heartbeat_hours(s, SHOWCASE, utc_now() - dt.timedelta(days=31))
        device = s.get(Device, SHOWCASE)
    assert 720 <= len(hours) <= 722 and sum(h.heartbeats for h in hours) == 30 * 24 + 2
    assert device is not None and device.link_state is LinkState.ONLINE
