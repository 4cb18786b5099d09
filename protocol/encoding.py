"""Canonical encoding of v1 messages: UTF-8 JSON with sorted keys and no spaces, so that the same
message always gives the same bytes; binary fields in base64 (RFC 4648 section 4).

`decode` never raises anything but `DecodeError`, whatever the bytes: a receiver answers with the
error's `reason` and goes on (DESIGN.md: it never crashes on what it cannot read).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from protocol.errors import DecodeError, ProtocolError
from protocol.messages import (
    ACK_SCHEMA,
    RESULT_SCHEMA,
    Ack,
    AckStatus,
    RejectReason,
    ResultMessage,
)

Message = ResultMessage | Ack


def encode(message: Message) -> bytes:
    """The canonical bytes of `message`."""
    obj: dict[str, Any]
    if isinstance(message, ResultMessage):
        obj = {
            "schema": message.schema,
            "device_id": message.device_id,
            "result_id": message.result_id,
            "pdf": base64.b64encode(message.pdf).decode("ascii"),
            "fields": dict(message.fields),
            "created_at": message.created_at,
        }
    else:
        obj = {
            "schema": message.schema,
            "result_id": message.result_id,
            "status": message.status.value,
            "reason": message.reason.value if message.reason else None,
            "detail": message.detail,
            "record_id": message.record_id,
        }
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes) -> Message:
    """Read a v1 message.

    Raises:
        DecodeError: the payload is not a v1 message; `reason` says why (a `RejectReason` value).
    """
    schema_reason = RejectReason.SCHEMA.value
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DecodeError(f"payload is not UTF-8 JSON: {e}", schema_reason) from e
    if not isinstance(obj, dict):
        raise DecodeError("payload is not a JSON object", schema_reason)
    schema = obj.get("schema")
    try:
        if schema == RESULT_SCHEMA:
            return _result(obj)
        if schema == ACK_SCHEMA:
            return _ack(obj)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, binascii.Error, ProtocolError) as e:
        raise DecodeError(f"malformed {schema} message: {e!r}", schema_reason) from e
    raise DecodeError(
        f"unknown schema {schema!r}: this side reads {RESULT_SCHEMA} and {ACK_SCHEMA}",
        schema_reason,
    )


def _result(obj: dict[str, Any]) -> ResultMessage:
    fields = obj["fields"]
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in fields.items()
    ):
        raise TypeError("fields must map strings to strings or null")
    return ResultMessage(
        device_id=_str(obj, "device_id"),
        result_id=_str(obj, "result_id"),
        pdf=base64.b64decode(_str(obj, "pdf"), validate=True),
        fields=fields,
        created_at=_str(obj, "created_at"),
    )


def _ack(obj: dict[str, Any]) -> Ack:
    reason = obj.get("reason")
    record_id = obj.get("record_id")
    if record_id is not None and not isinstance(record_id, str):
        raise TypeError("record_id must be a string or null")
    return Ack(
        result_id=_str(obj, "result_id"),
        status=AckStatus(_str(obj, "status")),
        reason=RejectReason(reason) if reason is not None else None,
        detail=_str(obj, "detail"),
        record_id=record_id,
    )


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value
