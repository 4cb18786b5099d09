"""The fleet pages: the list and what each filter leaves (on a fleet whose answers are known),
its pages, a device's figures (queue depth by day from its heartbeats, results stored per day,
computed by hand), its commands and replies, and what each role may do: an auditor watches but
cannot act, an officer is refused, every action needs the session's token, and a revocation
needs a reason and a confirmation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from protocol.commands import CommandName, CommandReply, ReplyStatus
from protocol.enrollment import parse_code
from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.db import session_scope
from server.models import DeviceCommand, DeviceHeartbeatHour, DeviceStatus, Record, Role, utc_now
from server.repository import commands, devices
from server.web.render import VIETNAM
from tests.server.signin import add_account
from tests.server.web.fleet import (
    FILTERED,
    FLEET,
    VAN_THANG,
    add_devices,
    beat,
    commands_of,
    make_fleet,
    status_of,
)
from tests.server.web.pages import HTTPS, sign_in

_LISTED = re.compile(r'<td data-label="Thiết bị"><a href="/fleet/([^"]+)">')
_ALL = {a.device_id for a in FLEET}


@pytest.fixture
def web(app: FastAPI, db_engine: Engine) -> Iterator[TestClient]:
    """A browser-like client of the pages over the known fleet, with an account per role."""
    for name, role in (("admin", Role.PROVINCE_ADMIN), ("auditor", Role.AUDITOR)):
        add_account(db_engine, name, role)
    add_account(db_engine, "officer", Role.UNIT_OFFICER, VAN_THANG)
    make_fleet(db_engine, utc_now())
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as c:
        yield c


def _listed(html: str) -> list[str]:
    return _LISTED.findall(html)


def _table(html: str, label: str) -> dict[str, str]:
    """A device page's figures table: each day (dd/mm/yyyy) and its value in column `label`."""
    rows = re.findall(
        rf'<td data-label="Ngày">([0-9/]+)</td><td data-label="{label}" class="num">([^<]*)</td>',
        html,
    )
    return dict(rows)


def test_the_fleet_lists_every_appliance_with_its_last_heartbeat(web: TestClient) -> None:
    sign_in(web, "admin")
    response = web.get("/fleet")
    assert response.status_code == 200
    page = response.text
    assert _listed(page) == sorted(_ALL)
    assert f"{len(FLEET)} thiết bị" in page
    backlog = page.split('href="/fleet/kiosk-backlog"', 1)[1].split("</tr>", 1)[0]
    assert '<td data-label="Hàng đợi" class="num">120</td>' in backlog
    assert "Trực tuyến" in backlog and "40,0 GB" in backlog and "Còn 299 ngày" in backlog
    quiet = page.split('href="/fleet/kiosk-quiet"', 1)[1].split("</tr>", 1)[0]
    assert "Ngoại tuyến" in quiet
    assert "Chưa liên lạc" in page.split('href="/fleet/kiosk-new"', 1)[1].split("</tr>", 1)[0]
    assert "Đã hết hạn từ" in page.split('href="/fleet/kiosk-expired"', 1)[1].split("</tr>")[0]
    error = page.split('href="/fleet/kiosk-error"', 1)[1].split("</tr>", 1)[0]
    assert "token: the signing token did not answer" in error and "Không thấy" in error
    # The summary at the top: the API's figures.
    assert "<dt>Thiết bị</dt><dd>11</dd>" in page
    assert "<dt>Chưa liên lạc</dt><dd>2</dd>" in page
    assert "<dt>Ngoại tuyến</dt><dd>1</dd>" in page
    assert "<dt>Đang báo lỗi</dt><dd>1</dd>" in page


@pytest.mark.parametrize("query", sorted(FILTERED))
def test_each_filter_lists_exactly_its_appliances(web: TestClient, query: str) -> None:
    sign_in(web, "admin")
    name, _, value = query.partition("=")
    response = web.get("/fleet", params={name: value or "1"})
    assert response.status_code == 200
    assert _listed(response.text) == sorted(FILTERED[query])


