"""How the fleet pages show an appliance: its link in words (online, silent, offline, never
heard), ages and sizes as people read them, its certificate's days left, its commands and
replies in Vietnamese, and its history as one value per day in Việt Nam."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.commands import CommandName, ReplyStatus
from protocol.status import LinkState
from server.api.routes import devices as api_devices
from server.models import (
    CommandState,
    Device,
    DeviceCommandPublic,
    DeviceHeartbeatHour,
    DevicePublic,
    DeviceStatus,
)
from server.web.render import VIETNAM, date_vn, datetime_vn

LINK_NAMES = {
    LinkState.ONLINE: "Trực tuyến",
    LinkState.OFFLINE: "Ngoại tuyến",
    LinkState.STOPPED: "Đã dừng gửi",
}
COMMAND_NAMES = {
    CommandName.PING: "Kiểm tra kết nối (ping)",
    CommandName.CONFIG: "Cấu hình",
    CommandName.CATALOG: "Danh mục",
    CommandName.REVOKE: "Thu hồi",
}
COMMAND_STATES = {
    CommandState.QUEUED: "Chờ gửi",
    CommandState.SENT: "Đã gửi, chờ trả lời",
    CommandState.ANSWERED: "Đã trả lời",
}
REPLY_NAMES = {
    ReplyStatus.OK: "Thành công",
    ReplyStatus.ERROR: "Lỗi",
    ReplyStatus.UNSUPPORTED: "Không hỗ trợ",
}
STATUS_NAMES = {DeviceStatus.ACTIVE: "Đang hoạt động", DeviceStatus.REVOKED: "Đã thu hồi"}
SHORT_ERROR = 90
"""The most characters of a last error the fleet's table shows (the device page shows it all)."""
SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")
MAX_DATA_SHOWN = 2000
"""The most characters of a reply's data a command's row shows."""


@dataclass(frozen=True)
class Shown:
    """A value as a page shows it, and its tone (a CSS class: good, warn, bad or none)."""

    text: str
    tone: str = ""


def link_of(
    state: LinkState | None,
    heard_at: dt.datetime | None,
    *,
    now: dt.datetime,
    silent_after: dt.timedelta,
) -> Shown:
    """A device's link in words: as its last heartbeat says, except that a device said online
    but not heard from for `silent_after` is silent (its link dropped without a last will)."""
    if state is None:
        return Shown("Chưa liên lạc", "warn")
    if state is LinkState.ONLINE:
        if heard_at is not None and now - heard_at > silent_after:
            return Shown("Mất tín hiệu", "bad")
        return Shown(LINK_NAMES[state], "good")
    return Shown(LINK_NAMES[state], "bad")


def number_vn(value: int | None) -> str:
    """A count with Vietnamese thousands separators (1.234); "—" for none."""
    return "—" if value is None else f"{value:,}".replace(",", ".")


def age_words(seconds: float | None) -> str:
    """A duration in words: "45 giây", "12 phút", "3 giờ 20 phút", "2 ngày 4 giờ"; "—" for
    none."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} giây"
    if s < 3600:
        return f"{s // 60} phút"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} giờ" + (f" {minutes} phút" if minutes else "")
    days, hours = divmod(s // 3600, 24)
    return f"{number_vn(days)} ngày" + (f" {hours} giờ" if hours else "")


def size_words(size: int | None) -> str:
    """A number of bytes as people read it ("12,4 GB"); "—" for none."""
    if size is None:
        return "—"
    value, step = float(size), 0
    while value >= 1024 and step < len(SIZE_UNITS) - 1:
        value, step = value / 1024, step + 1
    text = f"{value:.0f}" if step == 0 or value >= 100 else f"{value:.1f}".replace(".", ",")
    return f"{text} {SIZE_UNITS[step]}"


def disk_of(size: int | None) -> Shown:
    """Free disk space, marked when it runs low (under 1 GB: the outbox may soon refuse)."""
    tone = "bad" if size is not None and size < 1024**3 else ""
    return Shown(size_words(size), tone)


def token_of(present: bool | None) -> Shown:
    """Whether the signing token answered, in words."""
    if present is None:
        return Shown("—")
    return Shown("Có", "good") if present else Shown("Không thấy", "bad")


def cert_of(not_after: dt.datetime | None, *, now: dt.datetime, warn_within: dt.timedelta) -> Shown:
    """A certificate's expiry as whole days left ("Còn 25 ngày"), or the day it expired;
    marked when it expires within `warn_within`."""
    if not_after is None:
        return Shown("Chưa rõ")
    if not_after <= now:
        return Shown(f"Đã hết hạn từ {date_vn(not_after)}", "bad")
    days = (not_after - now).days
    tone = "warn" if not_after - now <= warn_within else ""
    return Shown(f"Còn {number_vn(days)} ngày" if days else "Còn dưới 1 ngày", tone)


def short(text: str | None, most: int = SHORT_ERROR) -> str:
    """`text` cut to `most` characters (with "…"); "—" for none."""
    if not text:
        return "—"
    return text if len(text) <= most else text[: most - 1] + "…"


def json_text(value: Mapping[str, Any] | None, most: int = MAX_DATA_SHOWN) -> str:
    """A command's arguments or a reply's data as compact JSON (cut), "" for none."""
    if not value:
        return ""
    return short(json.dumps(value, ensure_ascii=False, sort_keys=True), most)


@dataclass(frozen=True)
class Day:
    """One day (in Việt Nam) of a device's history."""

    day: dt.date
    queue_depth: int | None
    """The deepest queue its heartbeats reported that day (None: it said nothing)."""
    stored: int
    """Results of it the repository stored that day."""

    @property
    def label(self) -> str:
        """The day as the charts' axis shows it (dd/mm)."""
        return self.day.strftime("%d/%m")


