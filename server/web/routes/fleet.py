"""`/fleet` and `/fleet/{device_id}`: the appliances, for province admins and auditors (devices
hold no personal data: an auditor may watch them; only a province admin commands, as in the
API).

`/fleet` shows the fleet at a glance (the API's summary) and every appliance as a table —
online or not, last heard from, queue, oldest waiting result, disk, token, certificate's days
left, version, last error, status — filtered (not heard from for over a day, a queue over N,
a certificate expiring within 30 days, errors, a unit and the units under it) and paged in SQL,
so that ten thousand appliances cost one page of rows.

`/fleet/{device_id}` shows one appliance: its registration and last heartbeat, its last 30
days as two charts drawn on the server (its deepest queue each day, from its heartbeats kept
by the hour; the results stored of it each day) with their figures as tables, and its commands
with their replies. A province admin can ping it, send it settings (a JSON object, checked
here), or revoke it: a reason is required, and a page says what revoking does and asks to
confirm before anything happens. Every form carries the session's CSRF token.

The device, its commands and a new command go through the API's own handlers
(`server.api.routes.devices`), so a page refuses what the API refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel import Session

from protocol.commands import CommandName
from protocol.jsonvalue import check_object
from protocol.status import MAX_QUEUE_DEPTH
from provisioning.ca import RevocationReason
from server.api.deps import SessionDep
from server.api.params import NO_CONTROL
from server.api.routes import devices as api_devices
from server.api.routes.devices import DeviceId
from server.models import DeviceCommandCreate, DeviceStatus, Role, utc_now
from server.repository import devices, results
from server.web import fleet_view
from server.web.charts import Bar, bar_chart
from server.web.errors import PageError, from_http, reasons
from server.web.render import date_vn, datetime_vn, page
from server.web.routes import blank
from server.web.routes.search import unit_options
from server.web.visitors import CheckedForm, Visitor, page_for

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
WATCHERS = page_for(Role.PROVINCE_ADMIN, Role.AUDITOR)
COMMANDERS = page_for(Role.PROVINCE_ADMIN)
PAGE_SIZE = 100
MAX_PAGE_NUMBER = 100_000
HISTORY_DAYS = 30
COMMANDS_SHOWN = 20
MAX_SETTINGS = 8192
"""The longest settings text a config form may send (characters)."""
MAX_REASON = 500
"""The longest reason a revocation may give (characters)."""
OFFLINE_FOR = dt.timedelta(days=1)
"""The fleet's "offline" filter: not heard from for longer than this."""
SENT = {
    "ping": "Đã xếp lệnh kiểm tra kết nối (ping) vào hàng đợi. Máy chủ gửi lệnh trong vài giây; "
    "thiết bị đang ngoại tuyến sẽ nhận khi kết nối lại. Câu trả lời hiện ở bảng Lệnh đã gửi.",
    "config": "Đã xếp lệnh cấu hình vào hàng đợi. Câu trả lời của thiết bị (cấu hình đang dùng, "
    "hoặc lý do từ chối) hiện ở bảng Lệnh đã gửi.",
    "revoke": "Đã thu hồi thiết bị: máy chủ từ chối mọi kết quả mới của thiết bị này, và lệnh "
    "thu hồi đã được xếp vào hàng đợi gửi đến thiết bị.",
}
"""What the device page says after each action (`?sent=`)."""


def _backlog(text: str | None) -> int | None:
    """The backlog filter's number; None when blank.

    Raises:
        ValueError: not a whole number in 0..`MAX_QUEUE_DEPTH` (the reason, in Vietnamese).
    """
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_QUEUE_DEPTH:
        raise ValueError("phải là một số nguyên không âm, ví dụ 50")
    return int(text)


