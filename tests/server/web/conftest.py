"""Fixtures of the web pages' tests: the API's app over a seeded repository, a client that
keeps cookies as a browser does, and Chromium (a browser test module defines its own `site`, a
live server with a `url`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import Engine

from server.config import ServerSettings
from tests.server.web.browser import DESKTOP, chromium
from tests.server.web.pages import HTTPS, Repository, fill


@pytest.fixture
def repository(app: FastAPI, db_engine: Engine, api_settings: ServerSettings) -> Repository:
    """The app's repository, seeded, with an account per role."""
    found = fill(db_engine, api_settings.data_dir)
    app.state.search.rebuild()
    return found


@pytest.fixture
def web(app: FastAPI, repository: Repository) -> Iterator[TestClient]:
    """A browser-like client of the pages (HTTPS, cookies kept, redirects not followed)."""
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module."""
    with chromium() as b:
        yield b


@pytest.fixture
def context(browser: Browser, site: Any) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookie) on the module's live server, at a desktop's size."""
    ctx = browser.new_context(base_url=site.url, viewport=DESKTOP, locale="vi-VN")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab of `context`."""
    return context.new_page()
