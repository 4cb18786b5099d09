"""`/api/devices`: the appliances as a province admin watches them — registration, last
heartbeat (online/offline, queue depth, oldest pending result, disk, token, versions, last
error), last result received — and the commands sent to them with their replies.

A command posted here is stored as queued; the server's device watcher publishes it on the
device's `cmd` topic within `command_poll_s` (the device's session keeps it if it is offline),
and the device's reply is recorded on it when it comes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from protocol.commands import CommandName
from protocol.status import LinkState
from provisioning.ca import RevocationReason
from provisioning.enrollment_qr import qr_svg
from server.api.deps import CurrentUser, SessionDep, require_role
from server.api.params import MAX_OFFSET, NO_CONTROL
from server.api.responses import PARSED_BODY, SIGNED_IN, errors
from server.enrollment import issue_code, pinned_server_key
from server.errors import EnrollmentError, RepositoryError
from server.models import (
    Device,
    DeviceCommandCreate,
    DeviceCommandPublic,
    DevicePublic,
    DevicesPublic,
    DeviceStatus,
    DeviceSummary,
    Role,
    utc_now,
)
from server.repository import commands, devices
from server.repository.common import MAX_PAGE
from server.revocation import revoke_device

# Devices hold no personal data: an auditor may watch them; only a province admin commands.
router = APIRouter(
    prefix="/devices",
    tags=["devices"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.AUDITOR))],
    responses=SIGNED_IN,
)
_NO_DEVICE = errors(404, _404="No such device.")
DeviceId = Annotated[str, Path(max_length=64, pattern=NO_CONTROL)]

DEFAULT_SILENT_AFTER_S = 900.0
"""A device said online but not heard from for 15 minutes (fifteen missed heartbeats at the
agent's default `heartbeat_s` of 60 s: a field link may drop for minutes) counts as silent."""
MAX_SILENT_AFTER_S = 366 * 24 * 3600.0
"""A year: longer is no threshold (and a huge one overflows the date it is subtracted from)."""


@router.get("")
def list_devices(
    session: SessionDep,
    link_state: Annotated[LinkState | None, Query(description="online, offline or stopped")] = None,
    unit: Annotated[
        str | None,
        Query(max_length=64, pattern=NO_CONTROL, description="Only this administrative unit."),
    ] = None,
    device_status: Annotated[
        DeviceStatus | None, Query(alias="status", description="active or revoked")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DevicesPublic:
    """A page of devices by id, with each one's last heartbeat and last result."""
    rows, count = devices.list_devices(
        session, link_state=link_state, unit=unit, status=device_status, limit=limit, offset=offset
    )
    return DevicesPublic(data=[_public(device, at) for device, at in rows], count=count)


@router.get("/summary")
def summary(
    session: SessionDep,
    silent_after_s: Annotated[float, Query(gt=0, le=MAX_SILENT_AFTER_S)] = DEFAULT_SILENT_AFTER_S,
) -> DeviceSummary:
    """The fleet at a glance: how many online, offline, silent, with errors; results waiting."""
    return devices.device_summary(session, silent_after_s=silent_after_s, now=utc_now())


class EnrollmentCreate(BaseModel):
    """What adding an appliance takes."""

    device_id: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="The id it will be registered under (its certificates' name).",
    )
    unit: str = Field(
        min_length=1,
        max_length=255,
        pattern=NO_CONTROL,
        description="Its unit: a code (22516) or a People's Committee's name.",
    )


class EnrollmentCodePublic(BaseModel):
    """A one-time enrollment code just issued: shown once, never stored in clear."""

    device_id: str
    unit: str
    unit_code: str | None
    code: str = Field(description="What `sohoa edge enroll --code` takes.")
    server_url: str = Field(description="What `sohoa edge enroll --server` takes.")
    uri: str = Field(description="What the QR code holds: sohoa://enroll?server=…&code=…")
    qr_svg: str = Field(description="The QR code, as an SVG image.")
    expires_at: dt.datetime


@router.post(
    "/enrollments",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN))],
    responses={
        **PARSED_BODY,
        **errors(
            409,
            503,
            _409="The device id is enrolled already, or was revoked.",
            _503="The server has no HTTPS certificate for the codes to pin.",
        ),
    },
)
def add_device(
    session: SessionDep, request: Request, user: CurrentUser, body: EnrollmentCreate
) -> EnrollmentCodePublic:
    """Register an appliance for a unit: its one-time enrollment code and QR code (the
    appliance runs `sohoa edge enroll --server URL --code CODE`)."""
    settings = request.app.state.settings
    try:
        issued = issue_code(
            session,
            settings,
            body.device_id,
            body.unit,
            server_key=pinned_server_key(settings),
            created_by=user.username,
        )
    except EnrollmentError as e:
        if e.status == 400:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body",), "msg": str(e), "input": None}]
            ) from e
        raise HTTPException(e.status, detail=str(e)) from e
    return EnrollmentCodePublic(
        device_id=issued.device_id,
        unit=issued.unit,
        unit_code=issued.unit_code,
        code=issued.code.text(),
        server_url=issued.server_url,
        uri=issued.uri,
        qr_svg=qr_svg(issued.uri),
        expires_at=issued.expires_at,
    )


