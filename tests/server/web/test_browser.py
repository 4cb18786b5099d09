"""The pages in a real browser (Debian's Chromium, driven by Playwright) against a live server:
signing in as each role, searching with and without accents, a result and its PDF, reuse, the
refusals (another unit's result, a forged or cross-site form, an ended session), the phone
width, the keyboard; a screenshot of each page is saved (`browser.SCREENSHOTS`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.api.main import create_app
from server.blobs import BlobStore
from server.db import make_engine, migrate
from server.models import MonthlyTally, Record, ResultReuse, UnitTarget, WebSession
from server.search.fold import fold
from tests.server.peers import api_settings_for
from tests.server.signin import PASSWORD
from tests.server.web import cases as review_cases
from tests.server.web.browser import PHONE, assert_fits_a_phone, screenshot, serve, sign_in
from tests.server.web.pages import Repository, fill


@dataclass(frozen=True)
class Site:
    """The live server and what its repository holds."""

    url: str
    engine: Engine
    data_dir: Path
    repository: Repository


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    db_url = f"sqlite:///{root / 'repository.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    repository = fill(engine, root / "data")
    review_cases.fill(engine, root / "data")
    with Session(engine) as s:
        held = s.exec(select(MonthlyTally)).all()
        for code in {t.unit_code for t in held if t.unit_code}:
            s.add(UnitTarget(unit_code=code, volume=4))  # a few done, most in progress
        s.commit()
    app = create_app(api_settings_for(db_url, root / "data"), engine)
    app.state.search.rebuild()
    with serve(app) as live:
        yield Site(live.url, engine, root / "data", repository)
    engine.dispose()


def _record(site: Site, record_id: str) -> Record:
    with Session(site.engine) as s:
        found = s.get(Record, record_id)
    assert found is not None
    return found


def test_each_role_signs_in_to_its_own_pages(page: Page, context: BrowserContext) -> None:
    page.goto("/")
    screenshot(page, "login")
    for name, heading in (
        ("admin", "Tra cứu kết quả"),
        ("officer", "Tra cứu kết quả"),
        ("auditor", "Nhật ký truy cập dữ liệu công dân"),
    ):
        sign_in(page, name)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        links = page.get_by_role("navigation").get_by_role("link").all_inner_texts()
        expected = {
            "admin": ["Tra cứu", "Báo cáo", "Xem xét", "Nhật ký truy cập", "Thiết bị"],
            "officer": ["Tra cứu", "Báo cáo", "Xem xét"],
            "auditor": ["Nhật ký truy cập", "Thiết bị"],
        }[name]
        assert links == expected
        page.get_by_role("button", name="Đăng xuất").click()
        expect(page.get_by_role("status")).to_have_text("Bạn đã đăng xuất.")
        cookies = {c["name"] for c in context.cookies()}
        assert "sohoa_session" not in cookies


def test_a_search_typed_without_accents_finds_and_marks_the_name(page: Page, site: Site) -> None:
    name = _record(site, site.repository.mine).ho_ten
    assert name
    sign_in(page, "officer", "/search")
    page.get_by_label("Từ khóa").fill(fold(name))
    page.get_by_role("button", name="Tìm").click()
    row = page.locator("table.results tbody tr").filter(has_text=name).first
    expect(row).to_be_visible()
    marked = row.locator("mark").all_inner_texts()
    assert name.split()[-1] in marked  # the given name, printed with its accents, marked
    screenshot(page, "search")
    page.get_by_label("Từ khóa").fill(name)
    page.get_by_role("button", name="Tìm").click()
    expect(page.locator("table.results tbody tr").filter(has_text=name).first).to_be_visible()


def test_a_result_shows_its_signature_fields_and_the_pdf_as_signed(page: Page, site: Site) -> None:
    record = _record(site, site.repository.mine)
    sign_in(page, "admin", f"/results/{record.id}")
    expect(page.get_by_role("heading", name="Chữ ký số")).to_be_visible()
    expect(page.locator(".verdict")).to_contain_text("Hợp lệ.")
    expect(page.locator(".verdict")).to_contain_text(record.device_id)
    frame = page.locator("iframe")
    expect(frame).to_have_attribute("title", "Tệp PDF đã ký của kết quả")
    src = frame.get_attribute("src")
    assert src is not None
    shown = page.request.get(src)  # with the page's own cookies, as the frame loads it
    stored = BlobStore(site.data_dir).resolve(record.pdf_path).read_bytes()
    assert shown.status == 200
    assert hashlib.sha256(shown.body()).digest() == hashlib.sha256(stored).digest()
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải tệp PDF đã ký").click()
    saved = download.value.path()
    assert saved.read_bytes() == stored
    expect(page.get_by_role("heading", name="Lịch sử truy cập")).to_be_visible()
    screenshot(page, "result")


def test_an_officer_reuses_a_result_for_a_dossier(page: Page, site: Site) -> None:
    sign_in(page, "officer", f"/results/{site.repository.mine}")
    page.get_by_label("Mã hồ sơ").fill("abc")
    page.get_by_role("button", name="Ghi nhận tái sử dụng").click()
    expect(page.get_by_role("alert")).to_contain_text("Mã hồ sơ không hợp lệ")
    page.get_by_label("Mã hồ sơ").fill("000.00.15.H41-251207-0042")
    page.get_by_role("button", name="Ghi nhận tái sử dụng").click()
    expect(page.get_by_role("status")).to_contain_text("000.00.15.H41-251207-0042")
    with Session(site.engine) as s:
        reuses = s.exec(
            select(ResultReuse).where(ResultReuse.record_id == site.repository.mine)
        ).all()
    assert [r.dossier_code for r in reuses] == ["000.00.15.H41-251207-0042"]
    screenshot(page, "result-reused")


def test_an_officer_is_refused_another_units_result(page: Page, site: Site) -> None:
    sign_in(page, "officer", f"/results/{site.repository.theirs}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Không có quyền truy cập")
    screenshot(page, "refused")


def test_a_forged_form_is_refused(page: Page, site: Site) -> None:
    sign_in(page, "officer", f"/results/{site.repository.mine}")
    page.locator("form.reuse input[name=csrf]").evaluate("e => { e.value = 'forged' }")
    page.get_by_label("Mã hồ sơ").fill("000.00.15.H41-251207-0099")
    # The refusal is a page of its own: wait for its heading, long (on a loaded machine the
    # answer to the post came after the assertion's 5 s, and once a wait for the page's "load"
    # event ran out at 30 s while the heading was the only thing asked of it).
    page.get_by_role("button", name="Ghi nhận tái sử dụng").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Biểu mẫu không hợp lệ", timeout=30_000
    )
    with Session(site.engine) as s:
        codes = s.exec(select(ResultReuse.dossier_code)).all()
    assert "000.00.15.H41-251207-0099" not in codes


class _Attacker(http.server.BaseHTTPRequestHandler):
    """A page of another site that posts a reuse form to the pages when opened."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}">'
            '<input name="dossier_code" value="000.00.15.H41-251207-0666">'
            '<input name="csrf" value="guess"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_form_posted_from_another_site_does_nothing(page: Page, site: Site) -> None:
    sign_in(page, "officer")
    _Attacker.target = f"{site.url}/results/{site.repository.mine}/reuse"
    # `localhost` is another site than 127.0.0.1 for the browser's cookie rules.
    attacker = http.server.HTTPServer(("127.0.0.1", 0), _Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{attacker.server_port}/")
        page.wait_for_url(f"{site.url}/**")
    finally:
        attacker.shutdown()
    # The session cookie (SameSite=Lax) is not sent with another site's POST: sign-in asked.
    expect(page).to_have_title("Đăng nhập · Sohoa")
    with Session(site.engine) as s:
        codes = s.exec(select(ResultReuse.dossier_code)).all()
    assert "000.00.15.H41-251207-0666" not in codes


def test_an_ended_session_sends_the_visitor_to_sign_in_and_back(page: Page, site: Site) -> None:
    sign_in(page, "admin", "/search?q=nguyen")
    with Session(site.engine) as s:
        for row in s.exec(select(WebSession)).all():
            row.seen_at -= dt.timedelta(hours=1)
            s.add(row)
        s.commit()
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("không hoạt động quá lâu")
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(f"{site.url}/search?q=nguyen")


def test_the_pages_fit_a_phone(browser: Browser, site: Site) -> None:
    ctx = browser.new_context(base_url=site.url, viewport=PHONE, locale="vi-VN")
    page = ctx.new_page()
    try:
        sign_in(page, "admin", "/search?q=thi")
        for path, name in (
            ("/search?q=thi", "search-phone"),
            (f"/results/{site.repository.mine}", "result-phone"),
            ("/audit", "audit-phone"),
        ):
            assert_fits_a_phone(page, path)
            screenshot(page, name)
    finally:
        ctx.close()


def test_the_audit_page_lists_reads(page: Page, site: Site) -> None:
    sign_in(page, "admin", "/search?q=nguyen")  # a read for the log to show, whatever ran before
    page.get_by_role("button", name="Đăng xuất").click()
    sign_in(page, "auditor")
    expect(page.locator("table tbody tr").first).to_be_visible()
    page.get_by_label("Thao tác").select_option("search")
    page.get_by_role("button", name="Lọc").click()
    page.wait_for_url("**/audit?*action=search*")
    cells = page.locator("tbody td[data-label='Thao tác']")
    expect(cells.first).to_have_text("Tra cứu")
    assert set(cells.all_inner_texts()) == {"Tra cứu"}
    screenshot(page, "audit")


def test_the_keyboard_reaches_the_content_and_every_field_has_a_label(
    page: Page, site: Site
) -> None:
    sign_in(page, "admin", "/search")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Bỏ qua, đến nội dung chính")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    for path in ("/search", f"/results/{site.repository.mine}", "/audit", "/login"):
        page.goto(path)
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden]), select')]"
            ".filter(e => e.labels.length === 0).map(e => e.name)"
        )
        assert unlabelled == [], path
        assert page.locator("main").count() == 1
        assert page.evaluate("document.documentElement.lang") == "vi"


