"""`GET /healthz`: whether the API and its database answer (for the demo and probes)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from server.api.deps import EngineDep
from server.api.responses import errors
from server.db import ping
from server.errors import RepositoryError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The answer of a healthy server."""

    status: str = "ok"


@router.get("/healthz", responses=errors(503, _503="The database does not answer."))
def healthz(engine: EngineDep) -> Health:
    """200 when the database answers, 503 otherwise."""
    try:
        ping(engine)
    except RepositoryError as e:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(e)) from e
    return Health()