def test_filters_combine_and_a_bad_number_is_explained(web: TestClient) -> None:
    sign_in(web, "admin")
    both = web.get("/fleet", params={"backlog": "0", "unit": VAN_THANG, "errors": "1"})
    assert _listed(both.text) == []
    assert "Không có thiết bị nào khớp bộ lọc." in both.text
    some = web.get("/fleet", params={"backlog": "1", "expiring": "1"})
    assert _listed(some.text) == []
    bad = web.get("/fleet", params={"backlog": "nhiều"})
    assert bad.status_code == 422
    assert "Hàng đợi trên" in bad.text and "số nguyên không âm" in bad.text
    assert 'value="nhiều"' in bad.text  # what was typed stays
    for number in ("-1", "²", "1.5", "9" * 12):
        assert web.get("/fleet", params={"backlog": number}).status_code == 422, number


def test_the_fleet_is_paged_in_sql(web: TestClient, db_engine: Engine) -> None:
    added = add_devices(db_engine, 10_000, registered=utc_now() - dt.timedelta(days=3))
    everyone = sorted(_ALL | set(added))
    sign_in(web, "admin")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sa.event.listen(db_engine, "before_cursor_execute", seen)
    try:
        first = web.get("/fleet")
    finally:
        sa.event.remove(db_engine, "before_cursor_execute", seen)
    assert _listed(first.text) == everyone[:100]
    assert "10.011 thiết bị" in first.text and "trang 1/101" in first.text
    assert 'href="/fleet?page=2"' in first.text and 'rel="prev"' not in first.text
    # Device rows are read a page at a time (LIMIT); the rest only counted (the summary, the
    # number of matches).
    rows_read = [s for s in statements if re.search(r"FROM device\b", s) and "count(" not in s]
    assert len(rows_read) == 1 and "LIMIT" in rows_read[0], rows_read
    last = web.get("/fleet", params={"page": "101"})
    assert _listed(last.text) == everyone[10_000:]
    assert 'href="/fleet?page=100"' in last.text and 'rel="next"' not in last.text
    # The filters stay on the other pages' links.
    offline = web.get("/fleet", params={"offline": "1", "page": "2"})
    assert "10.002 thiết bị" in offline.text
    assert _listed(offline.text) == sorted(set(added) | FILTERED["offline"])[100:200]
    assert 'href="/fleet?offline=1&amp;page=3"' in offline.text
    assert 'href="/fleet?offline=1&amp;page=1"' in offline.text
    assert web.get("/fleet", params={"page": "0"}).status_code == 422


def _local_time(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), VIETNAM).astimezone(dt.UTC)


def test_a_device_page_shows_its_queue_and_throughput_per_day(
    web: TestClient, db_engine: Engine
) -> None:
    now = utc_now()
    today = now.astimezone(VIETNAM).date()
    device = "kiosk-fresh"
    # Heartbeats, in the order they came: one 40 days ago (outside the chart), two on the day
    # three days back (deepest 12), two yesterday (deepest 7), and the last one today (2).
    beats = [
        (_local_time(today - dt.timedelta(days=40), 10), 99),
        (_local_time(today - dt.timedelta(days=3), 9), 4),
        (_local_time(today - dt.timedelta(days=3), 15), 12),
        (_local_time(today - dt.timedelta(days=1), 8), 7),
        (_local_time(today - dt.timedelta(days=1), 23), 1),
        (max(now - dt.timedelta(seconds=30), _local_time(today, 0)), 2),
    ]
    with session_scope(db_engine) as s:
        s.execute(sa.delete(DeviceHeartbeatHour))  # only these heartbeats
        device_row = devices.get_device(s, device)
        assert device_row is not None
        device_row.status_at = device_row.status_received_at = None
        s.add(device_row)
        s.commit()
        for at, depth in beats:
            assert devices.record_heartbeat(s, beat(device, at, queue_depth=depth), at)
    # Results stored: yesterday three (one at 23:59 in Việt Nam), the first day of the chart one,
    # 31 days back one (outside), and yesterday an officer's correction (not a delivery).
    first_day = today - dt.timedelta(days=29)
    received = [
        _local_time(today - dt.timedelta(days=1), 0),
        _local_time(today - dt.timedelta(days=1), 12),
        _local_time(today - dt.timedelta(days=1), 0) + dt.timedelta(hours=23, minutes=59),
        _local_time(first_day, 7),
        _local_time(today - dt.timedelta(days=30), 7),
    ]
    with session_scope(db_engine) as s:
        for i, at in enumerate(received):
            s.add(_record(device, f"r{i}", at))
        s.add(_record(device, "correction", received[1], corrects="r1-record"))
        s.commit()

    sign_in(web, "auditor")
    response = web.get(f"/fleet/{device}")
    assert response.status_code == 200
    page = response.text
    queue = _table(page, "Hàng đợi lớn nhất")
    stored = _table(page, "Kết quả đã lưu")
    assert len(queue) == len(stored) == 30

    def day(back: int) -> str:
        return (today - dt.timedelta(days=back)).strftime("%d/%m/%Y")

    assert {d: v for d, v in queue.items() if v != "—"} == {day(3): "12", day(1): "7", day(0): "2"}
    assert {d: v for d, v in stored.items() if v != "0"} == {day(1): "3", day(29): "1"}
    assert day(30) not in stored
    # The charts, drawn on the server, with their accessible names.
    assert page.count('role="img"') == 2
    assert '<title id="queue-chart-title">Hàng đợi lớn nhất mỗi ngày' in page
    assert '<desc id="stored-chart-desc">Tổng cộng 4 kết quả trong 30 ngày' in page
    assert "<script" not in page


