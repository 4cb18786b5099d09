"""The FastAPI application, built by one factory that `sohoa server run` and the tests share.

Nothing is created at import time: `create_app` takes the settings (and, optionally, an engine
the caller owns) and puts them on `app.state`, where the dependencies in `deps.py` find them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from server.api.account_cache import AccountCache
from server.api.responses import describe_closed
from server.api.routes import (
    audit,
    auth,
    devices,
    docs,
    enroll,
    export,
    health,
    records,
    reports,
    review,
    search,
    versions,
)
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import make_engine
from server.repository.accounts import LockoutPolicy
from server.search.index import SearchIndex
from server.search.query import CursorCodec
from server.tokens import TokenSigner, load_token_key
from server.web.mount import add_pages

API_PREFIX = "/api"


def create_app(settings: ServerSettings, engine: Engine | None = None) -> FastAPI:
    """Build the API.

    Args:
        settings: the server's settings (database, data_dir, token key and lifetime,
            sign-in lock-out).
        engine: an engine the caller owns and disposes; if None, the app makes one from
            `settings.database_url` and disposes it at shutdown. The schema must already be
            migrated (`server.db.migrate`): the API never changes it.

    Raises:
        ConfigError: the token key cannot be read or made, or is open to other users.
    """
    token_key = load_token_key(settings.token_key_path)
    tokens = TokenSigner(token_key, settings.token_ttl_s)
    owns_engine = engine is None
    app_engine = engine if engine is not None else make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            app_engine.dispose()

    # The description and its readers are served by `routes.docs`, behind a token.
    app = FastAPI(
        title="Sohoa repository",
        version="1",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = app_engine
    app.state.settings = settings
    app.state.blobs = BlobStore(settings.data_dir)
    app.state.tokens = tokens
    app.state.account_cache = AccountCache()
    app.state.lockout = LockoutPolicy(
        settings.login_max_failures,
        settings.login_window_s,
        settings.login_lockout_s,
        name_key=hmac.new(token_key, b"sohoa login-failure names", hashlib.sha256).digest(),
        hashing=settings.password_hashing,
    )
    app.state.search = SearchIndex(
        settings.data_dir / "search", app_engine, settings.search_refresh_s
    )
    app.state.cursors = CursorCodec(hmac.digest(token_key, b"sohoa search cursor", "sha256"))

    # Each resource's router declares the roles it admits (`deps.require_role`); only the
    # sign-in route, the enrollment (its one-time code is its credential) and /healthz answer
    # without a token (the API's description needs one too).
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth.router)
    api.include_router(enroll.router)
    api.include_router(records.router)
    api.include_router(devices.router)
    api.include_router(search.router)
    api.include_router(export.router)
    api.include_router(audit.router)
    api.include_router(versions.router)
    api.include_router(reports.router)
    api.include_router(review.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(docs.router)
    describe_closed(app)
    add_pages(app, settings, api_prefix=API_PREFIX)
    return app