def history_start(now: dt.datetime, days: int) -> dt.datetime:
    """The start (UTC) of the first of the last `days` days in Việt Nam, today included."""
    first = now.astimezone(VIETNAM).date() - dt.timedelta(days=days - 1)
    return dt.datetime.combine(first, dt.time(), VIETNAM).astimezone(dt.UTC)


def history(
    start: dt.datetime,
    days: int,
    hours: Iterable[DeviceHeartbeatHour],
    stored: Mapping[dt.date, int],
) -> list[Day]:
    """The device's days from `start` (`history_start`): each day's deepest queue from its
    hours of heartbeats, and its results stored."""
    deepest: dict[dt.date, int] = {}
    for hour in hours:
        if hour.max_queue_depth is None:
            continue
        day = hour.hour.astimezone(VIETNAM).date()
        deepest[day] = max(deepest.get(day, 0), hour.max_queue_depth)
    first = start.astimezone(VIETNAM).date()
    found = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        found.append(Day(day, deepest.get(day), stored.get(day, 0)))
    return found


def heard_words(at: dt.datetime | None, *, now: dt.datetime) -> str:
    """When a device was last heard from: the time, and how long ago."""
    if at is None:
        return "Chưa bao giờ"
    return f"{datetime_vn(at)} ({age_words((now - at).total_seconds())} trước)"


SILENT_AFTER = dt.timedelta(seconds=api_devices.DEFAULT_SILENT_AFTER_S)
"""A device said online but not heard from for longer is silent (as the API's summary counts)."""
EXPIRING_WITHIN = dt.timedelta(days=30)
"""A certificate expiring within this is marked, and the fleet's filter lists its device."""


@dataclass(frozen=True)
class DeviceRow:
    """A device as the fleet's table and the device page show it."""

    device_id: str
    unit: str
    unit_code: str | None
    link: Shown
    heard: str
    """When it was last heard from (heartbeat or last will), or "Chưa bao giờ"."""
    queue: str
    oldest: str
    """The age of the oldest result waiting in its outbox."""
    disk: Shown
    token: Shown
    cert: Shown
    version: str
    """Its Sohoa software version."""
    error: str
    """Its last error, cut (see `error_full`)."""
    error_full: str | None
    status: Shown
    revoked: bool


def device_row(device: Device | DevicePublic, *, now: dt.datetime) -> DeviceRow:
    """`device` as the pages show it, at `now`."""
    revoked = device.status is DeviceStatus.REVOKED
    return DeviceRow(
        device_id=device.device_id,
        unit=device.unit,
        unit_code=device.unit_code,
        link=link_of(
            device.link_state, device.status_received_at, now=now, silent_after=SILENT_AFTER
        ),
        heard=datetime_vn(device.status_received_at)
        if device.status_received_at
        else "Chưa bao giờ",
        queue=number_vn(device.queue_depth),
        oldest=age_words(device.oldest_pending_age_s),
        disk=disk_of(device.disk_free_bytes),
        token=token_of(device.token_present),
        cert=cert_of(device.cert_not_after, now=now, warn_within=EXPIRING_WITHIN),
        version=(device.versions or {}).get("sohoa", "—"),
        error=short(device.last_error),
        error_full=device.last_error,
        status=Shown(STATUS_NAMES[device.status], "bad" if revoked else ""),
        revoked=revoked,
    )


@dataclass(frozen=True)
class CommandRow:
    """A command to a device, and its reply, as the device page shows them."""

    name: str
    args: str
    issued: str
    issued_by: str
    """Who issued it."""
    state: str
    reply: Shown | None
    """How the device answered (None: not yet)."""
    replied: str
    detail: str
    data: str


def command_row(command: DeviceCommandPublic) -> CommandRow:
    """`command` in words."""
    reply = None
    if command.reply_status is not None:
        tone = "good" if command.reply_status is ReplyStatus.OK else "bad"
        reply = Shown(REPLY_NAMES[command.reply_status], tone)
    return CommandRow(
        name=COMMAND_NAMES.get(command.name, command.name.value),
        args=json_text(command.args),
        issued=datetime_vn(command.issued_at),
        issued_by=command.issued_by or "—",
        state=COMMAND_STATES[command.state],
        reply=reply,
        replied=datetime_vn(command.replied_at),
        detail=command.reply_detail or "",
        data=json_text(command.reply_data),
    )