def _record(device_id: str, name: str, at: dt.datetime, corrects: str | None = None) -> Record:
    return Record(
        id=f"{name}-record",
        result_id=sha256_hex(name.encode()),
        device_id=device_id,
        signature_valid=True,
        received_at=at,
        pdf_size=1,
        pdf_path="x",
        corrects=corrects,
    )


def test_a_device_page_lists_its_commands_with_their_replies(
    web: TestClient, db_engine: Engine
) -> None:
    with session_scope(db_engine) as s:
        ping = commands.issue_command(s, "kiosk-fresh", CommandName.PING)
        config = commands.issue_command(
            s, "kiosk-fresh", CommandName.CONFIG, {"settings": {"heartbeat_s": 30}}
        )
        commands.record_reply(
            s,
            CommandReply("kiosk-fresh", ping.command_id, ReplyStatus.OK, "pong", {"in_flight": 0}),
        )
        commands.record_reply(
            s,
            CommandReply(
                "kiosk-fresh",
                config.command_id,
                ReplyStatus.ERROR,
                "this appliance does not change its settings over the air (heartbeat_s)",
            ),
        )
        commands.issue_command(s, "kiosk-fresh", CommandName.CATALOG, {"version": "2026.1"})
    sign_in(web, "admin")
    page = web.get("/fleet/kiosk-fresh").text
    listed = page.split("Lệnh đã gửi", 1)[1].split("</table>", 1)[0]
    rows = listed.split("<tr>")[2:]  # after the header's
    assert [r.split("</td>", 1)[0].split(">", 1)[1].split("<", 1)[0] for r in rows] == [
        "Danh mục",
        "Cấu hình",
        "Kiểm tra kết nối (ping)",
    ]
    assert "Chờ gửi" in rows[0] and "—" in rows[0]
    assert "Lỗi" in rows[1] and "does not change its settings over the air" in rows[1]
    assert "{&#34;settings&#34;: {&#34;heartbeat_s&#34;: 30}}" in rows[1]
    assert "Thành công" in rows[2] and "pong" in rows[2] and "in_flight" in rows[2]


