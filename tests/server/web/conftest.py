"""Fixtures of the web pages' tests: the API's app over a seeded repository, and a client that
keeps cookies as a browser does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.config import ServerSettings
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