@router.get("/fleet")
def fleet_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(WATCHERS)],
    offline: bool = False,
    backlog: Annotated[str | None, Query(max_length=12)] = None,
    expiring: bool = False,
    with_errors: Annotated[bool, Query(alias="errors")] = False,
    unit: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE_NUMBER)] = 1,
) -> Response:
    """The fleet at a glance, and a page of its appliances as the filters ask."""
    asked: dict[str, Any] = {
        "offline": offline,
        "backlog": blank(backlog),
        "expiring": expiring,
        "errors": with_errors,
        "unit": blank(unit),
    }
    summary = api_devices.summary(session, silent_after_s=api_devices.DEFAULT_SILENT_AFTER_S)
    context: dict[str, Any] = {
        "asked": {k: v or "" for k, v in asked.items()},
        "units": unit_options(session, visitor),
        "summary": summary,
        "oldest_pending": fleet_view.age_words(summary.oldest_pending_age_s),
        "rows": None,
        "errors": [],
    }
    try:
        backlog_over = _backlog(asked["backlog"])
    except ValueError as e:
        context["errors"] = [("Hàng đợi trên", str(e))]
        return page(request, "fleet.html", context, status_code=422)
    where = devices.FleetFilter(
        silent_for=OFFLINE_FOR if offline else None,
        backlog_over=backlog_over,
        cert_expires_within=fleet_view.EXPIRING_WITHIN if expiring else None,
        with_errors=with_errors,
        units=results.visible_units_of(session, asked["unit"]) if asked["unit"] else None,
    )
    now = utc_now()
    rows, count = devices.fleet_page(
        session, where, now=now, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE
    )
    context.update(_paging(asked, page_number, count))
    context["rows"] = [fleet_view.device_row(d, now=now) for d in rows]
    return page(request, "fleet.html", context)


def _paging(asked: dict[str, Any], number: int, count: int) -> dict[str, Any]:
    """Where this page stands among the filter's pages, and the links to its neighbours."""
    pages = max(1, math.ceil(count / PAGE_SIZE))
    kept = {k: ("1" if v is True else v) for k, v in asked.items() if v}
    first = (number - 1) * PAGE_SIZE
    return {
        "count": fleet_view.number_vn(count),
        "page_number": number,
        "pages": pages,
        "shown_from": first + 1 if count else 0,
        "shown_to": min(first + PAGE_SIZE, count),
        "previous_query": {**kept, "page": number - 1} if number > 1 else None,
        "next_query": {**kept, "page": number + 1} if number < pages else None,
    }


def _device_context(session: Session, device_id: str) -> dict[str, Any]:
    """What the device's page shows, the device and its commands read through the API."""
    try:
        device = api_devices.read_device(session, device_id)
        commands = api_devices.list_commands(session, device_id, limit=COMMANDS_SHOWN)
    except HTTPException as e:
        raise from_http(e) from e
    now = utc_now()
    start = fleet_view.history_start(now, HISTORY_DAYS)
    days = fleet_view.history(
        start,
        HISTORY_DAYS,
        devices.heartbeat_hours(session, device.device_id, start),
        devices.results_per_day(session, device.device_id, start),
    )
    period = f"{date_vn(days[0].day)} đến {date_vn(days[-1].day)}"
    return {
        "device": device,
        "row": fleet_view.device_row(device, now=now),
        "heard": fleet_view.heard_words(device.status_received_at, now=now),
        "versions": sorted((device.versions or {}).items()),
        "cert_date": date_vn(device.cert_not_after),
        "last_result": fleet_view.heard_words(device.last_result_at, now=now),
        "days": days,
        "queue_chart": bar_chart(
            [Bar(d.label, d.queue_depth) for d in days],
            chart_id="queue-chart",
            title=f"Hàng đợi lớn nhất mỗi ngày, {period}",
            description=_queue_description(days),
        ),
        "stored_chart": bar_chart(
            [Bar(d.label, d.stored) for d in days],
            chart_id="stored-chart",
            title=f"Kết quả máy chủ đã lưu mỗi ngày, {period}",
            description=f"Tổng cộng {fleet_view.number_vn(sum(d.stored for d in days))} kết quả "
            f"trong {HISTORY_DAYS} ngày; nhiều nhất "
            f"{fleet_view.number_vn(max(d.stored for d in days))} kết quả một ngày.",
        ),
        "commands": [fleet_view.command_row(c) for c in commands],
        "sent": None,
        "config_text": "{}",
        "config_error": None,
        "reason": "",
        "revoke_error": None,
    }


