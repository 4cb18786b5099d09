"""`add_pages`: the web pages on the API's app — their routers, their stylesheet, and the
pages shown for a refusal or a visitor who must sign in first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from server.config import ServerSettings
from server.reports.plan import load_plan
from server.repository.web_sessions import Lifetime
from server.web.errors import NotSignedInError, PageError, reasons
from server.web.render import page
from server.web.routes import audit, fleet, reports, results, review, search, signin
from server.web.visitors import COOKIE

STATIC = Path(__file__).parent / "static"


def add_pages(app: FastAPI, settings: ServerSettings, *, api_prefix: str) -> None:
    """Serve the pages from `app`, beside its API under `api_prefix` (whose refusals stay
    JSON)."""
    app.state.web_lifetime = Lifetime(
        idle=dt.timedelta(seconds=settings.web_idle_s),
        max_age=dt.timedelta(seconds=settings.web_max_s),
    )
    app.state.web_secure_cookie = settings.web_secure_cookie
    app.state.report_plan = load_plan()
    for module in (signin, search, results, audit, fleet):
        app.include_router(module.router)
    app.include_router(reports.router)
    app.include_router(review.router)
    # The stylesheet is the one thing served without an account: the sign-in page needs it,
    # and it holds nothing but layout.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(PageError, _refused)  # type: ignore[arg-type]

    async def invalid(request: Request, error: RequestValidationError) -> Response:
        if request.url.path.startswith(api_prefix):
            return await request_validation_exception_handler(request, error)
        return _invalid(request, error)

    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
    app.add_exception_handler(NotSignedInError, _to_sign_in)  # type: ignore[arg-type]


def _refused(request: Request, error: PageError) -> Response:
    return page(request, "error.html", {"error": error}, status_code=error.status)


def _invalid(request: Request, error: RequestValidationError) -> Response:
    """A page's malformed input (a path or query the page cannot take), shown as a page."""
    listed = "; ".join(f"{name}: {why}" for name, why in reasons(error))
    refusal = PageError(
        422,
        "Dữ liệu nhập không hợp lệ",
        "Địa chỉ hoặc biểu mẫu có giá trị không hợp lệ. Hãy quay lại trang trước và nhập lại.",
        listed,
    )
    return page(request, "error.html", {"error": refusal}, status_code=422)


def _to_sign_in(request: Request, error: NotSignedInError) -> Response:
    query = {}
    if error.next_path:
        query["next"] = error.next_path
    if error.reason and error.reason != "unknown":
        query["why"] = error.reason
    target = "/login" + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(target, status_code=303)
    if error.reason is not None:
        response.delete_cookie(COOKIE, path="/")
    return response
