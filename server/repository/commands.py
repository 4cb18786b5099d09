"""Commands to the appliances: queued here (by the API or the CLI), claimed by one server process
and published by it (`server.watcher`), put back in the queue if the broker did not take them,
and answered by the device's reply.

A claim is a conditional update, so several server processes polling at once publish each
command once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from protocol.commands import Command, CommandName, CommandReply
from protocol.errors import ProtocolError
from server.errors import RepositoryError
from server.models import CommandState, Device, DeviceCommand, DeviceStatus, utc_now
from server.repository.common import MAX_PAGE, commit

log = logging.getLogger(__name__)


def issue_command(
    session: Session,
    device_id: str,
    name: CommandName,
    args: Mapping[str, Any] | None = None,
    *,
    command_id: str | None = None,
    issued_by: str | None = None,
) -> DeviceCommand:
    """Queue a command for a device (a running server publishes it), and commit.

    Args:
        issued_by: who issues it (an account's name, or `cli:<user>`), kept with it.

    `revoke` also revokes the device in the registry, so that the server refuses its results
    from now on, whatever the device does with the command.

    Raises:
        RepositoryError: no such device, the arguments do not fit the command, or the database
            refused the write.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise RepositoryError(f"no device {device_id} is registered")
    command = DeviceCommand(
        command_id=command_id or uuid.uuid4().hex,
        device_id=device_id,
        name=name,
        args=dict(args or {}),
        issued_by=issued_by,
    )
    try:
        command_message(command)  # validates the arguments now rather than when publishing
    except (ProtocolError, TypeError) as e:  # TypeError: what JSON cannot carry (NaN, depth)
        raise RepositoryError(f"command {name.value} for {device_id}: {e}") from e
    session.add(command)
    if name is CommandName.REVOKE and device.status is not DeviceStatus.REVOKED:
        device.status = DeviceStatus.REVOKED
        session.add(device)
        log.info("device %s revoked (with a revoke command)", device_id)
    commit(session, f"issue command {name.value} to device {device_id}")
    session.refresh(command)
    return command


def command_message(command: DeviceCommand) -> Command:
    """The `sohoa.cmd/1` message of a stored command.

    Raises:
        ProtocolError: the stored arguments do not fit the command.
    """
    return Command(
        device_id=command.device_id,
        command_id=command.command_id,
        name=command.name,
        issued_at=command.issued_at.isoformat(timespec="seconds"),
        args=command.args,
    )


def claim_queued_commands(session: Session, limit: int = 50) -> list[DeviceCommand]:
    """Mark up to `limit` queued commands as sent and return them, oldest first, and commit.

    Each command is claimed by one caller only (a conditional update), so several server
    processes polling at once publish each command once.

    Raises:
        RepositoryError: the database refused the write.
    """
    queued = session.exec(
        select(DeviceCommand.command_id)
        .where(col(DeviceCommand.state) == CommandState.QUEUED)
        .order_by(col(DeviceCommand.issued_at))
        .limit(limit)
    ).all()
    if not queued:
        session.rollback()
        return []
    now = utc_now()
    claimed: list[str] = []
    try:
        for command_id in queued:
            done = session.exec(
                update(DeviceCommand)
                .where(
                    col(DeviceCommand.command_id) == command_id,
                    col(DeviceCommand.state) == CommandState.QUEUED,
                )
                .values(state=CommandState.SENT, sent_at=now)
            ).rowcount
            if done:
                claimed.append(command_id)
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot claim queued commands: {e}") from e
    if not claimed:
        return []
    return list(
        session.exec(
            select(DeviceCommand)
            .where(col(DeviceCommand.command_id).in_(claimed))
            .order_by(col(DeviceCommand.issued_at))
        ).all()
    )


def claim_command(session: Session, command_id: str) -> bool:
    """Mark one queued command as sent (for a caller that publishes it itself), and commit.

    Returns:
        Whether this call claimed it (False: someone else did, or it is not queued).
    """
    try:
        done = session.exec(
            update(DeviceCommand)
            .where(
                col(DeviceCommand.command_id) == command_id,
                col(DeviceCommand.state) == CommandState.QUEUED,
            )
            .values(state=CommandState.SENT, sent_at=utc_now())
        ).rowcount
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot claim command {command_id}: {e}") from e
    return bool(done)


def requeue_command(session: Session, command_id: str) -> None:
    """Put a claimed command back in the queue (it could not be published), and commit."""
    try:
        session.exec(
            update(DeviceCommand)
            .where(
                col(DeviceCommand.command_id) == command_id,
                col(DeviceCommand.state) == CommandState.SENT,
            )
            .values(state=CommandState.QUEUED, sent_at=None)
        )
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot requeue command {command_id}: {e}") from e


def record_reply(
    session: Session, reply: CommandReply, received_at: dt.datetime | None = None
) -> bool:
    """Store a device's reply on its command, and commit.

    Returns:
        Whether the command was found (a reply to a command of another device, or to one this
        repository never issued, is not stored).

    Raises:
        RepositoryError: the database refused the write.
    """
    command = session.get(DeviceCommand, reply.command_id)
    if command is None or command.device_id != reply.device_id:
        return False
    command.state = CommandState.ANSWERED
    command.reply_status = reply.status
    command.reply_detail = reply.detail
    command.reply_data = dict(reply.data)
    command.replied_at = received_at or utc_now()
    session.add(command)
    commit(session, f"record the reply to command {reply.command_id}")
    return True


def get_command(session: Session, command_id: str) -> DeviceCommand | None:
    """The command `command_id`, or None."""
    return session.get(DeviceCommand, command_id)


def list_commands(session: Session, device_id: str, limit: int = 50) -> Sequence[DeviceCommand]:
    """A device's latest commands, newest first."""
    return session.exec(
        select(DeviceCommand)
        .where(col(DeviceCommand.device_id) == device_id)
        .order_by(col(DeviceCommand.issued_at).desc())
        .limit(max(0, min(limit, MAX_PAGE)))
    ).all()
