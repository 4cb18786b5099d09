"""A live server of the pages and Debian's Chromium driven by Playwright, for the pages' tests
in a real browser (no browser is downloaded: `CHROMIUM` is the Debian package's, which
`scripts/setup.sh` installs).

The server runs in a thread of the test process (uvicorn on a socket bound to a free loopback
port) over a SQLite repository seeded with synthetic results; the screenshots the tests take
go to `SCREENSHOTS` (build/, not committed; the README's are copies)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.server.signin import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    # This machine has no outside network: without these, Chromium keeps trying to reach
    # Google's hosts in the background.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parents[3] / "build" / "screenshots"
PHONE: ViewportSize = {"width": 360, "height": 780}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class LiveServer:
    """An app served over HTTP on loopback."""

    url: str
    """Its base URL, e.g. http://127.0.0.1:40123."""


@contextmanager
def serve(app: FastAPI) -> Iterator[LiveServer]:
    """Serve `app` on a free loopback port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the pages' test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as `SCREENSHOTS/<name>.png`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def sign_in(page: Page, name: str, then: str = "/") -> None:
    """Open `then`, sign in on the form it sends to as `name`, and wait to be signed in."""
    page.goto(then)
    expect(page).to_have_title("Đăng nhập · Sohoa")
    page.get_by_label("Tên đăng nhập").fill(name)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()


def assert_fits_a_phone(page: Page, path: str) -> None:
    """Open `path` and check that it scrolls no wider than a phone (`PHONE`)."""
    page.goto(path)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width} px wide on a phone"