def test_the_reports_page_draws_the_figures_and_its_excel_holds_the_apis(
    page: Page, site: Site
) -> None:
    sign_in(page, "admin", "/reports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Báo cáo tiến độ số hóa")
    expect(page.locator("svg.chart").first).to_be_visible()
    screenshot(page, "reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải Excel (XLSX)").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    token = page.request.post(
        "/api/auth/token", form={"username": "admin", "password": PASSWORD}
    ).json()["access_token"]
    query = page.get_by_role("link", name="Tải Excel (XLSX)").get_attribute("href")
    assert query is not None
    api = page.request.get(
        "/api/reports?" + query.split("?", 1)[1], headers={"Authorization": f"Bearer {token}"}
    ).json()
    months = [[c.value for c in row] for row in book["Theo tháng"].iter_rows(min_row=2)]
    assert [(m[0].strftime("%Y-%m"), m[1], m[2]) for m in months] == [
        (m["month"], m["digitized"], m["reused"]) for m in api["months"]
    ]
    units = [[c.value for c in row] for row in book["Theo đơn vị"].iter_rows(min_row=2)]
    assert [(u[0] or "", u[3], u[4]) for u in units] == [
        (u["code"], u["digitized_total"], u["target"]) for u in [api["unit"], *api["units"]]
    ]


def test_a_conflict_is_compared_and_decided_with_a_confirmation(page: Page, site: Site) -> None:
    sign_in(page, "admin", "/review")
    screenshot(page, "review")
    page.get_by_role("link", name="Phiên bản mâu thuẫn").first.click()
    expect(page.locator("tr.differs")).to_have_count(1)
    screenshot(page, "review-case")
    page.get_by_label("Giữ bản hiện hành: bản mới bị loại (vẫn được lưu)").check()
    page.get_by_label("Lý do (được ghi vào nhật ký)").fill("Bản mới chụp nhầm hồ sơ khác")
    page.get_by_role("button", name="Ghi nhận quyết định").click()
    # The browser itself asks for the confirmation first (a required checkbox) ...
    expect(page.get_by_role("status")).to_have_count(0)
    page.get_by_label("Tôi đã so sánh các bản").check()
    page.get_by_role("button", name="Ghi nhận quyết định").click()
    expect(page.get_by_role("status")).to_have_text("Đã ghi nhận quyết định.")
    expect(page.get_by_role("button", name="Ghi nhận quyết định")).to_have_count(0)