@router.get("/{device_id}", responses=_NO_DEVICE)
def read_device(session: SessionDep, device_id: DeviceId) -> DevicePublic:
    """One device: registration, last heartbeat, last result received."""
    device = _device_or_404(session, device_id)
    return _public(device, devices.last_result_at(session, device_id))


@router.post(
    "/{device_id}/commands",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN))],
    responses={
        **_NO_DEVICE,
        **PARSED_BODY,
        **errors(409, _409="A revoke for a device revoked already."),
    },
)
def issue_command(
    session: SessionDep,
    request: Request,
    user: CurrentUser,
    device_id: DeviceId,
    body: DeviceCommandCreate,
) -> DeviceCommandPublic:
    """Queue a command for the device; who issued it is kept with it. `revoke` revokes the
    device everywhere at once (`server.revocation`): the repository, its certificates in a
    fresh CRL (`args.crl_reason`: an RFC 5280 reason such as `keyCompromise`), the broker."""
    _device_or_404(session, device_id)
    try:
        if body.name is CommandName.REVOKE:
            command = revoke_device(
                session,
                request.app.state.settings,
                device_id,
                reason=_crl_reason(body.args.get("crl_reason")),
                note=str(body.args.get("reason", "")),
                issued_by=user.username,
            ).command
        else:
            command = commands.issue_command(
                session, device_id, body.name, body.args, issued_by=user.username
            )
    except EnrollmentError as e:  # revoked already
        raise HTTPException(e.status, detail=str(e)) from e
    except RepositoryError as e:
        # FastAPI's 422 shape, the one the description states for this route
        raise RequestValidationError(
            # No `input`: the arguments may hold what JSON cannot carry (NaN), the refusal's cause.
            [{"type": "value_error", "loc": ("body", "args"), "msg": str(e), "input": None}]
        ) from e
    return DeviceCommandPublic.model_validate(command)


@router.get("/{device_id}/commands", responses=_NO_DEVICE)
def list_commands(
    session: SessionDep,
    device_id: DeviceId,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[DeviceCommandPublic]:
    """The device's latest commands, newest first, with their replies."""
    _device_or_404(session, device_id)
    return [
        DeviceCommandPublic.model_validate(c)
        for c in commands.list_commands(session, device_id, limit)
    ]


def _crl_reason(value: object) -> RevocationReason:
    try:
        return RevocationReason(value) if value is not None else RevocationReason.UNSPECIFIED
    except ValueError:
        names = ", ".join(r.value for r in RevocationReason)
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "args", "crl_reason"),
                    "msg": f"crl_reason must be one of {names}",
                    "input": None,
                }
            ]
        ) from None


def _device_or_404(session: SessionDep, device_id: str) -> Device:
    device = devices.get_device(session, device_id)
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no device {device_id}")
    return device


def _public(device: Device, last_result_at: dt.datetime | None) -> DevicePublic:
    public = DevicePublic.model_validate(device, update={"last_result_at": last_result_at})
    if device.status_received_at is not None:
        public.heartbeat_age_s = round((utc_now() - device.status_received_at).total_seconds(), 1)
    return public
