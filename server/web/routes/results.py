"""`/results/{id}`: one result's page — its signed PDF inline (the bytes as signed), the
signature's verdict in words, its fields, its versions and corrections, Nghị định 30's
duplicate warning where it applies, reuse for a new dossier, downloads (the PDF, the Nghị định
30 metadata XML) and, for a province admin, who read it.

Each load goes through the API's own handlers (`server.api.routes`), so each is audited and
refused as the API refuses it: another unit's result is 403 for an officer, exactly as one
that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from server.api.deps import BlobsDep, SessionDep
from server.api.routes import audit as api_audit
from server.api.routes import records as api_records
from server.api.routes import search as api_search
from server.api.routes import versions as api_versions
from server.api.routes.search import ReuseRequest
from server.export_nd30 import metadata_xml
from server.models import LtvStatus, Role
from server.repository import results
from server.web.errors import from_http, reasons
from server.web.render import date_vn, page
from server.web.visitors import CheckedForm, Visitor, page_for

router = APIRouter(include_in_schema=False)
READERS = page_for(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER)
HISTORY_ROWS = 20
RecordId = Annotated[str, Path(max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
DATES = frozenset({"ngay_ban_hanh", "ngay_sinh"})
FIELDS = (
    ("so_ky_hieu", "Số, ký hiệu"),
    ("ngay_ban_hanh", "Ngày ban hành"),
    ("co_quan_ban_hanh", "Cơ quan ban hành"),
    ("loai_van_ban", "Loại văn bản"),
    ("trich_yeu", "Trích yếu"),
    ("ho_ten", "Họ và tên"),
    ("cccd", "Số định danh cá nhân"),
    ("ngay_sinh", "Ngày sinh"),
    ("nguoi_ky", "Người ký"),
)
LONG_TERM = {
    LtvStatus.B_LT: "có bản lưu trữ dài hạn (PAdES B-LT)",
    LtvStatus.B_LTA: "có bản lưu trữ dài hạn có dấu thời gian (PAdES B-LTA)",
}


def _context(
    request: Request, session: SessionDep, visitor: Visitor, record_id: str
) -> dict[str, Any]:
    """What the result's page shows, each part loaded (and audited) through the API."""
    principal, reader = visitor.principal, visitor.reader(request)
    try:
        record = api_records.read_record(session, principal, reader, record_id)
        versions = api_versions.result_versions(session, principal, reader, record_id)
        history = (
            api_audit.read_audit_log(
                request,
                session,
                principal,
                reader,
                actor=None,
                action=None,
                record_id=record.id,
                since=None,
                until=None,
                limit=HISTORY_ROWS,
                cursor=None,
            )
            if visitor.role is Role.PROVINCE_ADMIN
            else None
        )
    except HTTPException as e:
        raise from_http(e) from e
    return {
        "record": record,
        "fields": [(label, shown(key, getattr(record, key))) for key, label in FIELDS],
        "versions": versions.data,
        "reuses": results.reuse_counts(session, [record.id]).get(record.id, 0),
        "long_term": LONG_TERM.get(record.ltv_status),
        "history": history,
        "reused": None,
        "errors": [],
        "dossier_code": "",
    }


def shown(key: str, value: str | None) -> str:
    """A field's value as the page shows it (dates as dd/mm/yyyy)."""
    if key in DATES:
        return date_vn(value)
    return value or "—"


@router.get("/results/{record_id}")
def result_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(READERS)],
    record_id: RecordId,
) -> Response:
    """The result's page."""
    context = _context(request, session, visitor, record_id)
    reused = request.query_params.get("reused")
    if reused is not None and len(reused) <= 64:
        context["reused"] = reused
    return page(request, "result.html", context)


@router.post("/results/{record_id}/reuse")
def reuse(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(READERS)],
    form: CheckedForm,
    record_id: RecordId,
) -> Response:
    """Record the reuse of this result for a dossier, then show the page again."""
    code = form.get("dossier_code")
    code = code.strip() if isinstance(code, str) else ""
    purpose = f"reuse for dossier {code[:64]}"
    try:
        done = api_search.reuse_result(
            session,
            visitor.principal,
            visitor.reader(request, purpose),
            record_id,
            ReuseRequest(dossier_code=code[:64]),
        )
    except RequestValidationError as e:
        context = _context(request, session, visitor, record_id)
        context["errors"] = [why for _name, why in reasons(e)]
        context["dossier_code"] = code[:64]
        return page(request, "result.html", context, status_code=422)
    except HTTPException as e:
        raise from_http(e) from e
    return RedirectResponse(
        f"/results/{done.record_id}?reused={done.dossier_code}", status_code=303
    )


@router.get("/results/{record_id}/pdf")
def result_pdf(
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(READERS)],
    request: Request,
    blobs: BlobsDep,
    record_id: RecordId,
    download: bool = False,
) -> Response:
    """The signed PDF exactly as the appliance sent it: shown in the page, or downloaded."""
    try:
        response = api_records.read_record_pdf(
            session,
            visitor.principal,
            visitor.reader(request),
            blobs,
            record_id,
            api_records.PdfVariant.ORIGINAL,
        )
    except HTTPException as e:
        raise from_http(e) from e
    if not download:
        name = response.headers["content-disposition"].split(";", 1)[1]
        response.headers["content-disposition"] = f"inline;{name}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/results/{record_id}/nd30.xml")
def result_metadata(
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(READERS)],
    request: Request,
    record_id: RecordId,
) -> Response:
    """The result's metadata per Nghị định 30/2020 (Phụ lục VI), as XML, to download."""
    try:
        record = api_records._record_or_404(
            session, visitor.principal, visitor.reader(request), record_id, "record.export"
        )
    except HTTPException as e:
        raise from_http(e) from e
    return Response(
        metadata_xml(record),
        media_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{record.result_id}-nd30.xml"',
            "Cache-Control": "no-store",
        },
    )
