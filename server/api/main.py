"""The FastAPI application, built by one factory that `sohoa server run` and the tests share.

Nothing is created at import time: `create_app` takes the settings (and, optionally, an engine
the caller owns) and puts them on `app.state`, where the dependencies in `deps.py` find them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from server.api.routes import devices, health, records
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import make_engine

API_PREFIX = "/api"


def create_app(settings: ServerSettings, engine: Engine | None = None) -> FastAPI:
    """Build the API.

    Args:
        settings: the server's settings (database, data_dir).
        engine: an engine the caller owns and disposes; if None, the app makes one from
            `settings.database_url` and disposes it at shutdown. The schema must already be
            migrated (`server.db.migrate`): the API never changes it.
    """
    owns_engine = engine is None
    app_engine = engine if engine is not None else make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            app_engine.dispose()

    app = FastAPI(title="Sohoa repository", version="1", lifespan=lifespan)
    app.state.engine = app_engine
    app.state.blobs = BlobStore(settings.data_dir)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(records.router)
    api.include_router(devices.router)
    app.include_router(api)
    app.include_router(health.router)
    return app
