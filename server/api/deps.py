"""Dependencies of the route handlers, as `Annotated` aliases (`SessionDep`, `BlobsDep`, ...).

Everything comes from `app.state`, which `create_app` fills: nothing here is created at import
time, and a test's app gets its own engine and settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from server.blobs import BlobStore


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request, closed when the response is sent."""
    with Session(get_engine(request)) as session:
        yield session


def get_blobs(request: Request) -> BlobStore:
    """The blob store holding the signed PDFs."""
    blobs: BlobStore = request.app.state.blobs
    return blobs


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
