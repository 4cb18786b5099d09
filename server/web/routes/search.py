"""`/search`: one search box, accent-insensitive as the API's search, with filters (a unit and
the units under it, a procedure, a result type, an issue date range), the results as a table
with the query's words marked where they match, and a link to each result's page.

The search itself is the API's (`server.api.routes.search.search`), called with the visitor's
account: the same units are visible, the same inputs refused, and the same audit entry written.
A page with no query and no filter runs no search: it does not list citizens' results unasked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlmodel import Session, col, select

from server.api.deps import SessionDep
from server.api.routes import search as api_search
from server.models import Procedure, Role
from server.repository import results, units
from server.search.fold import fold, words
from server.web.errors import from_http, reasons
from server.web.render import page
from server.web.routes import blank
from server.web.visitors import Visitor, page_for

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
SEARCHERS = page_for(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER)
LABELS = {
    "q": "Từ khóa",
    "unit": "Đơn vị",
    "procedure": "Thủ tục",
    "doc_type": "Loại kết quả",
    "from": "Từ ngày",
    "to": "Đến ngày",
    "cursor": "Trang",
}


@dataclass(frozen=True)
class UnitOption:
    """A unit in the filter's list, indented under its parent."""

    code: str
    name: str
    depth: int


def unit_options(session: Session, visitor: Visitor) -> list[UnitOption]:
    """The units in force today that the visitor may filter on, as a tree in code order."""
    visible = (
        None
        if visitor.role is Role.PROVINCE_ADMIN or visitor.principal.unit is None
        else results.visible_units_of(session, visitor.principal.unit)
    )
    today = units.today()
    found: list[UnitOption] = []
    stack = [(node, 0) for node in reversed(units.tree_as_of(session, today))]
    while stack:
        node, depth = stack.pop()
        if visible is None or node.code in visible:
            found.append(UnitOption(node.code, units.display_name(node.version), depth))
        stack += [(child, depth + 1) for child in reversed(node.children)]
    return found


def procedure_options(session: Session) -> list[Procedure]:
    """The procedure catalogue, by code."""
    return list(session.exec(select(Procedure).order_by(col(Procedure.code))).all())


def doc_type_options(session: Session) -> list[str]:
    """The result types the procedure catalogue names, as printed, in alphabetical order."""
    types = {t for p in procedure_options(session) for t in p.result_types}
    return sorted(types, key=fold)


@router.get("/search")
def search_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(SEARCHERS)],
    q: Annotated[str | None, Query(max_length=2000)] = None,
    unit: Annotated[str | None, Query(max_length=256)] = None,
    procedure: Annotated[str | None, Query(max_length=256)] = None,
    doc_type: Annotated[str | None, Query(max_length=256)] = None,
    issued_from: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    issued_to: Annotated[str | None, Query(alias="to", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """The search form and, once something is asked, a page of results."""
    asked = {
        "q": blank(q),
        "unit": blank(unit),
        "procedure": blank(procedure),
        "doc_type": blank(doc_type),
        "from": blank(issued_from),
        "to": blank(issued_to),
    }
    context: dict[str, object] = {
        "asked": {k: v or "" for k, v in asked.items()},
        "units": unit_options(session, visitor),
        "procedures": procedure_options(session),
        "doc_types": doc_type_options(session),
        "found": None,
        "errors": [],
        "marks": set(words(fold(asked["q"] or ""))),
        "next_query": None,
    }
    if not any(asked.values()):
        return page(request, "search.html", context)
    try:
        found = api_search.search(
            request,
            session,
            visitor.principal,
            visitor.reader(request),
            q=asked["q"],
            cccd=None,
            name=None,
            so_ky_hieu=None,
            procedure=asked["procedure"],
            doc_type=asked["doc_type"],
            unit=asked["unit"],
            issued_from=asked["from"],
            issued_to=asked["to"],
            limit=PAGE_SIZE,
            cursor=blank(cursor),
        )
    except RequestValidationError as e:
        context["errors"] = [(LABELS.get(name, name), why) for name, why in reasons(e)]
        return page(request, "search.html", context, status_code=422)
    except HTTPException as e:
        raise from_http(e) from e
    context["found"] = found
    if found.next is not None:
        context["next_query"] = {**{k: v for k, v in asked.items() if v}, "cursor": found.next}
    return page(request, "search.html", context)
