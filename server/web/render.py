"""The pages' templates (Jinja2, escaped by default) and how values are shown on them: dates as
dd/mm/yyyy in Asia/Ho_Chi_Minh, roles and states in Vietnamese, a search's words marked where
they match (accents ignored, as the search ignores them)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from server.models import MergeState, Role
from server.search.fold import fold

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TEMPLATES = Path(__file__).parent / "templates"

ROLE_NAMES = {
    Role.PROVINCE_ADMIN: "Quản trị cấp tỉnh",
    Role.UNIT_OFFICER: "Cán bộ đơn vị",
    Role.AUDITOR: "Kiểm tra viên",
}
MERGE_STATES = {
    "current": "Bản hiện hành",
    "superseded": "Đã được thay thế",
    "needs_review": "Chờ xem xét",
}
ACTIONS = {
    "search": "Tra cứu",
    "record.read": "Xem kết quả",
    "record.pdf": "Xem/tải tệp PDF",
    "record.export": "Tải siêu dữ liệu / xuất",
    "record.versions": "Xem các phiên bản",
    "record.correct": "Đính chính",
    "reuse": "Tái sử dụng",
    "citizen.results": "Tra cứu theo công dân",
    "audit.read": "Xem nhật ký",
}
"""The audit log's actions as people call them (a refusal: the action, "bị từ chối")."""
_WORD = re.compile(r"\w+")


def date_vn(value: str | dt.date | dt.datetime | None) -> str:
    """A day as dd/mm/yyyy (a time: its day in Việt Nam); "—" for none, as given if unreadable."""
    if value is None or value == "":
        return "—"
    if isinstance(value, dt.datetime):
        return _local(value).strftime("%d/%m/%Y")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    try:
        return dt.date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return value


def datetime_vn(value: dt.datetime | None) -> str:
    """A time as dd/mm/yyyy HH:MM in Việt Nam; "—" for none."""
    if value is None:
        return "—"
    return _local(value).strftime("%d/%m/%Y %H:%M")


def _local(value: dt.datetime) -> dt.datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(VIETNAM)


def marked(value: str | None, words: Collection[str]) -> Markup:
    """`value`, escaped, with each word whose folded form is one of `words` in <mark>."""
    if not value:
        return Markup("—")
    if not words:
        return escape(value)
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(value):
        if fold(match.group()) in words:
            out.append(str(escape(value[last : match.start()])))
            out.append(f"<mark>{escape(match.group())}</mark>")
            last = match.end()
    out.append(str(escape(value[last:])))
    return Markup("".join(out))  # noqa: S704 (every piece is escaped above)


def merge_state_name(state: MergeState | str) -> str:
    """A version's state as people call it."""
    value = state.value if isinstance(state, MergeState) else state
    return MERGE_STATES.get(value, value)


def action_name(action: str) -> str:
    """An audit entry's action as people call it."""
    if action.endswith(".refused"):
        return f"{ACTIONS.get(action.removesuffix('.refused'), action)} (bị từ chối)"
    return ACTIONS.get(action, action)


def query_text(query: str | None) -> str:
    """A request's query string as it was typed (percent-decoded), "—" for none."""
    return unquote_plus(query) if query else "—"


def role_name(role: Role | str) -> str:
    """A role as people call it."""
    return ROLE_NAMES.get(Role(role), str(role))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the test, not the page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date_vn=date_vn,
        datetime_vn=datetime_vn,
        marked=marked,
        role_name=role_name,
        merge_state=merge_state_name,
        action_name=action_name,
        query_text=query_text,
    )
    return env


templates = Jinja2Templates(env=_environment())

PAGE_HEADERS = {
    "Cache-Control": "no-store",  # pages hold citizens' data
    # Nothing but our own files: no script, style or frame from elsewhere, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """The page `template`, with the visitor (if signed in) and the context, never cached."""
    values: dict[str, Any] = {"visitor": getattr(request.state, "visitor", None), "active": None}
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response