def _queue_description(days: list[fleet_view.Day]) -> str:
    """The queue chart in a sentence, for a screen reader."""
    known = [d.queue_depth for d in days if d.queue_depth is not None]
    if not known:
        return f"Thiết bị không gửi nhịp tim nào trong {HISTORY_DAYS} ngày qua."
    return (
        f"Có nhịp tim trong {len(known)} trên {HISTORY_DAYS} ngày; hàng đợi lớn nhất "
        f"{fleet_view.number_vn(max(known))} kết quả, hôm nay "
        f"{fleet_view.number_vn(days[-1].queue_depth)}."
    )


@router.get("/fleet/enrollments/new")
def new_device_page(
    request: Request, session: SessionDep, visitor: Annotated[Visitor, Depends(COMMANDERS)]
) -> Response:
    """The form that registers an appliance for a unit and issues its enrollment code."""
    context = {"units": unit_options(session, visitor), "asked": {"device_id": "", "unit": ""}}
    return page(request, "device_new.html", context)


@router.post("/fleet/enrollments")
def add_device(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(COMMANDERS)],
    form: CheckedForm,
) -> Response:
    """Register the appliance and show its one-time code, once, as text and QR code."""
    asked = {name: str(form.get(name) or "").strip() for name in ("device_id", "unit")}
    context: dict[str, Any] = {"units": unit_options(session, visitor), "asked": asked}
    try:
        body = api_devices.EnrollmentCreate.model_validate(asked)
        issued = api_devices.add_device(session, request, visitor.principal, body)
    except ValidationError as e:
        context["errors"] = [(_FIELD_NAMES.get(n, n), why) for n, why in _pydantic_reasons(e)]
        return page(request, "device_new.html", context, status_code=422)
    except RequestValidationError as e:
        context["errors"] = [("Thiết bị", why) for _n, why in reasons(e)]
        return page(request, "device_new.html", context, status_code=422)
    except HTTPException as e:
        if e.status_code == 409:
            context["errors"] = [("Mã thiết bị", str(e.detail))]
            return page(request, "device_new.html", context, status_code=409)
        raise from_http(e) from e
    log.info(
        "%s issued an enrollment code for device %s (fleet pages)",
        visitor.username,
        issued.device_id,
    )
    context.update(
        issued=issued,
        expires=datetime_vn(issued.expires_at),
        qr_svg=Markup(issued.qr_svg),  # noqa: S704 (made here from our own URI, not from input)
    )
    return page(request, "device_new.html", context, status_code=201)


_FIELD_NAMES = {"device_id": "Mã thiết bị", "unit": "Đơn vị"}


def _pydantic_reasons(error: ValidationError) -> list[tuple[str, str]]:
    found = []
    for item in error.errors():
        name = str(item["loc"][-1]) if item.get("loc") else "?"
        found.append((name, "chưa hợp lệ: " + str(item.get("msg", ""))))
    return found


@router.get("/fleet/{device_id}")
def device_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(WATCHERS)],
    device_id: DeviceId,
    sent: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """One appliance: registration, last heartbeat, 30 days of history, commands; its actions
    for a province admin."""
    context = _device_context(session, device_id)
    context["sent"] = SENT.get(sent or "")
    return page(request, "device.html", context)


def _issue(
    request: Request,
    session: Session,
    visitor: Visitor,
    device_id: str,
    name: CommandName,
    args: dict[str, Any],
) -> None:
    """Queue a command through the API's handler (`revoke` revokes the device everywhere:
    `server.revocation`).

    Raises:
        PageError: no such device.
        RequestValidationError: the arguments do not fit the command (the API's refusal).
    """
    try:
        api_devices.issue_command(
            session,
            request,
            visitor.principal,
            device_id,
            DeviceCommandCreate(name=name, args=args),
        )
    except HTTPException as e:
        raise from_http(e) from e
    log.info("%s queued %s for device %s (fleet pages)", visitor.username, name.value, device_id)


