"""Schema identifiers of sync protocol v1: every message carries `schema` = `sohoa.<type>/<version>`
(DESIGN.md), and this module is the one place that says which versions this side reads.

A message of a known type but another version is a `VersionMismatchError` (the receiver answers it
with reason `version`); a schema string of any other shape, or of an unknown type, is a plain
`DecodeError` with reason `schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from protocol.errors import DecodeError, VersionMismatchError
from protocol.reasons import RejectReason


class MessageType(Enum):
    """The types of message of sync protocol v1, by the name in their schema."""

    RESULT = "result"
    """A whole signed result in one message (device -> server)."""
    MANIFEST = "manifest"
    """The description of a result sent in chunks (device -> server)."""
    CHUNK = "chunk"
    """One numbered piece of a result sent in chunks (device -> server)."""
    ACK = "ack"
    """The server's application ack of one result (server -> device)."""
    STATUS = "status"
    """A device's heartbeat, retained (device -> server)."""
    CMD = "cmd"
    """A command to a device (server -> device)."""
    REPLY = "reply"
    """A device's reply to a command (device -> server)."""


VERSIONS: Mapping[MessageType, int] = MappingProxyType(dict.fromkeys(MessageType, 1))
"""The version of each type that this side writes and reads."""

_SCHEMA = re.compile(r"sohoa\.(?P<type>[a-z][a-z0-9_]{0,31})/(?P<version>[1-9][0-9]{0,5})")


def schema_id(message_type: MessageType) -> str:
    """The schema string this side writes for `message_type`, e.g. `sohoa.result/1`."""
    return f"sohoa.{message_type.value}/{VERSIONS[message_type]}"


def parse_schema(
    value: object, *, result_id: str | None = None, command_id: str | None = None
) -> MessageType:
    """The message type of a schema string this side reads.

    Args:
        value: the `schema` member of a message, whatever its JSON type.
        result_id: the result id the message claims (passed on in the error), if any.
        command_id: the command id the message claims (passed on in the error), if any.

    Raises:
        VersionMismatchError: a known type in another version.
        DecodeError: (reason `schema`) anything else this side does not read.
    """
    known = ", ".join(schema_id(t) for t in MessageType)
    if not isinstance(value, str):
        raise DecodeError(
            f"the message has no schema string (got {type(value).__name__}); this side reads "
            f"{known}",
            RejectReason.SCHEMA,
            result_id=result_id,
            command_id=command_id,
        )
    m = _SCHEMA.fullmatch(value)
    try:
        message_type = MessageType(m["type"]) if m else None
    except ValueError:
        message_type = None
    if m is None or message_type is None:
        raise DecodeError(
            f"unknown schema {value[:80]!r}: this side reads {known}",
            RejectReason.SCHEMA,
            result_id=result_id,
            command_id=command_id,
        )
    if int(m["version"]) != VERSIONS[message_type]:
        raise VersionMismatchError(
            value, schema_id(message_type), result_id=result_id, command_id=command_id
        )
    return message_type