def test_an_admin_pings_and_sends_settings(web: TestClient, db_engine: Engine) -> None:
    csrf = sign_in(web, "admin")
    done = web.post("/fleet/kiosk-fresh/ping", data={"csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/fleet/kiosk-fresh?sent=ping"
    assert "Đã xếp lệnh kiểm tra kết nối" in web.get(done.headers["location"]).text
    sent = web.post(
        "/fleet/kiosk-fresh/config", data={"csrf": csrf, "settings": '{"heartbeat_s": 30}'}
    )
    assert sent.status_code == 303
    queued = commands_of(db_engine, "kiosk-fresh")
    assert [(c.name, c.args, c.issued_by) for c in queued] == [
        (CommandName.PING, {}, "admin"),
        (CommandName.CONFIG, {"settings": {"heartbeat_s": 30}}, "admin"),
    ]
    assert '<td data-label="Người gửi">admin</td>' in web.get("/fleet/kiosk-fresh").text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"heartbeat_s": 30', "Không đọc được JSON ở dòng 1"),
        ("[1, 2]", "phải là một đối tượng JSON"),
        ("x" * 9000, "dài quá"),
        ('{"a": ' + "[" * 4000 + "]" * 4000 + "}", "lồng nhau quá sâu"),
        ('{"a": NaN}', "không gửi được cho thiết bị"),
        ('{"a": 1e400}', "không gửi được cho thiết bị"),
    ],
)
def test_settings_that_are_no_json_object_are_explained_and_not_sent(
    web: TestClient, db_engine: Engine, text: str, why: str
) -> None:
    csrf = sign_in(web, "admin")
    response = web.post("/fleet/kiosk-fresh/config", data={"csrf": csrf, "settings": text})
    assert response.status_code == 422
    assert "Cấu hình không hợp lệ" in response.text and why in response.text
    assert commands_of(db_engine, "kiosk-fresh") == []


def test_revoking_needs_a_reason_then_a_confirmation(web: TestClient, db_engine: Engine) -> None:
    csrf = sign_in(web, "admin")
    path = "/fleet/kiosk-fresh/revoke"
    for reason in ("", "   "):
        blank = web.post(path, data={"csrf": csrf, "reason": reason, "confirm": "yes"})
        assert blank.status_code == 422
        assert "Hãy ghi lý do thu hồi" in blank.text
    asked = web.post(path, data={"csrf": csrf, "reason": "Máy bị mất"})
    assert asked.status_code == 200
    assert "Xác nhận thu hồi thiết bị kiosk-fresh" in asked.text
    assert "từ chối mọi kết quả mới" in asked.text and "không thể hoàn tác" in asked.text
    assert "Máy bị mất" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert 'name="reason" value="Máy bị mất"' in asked.text
    for wrong in ("no", "1", ""):
        again = web.post(path, data={"csrf": csrf, "reason": "Máy bị mất", "confirm": wrong})
        assert again.status_code == 200  # asked again, nothing done
    # Nothing happened before the confirmation.
    assert status_of(db_engine, "kiosk-fresh") is DeviceStatus.ACTIVE
    assert commands_of(db_engine, "kiosk-fresh") == []
    done = web.post(path, data={"csrf": csrf, "reason": "Máy bị mất", "confirm": "yes"})
    assert done.status_code == 303
    assert status_of(db_engine, "kiosk-fresh") is DeviceStatus.REVOKED
    [revoke] = commands_of(db_engine, "kiosk-fresh")
    assert (revoke.name, revoke.args) == (CommandName.REVOKE, {"reason": "Máy bị mất"})
    page = web.get(done.headers["location"]).text
    assert "Đã thu hồi thiết bị" in page and "Thiết bị đã bị thu hồi." in page
    assert 'action="/fleet/kiosk-fresh/revoke"' not in page
    twice = web.post(path, data={"csrf": csrf, "reason": "Lần nữa", "confirm": "yes"})
    assert twice.status_code == 409
    assert len(commands_of(db_engine, "kiosk-fresh")) == 1


ACTIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("ping", {}),
    ("config", {"settings": "{}"}),
    ("revoke", {"reason": "Máy bị mất"}),
    ("revoke", {"reason": "Máy bị mất", "confirm": "yes"}),
)


@pytest.mark.parametrize(("action", "form"), ACTIONS)
def test_every_action_without_the_sessions_token_is_refused(
    web: TestClient, db_engine: Engine, action: str, form: dict[str, str]
) -> None:
    sign_in(web, "admin")
    for token in ({}, {"csrf": "forged"}):
        response = web.post(f"/fleet/kiosk-fresh/{action}", data={**form, **token})
        assert response.status_code == 403
        assert "Biểu mẫu không hợp lệ" in response.text
    assert commands_of(db_engine, "kiosk-fresh") == []
    assert status_of(db_engine, "kiosk-fresh") is DeviceStatus.ACTIVE


