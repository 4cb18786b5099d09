"""The device heartbeat of sync protocol v1 (`sohoa.status/1`), published retained on the device's
`status` topic so that the server (and an admin's dashboard) sees each appliance's last word at
once; the same message with state OFFLINE is the connection's last will (MQTT v5 section 3.1.3.2),
which the broker publishes when the appliance vanishes.

Every measurement is optional: None means "not known" (a last will is written at connect time,
before anything is measured), never zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from protocol.errors import DecodeError
from protocol.jsonvalue import INT64_MAX, storable_text
from protocol.reasons import RejectReason
from protocol.schema import MessageType, schema_id
from protocol.topics import validate_device_id

STATUS_SCHEMA = schema_id(MessageType.STATUS)
MAX_ERROR_TEXT = 1024
"""The longest `last_error` kept (longer ones are cut: it is for a person to read)."""
MAX_QUEUE_DEPTH = 2**31 - 1
"""The largest `queue_depth` (the repository keeps it in a 32-bit column; an outbox holds
far fewer results)."""

_VERSION_KEY = re.compile(r"[a-z0-9_.-]{1,64}")


class LinkState(Enum):
    """What a device says about its sync link."""

    ONLINE = "online"
    """Connected and sending (or idle with nothing to send)."""
    OFFLINE = "offline"
    """Gone: the last will, or a clean shutdown."""
    STOPPED = "stopped"
    """Connected but not sending, on purpose (e.g. revoked): `last_error` says why."""


@dataclass(frozen=True)
class Heartbeat:
    """A device's heartbeat.

    Attributes:
        device_id: the device.
        state: online, offline or stopped.
        at: when it was measured, ISO 8601 UTC (the caller's clock); None in a last will.
        queue_depth: results in the outbox waiting for the server's answer.
        oldest_pending_age_s: seconds since the oldest waiting result was signed.
        disk_free_bytes: free space where the outbox lives.
        token_present: whether the signing token answers.
        versions: software versions, e.g. {"sohoa": "0.1.0", "protocol": "1"}.
        last_error: the last problem the device met (no personal data), or None.
    """

    device_id: str
    state: LinkState
    at: str | None = None
    queue_depth: int | None = None
    oldest_pending_age_s: float | None = None
    disk_free_bytes: int | None = None
    token_present: bool | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    last_error: str | None = None
    schema: str = STATUS_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != STATUS_SCHEMA:
            raise DecodeError(
                f"unsupported schema {self.schema!r}; this side reads {STATUS_SCHEMA}",
                RejectReason.SCHEMA,
            )
        validate_device_id(self.device_id)
        for name, most in (("queue_depth", MAX_QUEUE_DEPTH), ("disk_free_bytes", INT64_MAX)):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= most:
                raise DecodeError(f"{name} must be in 0..{most}", RejectReason.SCHEMA)
        age = self.oldest_pending_age_s
        if age is not None:
            if not math.isfinite(age) or age < 0:
                raise DecodeError(
                    "oldest_pending_age_s must be a finite number >= 0", RejectReason.SCHEMA
                )
            object.__setattr__(self, "oldest_pending_age_s", float(age))
        for key, value in self.versions.items():
            if not _VERSION_KEY.fullmatch(key) or not isinstance(value, str) or len(value) > 64:
                raise DecodeError(
                    f"versions: {key!r} must be 1-64 of a-z, 0-9, '_', '.', '-' naming a string "
                    "of at most 64 characters",
                    RejectReason.SCHEMA,
                )
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        if self.last_error is not None:
            # For a person to read: cut rather than refused, and what is not text (a lone
            # surrogate from an undecodable file name, a NUL) replaced, so that the sender can
            # always encode its heartbeat (a decoder refuses such text on the wire).
            text = self.last_error
            if storable_text(text) is not None:
                text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()
            if len(text) > MAX_ERROR_TEXT:
                text = text[: MAX_ERROR_TEXT - 1] + "…"
            object.__setattr__(self, "last_error", text)

    @classmethod
    def last_will(cls, device_id: str, versions: Mapping[str, str] | None = None) -> Heartbeat:
        """The heartbeat the broker publishes (retained) for `device_id` when it vanishes."""
        return cls(device_id=device_id, state=LinkState.OFFLINE, versions=versions or {})
