"""Commands from the server to one device (`sohoa.cmd/1` on the device's `cmd` topic) and the
device's replies (`sohoa.reply/1` on its `reply` topic).

    ping     args {}                                  reply data: whatever the device reports
    config   args {"settings": {key: value, ...}}     the device applies what it knows, says which
    catalog  args {"version": "...", ...}             a new catalogue of procedures / document types
    revoke   args {"reason": "..."}                   the device stops sending and says why (its
                                                      heartbeat turns STOPPED with the reason)
    wipe     args {"reason": "..."} (reason optional) for a lost appliance: the device destroys
                                                      its token's sealing key and its sealed
                                                      data key, erases its outbox and drafts,
                                                      stops as revoke does, then replies what
                                                      it did (Nghị định 13/2023: personal data)

A command that the device cannot read is still answered when its `command_id` can be read:
`reply_to_undecodable` makes the UNSUPPORTED reply (with `version` in the detail for a newer
schema), so that the admin sees why nothing happened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from protocol.errors import DecodeError
from protocol.jsonvalue import JsonValue, check_object
from protocol.messages import MAX_TEXT
from protocol.reasons import RejectReason
from protocol.schema import MessageType, schema_id
from protocol.topics import validate_device_id

CMD_SCHEMA = schema_id(MessageType.CMD)
REPLY_SCHEMA = schema_id(MessageType.REPLY)

COMMAND_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_COMMAND_ID = re.compile(COMMAND_ID_PATTERN)


class CommandName(Enum):
    """What the server can ask a device to do."""

    PING = "ping"
    CONFIG = "config"
    CATALOG = "catalog"
    REVOKE = "revoke"
    WIPE = "wipe"


_REQUIRED_ARGS: Mapping[CommandName, Mapping[str, type]] = {
    CommandName.PING: {},
    CommandName.CONFIG: {"settings": dict},
    CommandName.CATALOG: {"version": str},
    CommandName.REVOKE: {"reason": str},
    CommandName.WIPE: {},
}
"""The arguments each command must carry, and their JSON type (others may follow)."""


class ReplyStatus(Enum):
    """How a device answered a command."""

    OK = "ok"
    """Done."""
    ERROR = "error"
    """Understood but failed: `detail` says why."""
    UNSUPPORTED = "unsupported"
    """Not understood (unknown command, other schema version, malformed)."""


def validate_command_id(command_id: str) -> str:
    """Return `command_id` if it is 1-64 of [A-Za-z0-9._-], else raise DecodeError."""
    if not isinstance(command_id, str) or not _COMMAND_ID.fullmatch(command_id):
        raise DecodeError(f"command_id must match {COMMAND_ID_PATTERN}", RejectReason.SCHEMA)
    return command_id


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class Command:
    """A command to one device.

    Attributes:
        device_id: the device it is for (must match the topic it travels on).
        command_id: unique per command (the reply names it); 1-64 of [A-Za-z0-9._-].
        name: what to do.
        issued_at: when the server issued it, ISO 8601 UTC (a device may ignore stale ones).
        args: the command's arguments, a JSON object (see the module's table).
    """

    device_id: str
    command_id: str
    name: CommandName
    issued_at: str
    args: Mapping[str, JsonValue] = field(default_factory=dict)
    schema: str = CMD_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != CMD_SCHEMA:
            raise DecodeError(
                f"unsupported schema {self.schema!r}; this side reads {CMD_SCHEMA}",
                RejectReason.SCHEMA,
                command_id=self.command_id,
            )
        validate_device_id(self.device_id)
        validate_command_id(self.command_id)
        args = check_object(self.args, "args")
        for key, kind in _REQUIRED_ARGS[self.name].items():
            value = args.get(key)
            if not isinstance(value, kind) or (kind is str and not value):
                raise DecodeError(
                    f"command {self.name.value} needs args.{key} "
                    f"({'a non-empty string' if kind is str else 'an object'})",
                    RejectReason.SCHEMA,
                    command_id=self.command_id,
                )
        object.__setattr__(self, "args", MappingProxyType(args))


@dataclass(frozen=True)
class CommandReply:
    """A device's reply to a command.

    Attributes:
        device_id: the replying device.
        command_id: the command answered.
        status: ok, error or unsupported.
        detail: a sentence a person can act on (no personal data).
        data: what the command returns (e.g. for ping: versions and queue depth), JSON object.
        at: when the device replied, ISO 8601 UTC, if known.
    """

    device_id: str
    command_id: str
    status: ReplyStatus
    detail: str = ""
    data: Mapping[str, JsonValue] = field(default_factory=dict)
    at: str | None = None
    schema: str = REPLY_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != REPLY_SCHEMA:
            raise DecodeError(
                f"unsupported schema {self.schema!r}; this side reads {REPLY_SCHEMA}",
                RejectReason.SCHEMA,
            )
        validate_device_id(self.device_id)
        validate_command_id(self.command_id)
        object.__setattr__(self, "detail", _cut(self.detail))
        object.__setattr__(self, "data", MappingProxyType(check_object(self.data, "data")))


def reply_to_undecodable(
    device_id: str, error: DecodeError, at: str | None = None
) -> CommandReply | None:
    """The reply to a command that could not be read, or None when not even its command_id
    could be read (then there is nobody to answer; the caller logs it).

    Args:
        device_id: this device.
        error: what `encoding.decode` raised.
        at: now, ISO 8601 UTC, if the caller wants it in the reply.
    """
    if error.command_id is None:
        return None
    try:
        validate_command_id(error.command_id)
    except DecodeError:
        return None
    prefix = f"{error.reason}: "
    return CommandReply(
        device_id=device_id,
        command_id=error.command_id,
        status=ReplyStatus.UNSUPPORTED,
        detail=_cut(prefix + str(error)),
        at=at,
    )
