"""`/audit`: the access log of citizens' data, for auditors and province admins — who read
what, when, from where and why, newest first, with filters (account, action, result).

The log is read through the API's handler (`server.api.routes.audit.read_audit_log`), so the
read is itself written to the log, as any read of it is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from server.api.deps import SessionDep
from server.api.routes import audit as api_audit
from server.models import Role
from server.web.errors import from_http, reasons
from server.web.render import ACTIONS, page
from server.web.routes import blank
from server.web.visitors import Visitor, page_for

router = APIRouter(include_in_schema=False)
AUDITORS = page_for(Role.AUDITOR, Role.PROVINCE_ADMIN)
PAGE_SIZE = 50
LABELS = {"actor": "Tài khoản", "action": "Thao tác", "record_id": "Kết quả", "cursor": "Trang"}


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(AUDITORS)],
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """A page of the access log, newest first."""
    asked = {"actor": blank(actor), "action": blank(action), "record_id": blank(record_id)}
    context: dict[str, object] = {
        "asked": {k: v or "" for k, v in asked.items()},
        "actions": ACTIONS,
        "entries": None,
        "errors": [],
        "next_query": None,
    }
    try:
        found = api_audit.read_audit_log(
            request,
            session,
            visitor.principal,
            visitor.reader(request),
            actor=asked["actor"],
            action=asked["action"],
            record_id=asked["record_id"],
            since=None,
            until=None,
            limit=PAGE_SIZE,
            cursor=blank(cursor),
        )
    except RequestValidationError as e:
        context["errors"] = [(LABELS.get(name, name), why) for name, why in reasons(e)]
        return page(request, "audit.html", context, status_code=422)
    except HTTPException as e:
        raise from_http(e) from e
    context["entries"] = found.items
    if found.next is not None:
        context["next_query"] = {**{k: v for k, v in asked.items() if v}, "cursor": found.next}
    return page(request, "audit.html", context)