def test_an_auditor_watches_the_fleet_but_cannot_act(web: TestClient, db_engine: Engine) -> None:
    csrf = sign_in(web, "auditor")
    assert _listed(web.get("/fleet").text) == sorted(_ALL)
    page = web.get("/fleet/kiosk-fresh")
    assert page.status_code == 200
    assert "Chỉ quản trị cấp tỉnh được gửi lệnh" in page.text
    assert '<form method="post" action="/fleet/' not in page.text
    for action, form in ACTIONS:
        response = web.post(f"/fleet/kiosk-fresh/{action}", data={**form, "csrf": csrf})
        assert response.status_code == 403, action
        assert "Không có quyền truy cập" in response.text
    assert commands_of(db_engine, "kiosk-fresh") == []
    assert status_of(db_engine, "kiosk-fresh") is DeviceStatus.ACTIVE


def test_an_officer_is_refused_the_fleet(web: TestClient, db_engine: Engine) -> None:
    csrf = sign_in(web, "officer")
    for path in ("/fleet", "/fleet?offline=1", "/fleet/kiosk-fresh"):
        response = web.get(path)
        assert response.status_code == 403, path
        assert "Không có quyền truy cập" in response.text
        assert "Cán bộ đơn vị" in response.text
    response = web.post("/fleet/kiosk-fresh/ping", data={"csrf": csrf})
    assert response.status_code == 403
    assert commands_of(db_engine, "kiosk-fresh") == []
    assert 'href="/fleet"' not in web.get("/search").text  # no link to it either


def test_an_unknown_device_is_a_page_that_says_so(web: TestClient, db_engine: Engine) -> None:
    csrf = sign_in(web, "admin")
    response = web.get("/fleet/kiosk-nobody")
    assert response.status_code == 404
    assert "Không tìm thấy" in response.text
    posted = web.post("/fleet/kiosk-nobody/ping", data={"csrf": csrf})
    assert posted.status_code == 404
    with Session(db_engine) as s:
        assert s.exec(select(DeviceCommand)).all() == []
    assert web.get("/fleet/" + "x" * 100).status_code == 422


def test_the_fleet_pages_hold_no_script_and_no_outside_resource(web: TestClient) -> None:
    sign_in(web, "admin")
    for path in ("/fleet", "/fleet/kiosk-fresh"):
        html = web.get(path).text
        assert "<script" not in html, path
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        assert 'aria-current="page">Thiết bị</a>' in html


def test_an_admin_adds_an_appliance_and_sees_its_code_once(
    web: TestClient, db_engine: Engine, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create("Fleet Test CA")
    key = new_key()
    cert = ca.issue(key.public_key(), "127.0.0.1", Profile.TLS_SERVER, ip_addresses=["127.0.0.1"])
    write_certificate(cert, tmp_path / "https.pem")
    app = web.app
    assert isinstance(app, FastAPI)
    app.state.settings = app.state.settings.model_copy(
        update={"enroll_server_cert_file": tmp_path / "https.pem"}
    )
    csrf = sign_in(web, "admin")
    assert 'href="/fleet/enrollments/new"' in web.get("/fleet").text
    form = web.get("/fleet/enrollments/new")
    assert form.status_code == 200 and 'name="device_id"' in form.text
    bad = web.post("/fleet/enrollments", data={"csrf": csrf, "device_id": "máy 2", "unit": "22516"})
    assert bad.status_code == 422 and "Mã thiết bị" in bad.text
    done = web.post(
        "/fleet/enrollments", data={"csrf": csrf, "device_id": "vt-09.kiosk", "unit": "22516"}
    )
    assert done.status_code == 201, done.text
    code = re.search(r'<p class="enroll-code"><code>([A-Z2-7-]+)</code>', done.text)
    assert code is not None and parse_code(code.group(1)).matches_key(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert "<svg" in done.text and f"--code {code.group(1)}" in done.text
    taken = web.post(
        "/fleet/enrollments", data={"csrf": csrf, "device_id": "kiosk-fresh", "unit": "22516"}
    )
    assert taken.status_code == 409 and "enrolled already" in taken.text
    forged = web.post("/fleet/enrollments", data={"device_id": "vt-10.kiosk", "unit": "22516"})
    assert forged.status_code == 403
    sign_in(web, "auditor")
    assert web.get("/fleet/enrollments/new").status_code == 403