def _done(device_id: str, name: CommandName) -> RedirectResponse:
    return RedirectResponse(f"/fleet/{device_id}?sent={name.value}", status_code=303)


@router.post("/fleet/{device_id}/ping")
def ping(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(COMMANDERS)],
    form: CheckedForm,
    device_id: DeviceId,
) -> Response:
    """Ask the appliance to answer (its versions, link, queue)."""
    _issue(request, session, visitor, device_id, CommandName.PING, {})
    return _done(device_id, CommandName.PING)


def settings_of(text: str) -> dict[str, Any]:
    """The settings a config form sent: a JSON object ("{}" when blank).

    Raises:
        ValueError: too long, not JSON, or not an object (why, in Vietnamese).
    """
    if len(text) > MAX_SETTINGS:
        raise ValueError(f"Cấu hình dài quá {fleet_view.number_vn(MAX_SETTINGS)} ký tự.")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"Không đọc được JSON ở dòng {e.lineno}, cột {e.colno}: kiểm tra dấu ngoặc, dấu "
            'phẩy và dấu nháy kép, ví dụ {"heartbeat_s": 60}.'
        ) from e
    except RecursionError as e:  # thousands of brackets one inside another
        raise ValueError("Cấu hình lồng nhau quá sâu.") from e
    if not isinstance(value, dict):
        raise ValueError(
            'Cấu hình phải là một đối tượng JSON dạng {"tên_khóa": giá_trị}, ví dụ '
            '{"heartbeat_s": 60}.'
        )
    try:
        # What a command may carry (finite numbers, bounded nesting), checked here: the
        # command's own check raises TypeError, which the API's handler does not turn into a
        # refusal.
        return check_object(value, "settings")
    except TypeError as e:
        raise ValueError(f"Cấu hình có giá trị không gửi được cho thiết bị ({e}).") from e


@router.post("/fleet/{device_id}/config")
def send_config(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(COMMANDERS)],
    form: CheckedForm,
    device_id: DeviceId,
) -> Response:
    """Send the appliance settings (or "{}": ask for the settings it runs with)."""
    text = form.get("settings")
    text = text if isinstance(text, str) else ""
    try:
        settings = settings_of(text)
        _issue(request, session, visitor, device_id, CommandName.CONFIG, {"settings": settings})
    except (ValueError, RequestValidationError) as e:
        why = str(e) if isinstance(e, ValueError) else "; ".join(w for _, w in reasons(e))
        context = _device_context(session, device_id)
        context["config_text"] = text[:MAX_SETTINGS]
        context["config_error"] = why
        return page(request, "device.html", context, status_code=422)
    return _done(device_id, CommandName.CONFIG)


@router.post("/fleet/{device_id}/revoke")
def revoke(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(COMMANDERS)],
    form: CheckedForm,
    device_id: DeviceId,
) -> Response:
    """Revoke the appliance: the first post (with a reason) shows what will happen and asks to
    confirm; the second, confirmed, revokes it and queues the revoke command."""
    reason = form.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    context = _device_context(session, device_id)
    if context["device"].status is DeviceStatus.REVOKED:
        raise PageError(
            409,
            "Thiết bị đã bị thu hồi",
            f"Thiết bị {context['device'].device_id} đã bị thu hồi trước đó; không cần thu hồi "
            "lại. Muốn dùng lại máy này, hãy đăng ký nó với một mã thiết bị mới.",
        )
    if not reason or len(reason) > MAX_REASON:
        context["reason"] = reason[:MAX_REASON]
        context["revoke_error"] = (
            "Hãy ghi lý do thu hồi (ví dụ: máy bị mất, hỏng, chuyển đơn vị)."
            if not reason
            else f"Lý do dài quá {MAX_REASON} ký tự."
        )
        return page(request, "device.html", context, status_code=422)
    if form.get("confirm") != "yes":
        context["reason"] = reason
        return page(request, "device_revoke.html", context)
    _issue(
        request,
        session,
        visitor,
        device_id,
        CommandName.REVOKE,
        {"reason": reason, "crl_reason": RevocationReason.KEY_COMPROMISE.value},
    )
    return _done(device_id, CommandName.REVOKE)
