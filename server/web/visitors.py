"""Who is looking at a page: the session cookie read and checked on every request
(`Visitor`), the roles a page admits (`page_for`), and the CSRF check of every form
(`checked_form`).

The cookie (`COOKIE`) is HttpOnly, SameSite=Lax and, unless `web_secure_cookie` is off,
Secure; it holds a random secret whose hash keys the session's row
(`server.repository.web_sessions`). Each form carries its session's CSRF token, compared in
constant time; a form posted from another site (its `Origin` names another host) is refused
even before that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from server.api.deps import Principal, SessionDep
from server.errors import SessionEndedError
from server.models import Role, utc_now
from server.repository import web_sessions
from server.repository.audit import Reader
from server.web.errors import NotSignedInError, PageError
from server.web.render import role_name

COOKIE = "sohoa_session"
MAX_SECRET = 128
"""A cookie longer than this is no secret of ours: refused without a database read."""


@dataclass(frozen=True)
class Visitor:
    """A person signed in to the pages, as their account is now."""

    principal: Principal
    csrf: str
    """The token this session's forms carry."""

    @property
    def username(self) -> str:
        """The account's name."""
        return self.principal.username

    @property
    def role(self) -> Role:
        """The account's role."""
        return self.principal.role

    def reader(self, request: Request, purpose: str | None = None) -> Reader:
        """This visitor as the audit log records a reader."""
        client = request.client.host if request.client else "?"
        return Reader(self.username, self.role.value, client, purpose)


def local_path(request: Request) -> str:
    """The path and query of `request`, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def get_visitor(request: Request, session: SessionDep) -> Visitor:
    """The visitor the session cookie names, checked now (and kept on `request.state` for the
    page's header).

    Raises:
        NotSignedInError: no cookie, or a session that ended.
    """
    secret = request.cookies.get(COOKIE)
    back = local_path(request) if request.method == "GET" else None
    if not secret or len(secret) > MAX_SECRET:
        raise NotSignedInError(back, None)
    lifetime: web_sessions.Lifetime = request.app.state.web_lifetime
    try:
        found = await run_in_threadpool(
            web_sessions.find_session, session, secret, now=utc_now(), lifetime=lifetime
        )
    except SessionEndedError as e:
        raise NotSignedInError(back, e.reason) from e
    account = found.account
    visitor = Visitor(Principal(account.username, account.role, account.unit), found.session.csrf)
    request.state.visitor = visitor
    return visitor


CurrentVisitor = Annotated[Visitor, Depends(get_visitor)]


def page_for(*roles: Role) -> Callable[[Visitor], Awaitable[Visitor]]:
    """A dependency that lets only visitors with one of `roles` see the page (others: 403)."""
    allowed = ", ".join(role_name(r) for r in roles)

    async def check_role(visitor: CurrentVisitor) -> Visitor:
        if visitor.role not in roles:
            raise PageError(
                403,
                "Không có quyền truy cập",
                f"Trang này dành cho: {allowed}. Tài khoản {visitor.username} "
                f"({role_name(visitor.role)}) không được xem. Nếu bạn cần, hãy liên hệ quản "
                "trị viên cấp tỉnh.",
            )
        return visitor

    return check_role


def same_origin(request: Request) -> bool:
    """False when the request says it comes from a page of another host (`Origin`)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers, and forms sent without one: the token decides
    return urlsplit(origin).netloc == request.headers.get("host", "")


STALE_FORM = PageError(
    403,
    "Biểu mẫu không hợp lệ",
    "Biểu mẫu này đã hết hạn hoặc không được gửi từ trang của hệ thống. Hãy tải lại trang "
    "rồi thử lại.",
    "CSRF check failed: the form's token is missing or not this session's, or it came from "
    "another site",
)


async def checked_form(request: Request, visitor: CurrentVisitor) -> FormData:
    """The posted form, once it is shown to come from this session's own page.

    Raises:
        PageError: 403 when the token is missing or wrong, or the form came from another site.
    """
    form = await request.form()
    token = form.get("csrf")
    if not same_origin(request) or not isinstance(token, str):
        raise STALE_FORM
    if not web_sessions.csrf_matches(visitor.csrf, token):
        raise STALE_FORM
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
