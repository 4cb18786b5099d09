"""The API's description (`/openapi.json`) and its two readers (`/docs`, Swagger UI; `/redoc`),
served to signed-in accounts only, whatever their role: every route but the sign-in and
/healthz needs an account, these too.

A browser sends no bearer token when it opens a page, so these serve scripts and clients that
send `Authorization: Bearer <token>` (and the web pages of a later issue, signed in).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from server.api.deps import get_current_user

OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False, dependencies=[Depends(get_current_user)])


@router.get(OPENAPI_URL)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI description of the API."""
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The API's description read in Swagger UI."""
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - docs")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The API's description read in ReDoc."""
    return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - ReDoc")
