"""`/review`: the review queue for province admins and unit officers — versions that conflict
with the current version of their document, and documents under Nghị định 30's duplicate
warning — each case compared side by side (differences marked), and decided with a reason and
a confirmation; every read and decision is audited by the API's handlers this calls
(`server.api.routes.review`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from server.api.deps import SessionDep
from server.api.routes import review as api_review
from server.models import RecordPublic, ReviewKind, ReviewVerdict, Role
from server.repository.reviews import VERDICTS
from server.web.errors import from_http, reasons
from server.web.render import page
from server.web.routes.results import FIELDS, shown
from server.web.visitors import CheckedForm, Visitor, page_for

router = APIRouter(include_in_schema=False)
REVIEWERS = page_for(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER)
QUEUE_PAGE = 30
"""The cases the queue page lists, newest first of each kind (decided ones leave it)."""
CaseKey = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-zA-Z-]+$")]
KINDS = {ReviewKind.CONFLICT: "Phiên bản mâu thuẫn", ReviewKind.DUPLICATE: "Trùng số, ký hiệu"}
VERDICT_NAMES = {
    ReviewVerdict.REPLACE: "Thay thế: bản mới trở thành bản hiện hành",
    ReviewVerdict.REJECT: "Giữ bản hiện hành: bản mới bị loại (vẫn được lưu)",
    ReviewVerdict.DISTINCT: "Là các văn bản khác nhau: bỏ cảnh báo trùng",
    ReviewVerdict.DUPLICATE: "Đúng là trùng: giữ cảnh báo",
}


def _rows(records: list[RecordPublic]) -> list[dict[str, Any]]:
    """The comparison's rows: each field's value in each record, and whether they differ."""
    out = []
    for key, label in FIELDS:
        values = [shown(key, getattr(r, key)) for r in records]
        out.append({"label": label, "values": values, "differs": len(set(values)) > 1})
    return out


@router.get("/review")
def review_queue(
    request: Request, session: SessionDep, visitor: Annotated[Visitor, Depends(REVIEWERS)]
) -> Response:
    """The open cases, newest first."""
    try:
        cases = api_review.review_queue(
            session, visitor.principal, visitor.reader(request), limit=QUEUE_PAGE
        )
    except HTTPException as e:
        raise from_http(e) from e
    return page(request, "review.html", {"cases": cases, "kinds": KINDS, "page_size": QUEUE_PAGE})


def _case_page(
    request: Request,
    session: SessionDep,
    visitor: Visitor,
    kind: ReviewKind,
    key: str,
    *,
    errors: list[str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        case = api_review.review_case(
            session, visitor.principal, visitor.reader(request), kind, key
        )
    except HTTPException as e:
        raise from_http(e) from e
    waiting = (
        case.records[0].merge_state.value == "needs_review"
        if kind is ReviewKind.CONFLICT
        else not case.decisions or case.decisions[0].decided_at < case.newest
    )
    return page(
        request,
        "review_case.html",
        {
            "case": case,
            "kind_name": KINDS[kind],
            "rows": _rows(case.records),
            "verdicts": {v: VERDICT_NAMES[v] for v in VERDICTS[kind]},
            "verdict_names": VERDICT_NAMES,
            "waiting": waiting,
            "errors": errors or [],
            "typed": typed or {},
            "decided": request.query_params.get("decided") is not None,
        },
        status_code=status_code,
    )


@router.get("/review/{kind}/{key}")
def review_case(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(REVIEWERS)],
    kind: ReviewKind,
    key: CaseKey,
) -> Response:
    """A case compared side by side, with the decision form while it waits."""
    return _case_page(request, session, visitor, kind, key)


@router.post("/review/{kind}/{key}")
def decide(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(REVIEWERS)],
    form: CheckedForm,
    kind: ReviewKind,
    key: CaseKey,
) -> Response:
    """Take the decision, once confirmed; then show the case again."""
    verdict, reason = str(form.get("verdict") or ""), str(form.get("reason") or "")
    typed = {"verdict": verdict, "reason": reason[:500]}
    problems = []
    if form.get("confirm") != "yes":
        problems.append(
            "Hãy đánh dấu ô xác nhận: quyết định được ghi vào nhật ký và không hoàn tác."
        )
    try:
        body = api_review.DecisionRequest(verdict=verdict, reason=reason)  # type: ignore[arg-type]
    except ValidationError:
        problems.append("Chọn một quyết định và ghi lý do (5 đến 500 ký tự).")
    if problems:
        return _case_page(
            request, session, visitor, kind, key, errors=problems, typed=typed, status_code=422
        )
    try:
        api_review.decide(session, visitor.principal, visitor.reader(request), kind, key, body)
    except RequestValidationError as e:
        why = [reason for _name, reason in reasons(e)]
        return _case_page(
            request, session, visitor, kind, key, errors=why, typed=typed, status_code=422
        )
    except HTTPException as e:
        raise from_http(e) from e
    return RedirectResponse(f"/review/{kind.value}/{key}?decided=1", status_code=303)
