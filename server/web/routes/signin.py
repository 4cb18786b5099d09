"""`/login`, `/logout` and `/`: signing in to the pages and out, and each role's first page.

Signing in checks the name and password as the API does (`accounts.sign_in`: the same
lock-out after repeated wrong passwords) and opens a session (`server.web.visitors`). The
sign-in form is protected from cross-site posting by a double-submit token: a random value in
a short-lived cookie and in the form, which must agree. After signing in, the visitor goes back
to the page that sent them here, if it is one of ours.
"""

from __future__ import annotations

import math
import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from server.api.deps import SessionDep
from server.errors import AccountLockedError, CredentialError
from server.models import Role, utc_now
from server.repository import accounts, web_sessions
from server.web.render import page
from server.web.visitors import COOKIE, CheckedForm, CurrentVisitor, same_origin

router = APIRouter(include_in_schema=False)

SIGNIN_COOKIE = "sohoa_signin"
SIGNIN_FORM_S = 3600
"""How long a sign-in form may stay open before it must be reloaded."""
_LOCAL_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]{0,2000}$")
_WHY = {
    "idle": "Phiên làm việc đã kết thúc vì không hoạt động quá lâu. Hãy đăng nhập lại.",
    "expired": "Phiên làm việc đã quá thời hạn. Hãy đăng nhập lại.",
    "account": "Tài khoản đã bị vô hiệu hóa hoặc đã đổi mật khẩu. Hãy đăng nhập lại.",
    "signed_out": "Bạn đã đăng xuất.",
}
_REFUSED = "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đã bị vô hiệu hóa."
HOME = {Role.PROVINCE_ADMIN: "/search", Role.UNIT_OFFICER: "/search", Role.AUDITOR: "/audit"}


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this site (never another host), else None."""
    if value and _LOCAL_PATH.match(value) and not value.startswith(("/login", "/logout")):
        return value
    return None


def _form(
    request: Request,
    *,
    next_path: str | None,
    message: str | None = None,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        {
            "nonce": nonce,
            "next_path": next_path or "",
            "message": message,
            "error": error,
            "username": username,
        },
        status_code=status_code,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=SIGNIN_FORM_S,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.app.state.web_secure_cookie,
    )
    return response


@router.get("/login")
def sign_in_form(request: Request, why: str | None = None, next: str | None = None) -> Response:
    """The sign-in form (with why the last session ended, if it did)."""
    return _form(request, next_path=safe_next(next), message=_WHY.get(why or ""))


@router.post("/login")
def sign_in(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Check the name and password; open a session and go on, or show the form again."""
    back = safe_next(next)
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    if not same_origin(request) or not nonce or not web_sessions.csrf_matches(nonce, csrf):
        return _form(
            request,
            next_path=back,
            error="Biểu mẫu đăng nhập đã hết hạn. Hãy nhập lại tên và mật khẩu.",
            username=username,
            status_code=403,
        )
    if not username or not password or any(ord(c) < 32 or ord(c) == 127 for c in username):
        return _form(
            request,
            next_path=back,
            error="Hãy nhập tên đăng nhập và mật khẩu.",
            username="",
            status_code=422,
        )
    now = utc_now()
    try:
        account = accounts.sign_in(
            session,
            username,
            password,
            now=now,
            policy=request.app.state.lockout,
            client=request.client.host if request.client else "?",
        )
    except AccountLockedError as e:
        minutes = max(1, math.ceil((e.until - now).total_seconds() / 60))
        return _form(
            request,
            next_path=back,
            error=f"Tài khoản tạm khóa vì nhập sai mật khẩu nhiều lần. Thử lại sau {minutes} "
            "phút, hoặc liên hệ quản trị viên.",
            username=username,
            status_code=429,
        )
    except CredentialError:
        return _form(request, next_path=back, error=_REFUSED, username=username, status_code=401)
    secret, _row = web_sessions.open_session(
        session, account, now=now, lifetime=request.app.state.web_lifetime
    )
    response = RedirectResponse(back or HOME[account.role], status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.web_secure_cookie,
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def sign_out(request: Request, session: SessionDep, _form: CheckedForm) -> Response:
    """End this session and go back to the sign-in form."""
    secret = request.cookies.get(COOKIE, "")
    await run_in_threadpool(web_sessions.close_session, session, secret)
    response = RedirectResponse("/login?why=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(visitor: CurrentVisitor) -> Response:
    """Each role's first page."""
    return RedirectResponse(HOME[visitor.role], status_code=303)
