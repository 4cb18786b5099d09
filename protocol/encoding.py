"""Canonical encoding of v1 messages, and a strict decoder.

A payload is one header line, and for the two messages that carry bytes, those bytes raw:

    payload = header                  (ack, manifest, status, cmd, reply)
    payload = header LF body          (result: the PDF; chunk: the chunk's bytes)
    header  = UTF-8 JSON object, keys sorted, no spaces, no escapes beyond JSON's own

Canonical JSON never holds a raw LF (RFC 8259 section 7 escapes control characters in strings),
so the first LF ends the header; the body is not base64'd, which saves a third of the bytes on
a field link. The same message always gives the same bytes.

Decoding is strict: every member a type has must be there with its JSON type (an int is not a
bool, a count is not a float), nothing else may be, a member may not appear twice, numbers are
finite, and the body is present exactly when the type has one. Nothing a repository cannot
store gets through (`jsonvalue.unstorable`: lone UTF-16 surrogates, NUL characters, integers
beyond 64 bits), so a receiver refuses such a message with a reason instead of failing on it
half-way through storing it. `decode` never raises anything but `DecodeError` whatever the
bytes, so a receiver answers with the error's `reason` and goes on (DESIGN.md: it never crashes
on what it cannot read); a known type of another schema version is the `VersionMismatchError`
subclass, and the error carries the `result_id` / `command_id` the message claims when they can
be read, so that the answer reaches the right result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from protocol.commands import Command, CommandName, CommandReply, ReplyStatus
from protocol.commands import validate_command_id as _valid_command_id
from protocol.errors import DecodeError, ProtocolError
from protocol.jsonvalue import JsonObject, check_object, unstorable
from protocol.messages import (
    MAX_RESULT_BYTES,
    Ack,
    AckStatus,
    ResultChunk,
    ResultManifest,
    ResultMessage,
    is_sha256_hex,
)
from protocol.reasons import RejectReason
from protocol.schema import MessageType, parse_schema
from protocol.status import Heartbeat, LinkState

Message = ResultMessage | ResultManifest | ResultChunk | Ack | Heartbeat | Command | CommandReply
"""Every v1 message."""

_LF = b"\n"


def encode(message: Message) -> bytes:
    """The canonical bytes of `message`."""
    header, body = _header(message)
    data = json.dumps(
        header, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    return data if body is None else data + _LF + body


def _header(message: Message) -> tuple[dict[str, Any], bytes | None]:
    if isinstance(message, ResultMessage):
        return {
            "schema": message.schema,
            "device_id": message.device_id,
            "result_id": message.result_id,
            "size": message.size,
            "fields": dict(message.fields),
            "created_at": message.created_at,
            "metadata": dict(message.metadata),
        }, message.pdf
    if isinstance(message, ResultManifest):
        return {
            "schema": message.schema,
            "device_id": message.device_id,
            "result_id": message.result_id,
            "size": message.size,
            "chunk_size": message.chunk_size,
            "chunk_count": message.chunk_count,
            "fields": dict(message.fields),
            "created_at": message.created_at,
            "metadata": dict(message.metadata),
            "resume": message.resume,
        }, None
    if isinstance(message, ResultChunk):
        return {
            "schema": message.schema,
            "device_id": message.device_id,
            "result_id": message.result_id,
            "size": message.size,
            "chunk_size": message.chunk_size,
            "index": message.index,
            "sha256": message.sha256,
        }, message.data
    if isinstance(message, Ack):
        return {
            "schema": message.schema,
            "result_id": message.result_id,
            "status": message.status.value,
            "reason": message.reason.value if message.reason else None,
            "detail": message.detail,
            "record_id": message.record_id,
            "missing": list(message.missing),
            "chunk_size": message.chunk_size,
        }, None
    if isinstance(message, Heartbeat):
        return {
            "schema": message.schema,
            "device_id": message.device_id,
            "state": message.state.value,
            "at": message.at,
            "queue_depth": message.queue_depth,
            "oldest_pending_age_s": message.oldest_pending_age_s,
            "disk_free_bytes": message.disk_free_bytes,
            "token_present": message.token_present,
            "versions": dict(message.versions),
            "last_error": message.last_error,
        }, None
    if isinstance(message, Command):
        return {
            "schema": message.schema,
            "device_id": message.device_id,
            "command_id": message.command_id,
            "name": message.name.value,
            "issued_at": message.issued_at,
            "args": dict(message.args),
        }, None
    return {
        "schema": message.schema,
        "device_id": message.device_id,
        "command_id": message.command_id,
        "status": message.status.value,
        "detail": message.detail,
        "data": dict(message.data),
        "at": message.at,
    }, None


def decode(payload: bytes) -> Message:
    """Read a v1 message.

    Raises:
        VersionMismatchError: a known message type of a schema version this side does not read.
        DecodeError: anything else this side cannot read; `reason` says why (a `RejectReason`
            value), `result_id` / `command_id` what the message claims to be about, if readable.
    """
    cut = payload.find(_LF)
    header, body = (payload, None) if cut < 0 else (payload[:cut], payload[cut + 1 :])
    try:
        obj = json.loads(
            header.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DecodeError(
            f"payload is not a UTF-8 JSON header line: {e}", RejectReason.SCHEMA
        ) from e
    if not isinstance(obj, dict):
        raise DecodeError("payload is not a JSON object", RejectReason.SCHEMA)
    claimed_result = obj.get("result_id")
    result_id = (
        claimed_result
        if isinstance(claimed_result, str) and is_sha256_hex(claimed_result)
        else None
    )
    command_id = _claimed_command_id(obj.get("command_id"))
    message_type = parse_schema(obj.get("schema"), result_id=result_id, command_id=command_id)
    problem = unstorable(obj, "header")
    if problem is not None:
        raise DecodeError(
            f"{message_type.value} message refused: {problem}",
            RejectReason.SCHEMA,
            result_id=result_id,
            command_id=command_id,
        )
    try:
        reader = _Reader(obj, message_type)
        message = _READERS[message_type](reader, body)
        reader.done()
        return message
    except DecodeError as e:
        e.result_id = e.result_id or result_id
        e.command_id = e.command_id or command_id
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError, ProtocolError) as e:
        raise DecodeError(
            f"malformed {message_type.value} message: {e}",
            RejectReason.SCHEMA,
            result_id=result_id,
            command_id=command_id,
        ) from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"member {key!r} appears twice")
        obj[key] = value
    return obj


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _claimed_command_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return _valid_command_id(value)
    except DecodeError:
        return None


class _Reader:
    """Takes a decoded header apart member by member, and refuses what is left over."""

    def __init__(self, obj: dict[str, Any], message_type: MessageType) -> None:
        self.obj = obj
        self.what = message_type.value
        self.seen = {"schema"}

    def _get(self, key: str, optional: bool) -> Any:
        self.seen.add(key)
        if key not in self.obj:
            if optional:
                return None
            raise KeyError(f"{self.what} message lacks {key!r}")
        return self.obj[key]

    def text(self, key: str) -> str:
        value = self._get(key, False)
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, True)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{key} must be a string or null")
        return value

    def integer(self, key: str) -> int:
        value = self.opt_integer(key)
        if value is None:
            raise TypeError(f"{key} must be an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        value = self._get(key, True)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{key} must be an integer")
        return value

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, True)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"{key} must be a number or null")
        return float(value)

    def opt_boolean(self, key: str) -> bool | None:
        value = self._get(key, True)
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{key} must be true, false or null")
        return value

    def boolean(self, key: str) -> bool:
        value = self.opt_boolean(key)
        if value is None:
            raise TypeError(f"{key} must be true or false")
        return value

    def obj_member(self, key: str, optional: bool = False) -> JsonObject:
        value = self._get(key, optional)
        return {} if value is None and optional else check_object(value, key)

    def strings(self, key: str, optional: bool = False) -> dict[str, str]:
        value = self.obj_member(key, optional)
        if not all(isinstance(v, str) for v in value.values()):
            raise TypeError(f"{key} must map names to strings")
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def fields(self, key: str) -> dict[str, str | None]:
        value = self.obj_member(key)
        if not all(v is None or isinstance(v, str) for v in value.values()):
            raise TypeError(f"{key} must map strings to strings or null")
        return {k: v for k, v in value.items() if v is None or isinstance(v, str)}

    def indexes(self, key: str) -> tuple[int, ...]:
        value = self._get(key, True)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in value
        ):
            raise TypeError(f"{key} must be a list of integers")
        return tuple(value)

    def done(self) -> None:
        extra = sorted(set(self.obj) - self.seen)
        if extra:
            raise DecodeError(
                f"{self.what} message has members this side does not know: {', '.join(extra)} "
                "(a newer sender must raise the schema version)",
                RejectReason.SCHEMA,
            )


def _no_body(body: bytes | None, reader: _Reader) -> None:
    if body is not None:
        raise DecodeError(
            f"a {reader.what} message carries no bytes after its header", RejectReason.SCHEMA
        )


def _need_body(body: bytes | None, reader: _Reader) -> bytes:
    if body is None:
        raise DecodeError(
            f"a {reader.what} message must carry its bytes after the header", RejectReason.SCHEMA
        )
    return body


def _read_result(r: _Reader, body: bytes | None) -> ResultMessage:
    pdf = _need_body(body, r)
    size = r.integer("size")
    result_id = r.text("result_id")
    if max(size, len(pdf)) > MAX_RESULT_BYTES:
        raise DecodeError(
            f"result is {max(size, len(pdf))} bytes, over the {MAX_RESULT_BYTES} limit",
            RejectReason.SIZE,
        )
    if len(pdf) != size:
        raise DecodeError(
            f"the result says {size} bytes but carries {len(pdf)}: it was cut in transit",
            RejectReason.SCHEMA,
        )
    return ResultMessage(
        device_id=r.text("device_id"),
        result_id=result_id,
        pdf=pdf,
        fields=r.fields("fields"),
        created_at=r.text("created_at"),
        metadata=r.strings("metadata", optional=True),
    )


def _read_manifest(r: _Reader, body: bytes | None) -> ResultManifest:
    _no_body(body, r)
    manifest = ResultManifest(
        device_id=r.text("device_id"),
        result_id=r.text("result_id"),
        size=r.integer("size"),
        chunk_size=r.integer("chunk_size"),
        fields=r.fields("fields"),
        created_at=r.text("created_at"),
        metadata=r.strings("metadata", optional=True),
        resume=r.boolean("resume"),
    )
    count = r.integer("chunk_count")
    if count != manifest.chunk_count:
        raise DecodeError(
            f"chunk_count {count} does not match size {manifest.size} in chunks of "
            f"{manifest.chunk_size} ({manifest.chunk_count})",
            RejectReason.SCHEMA,
        )
    return manifest


def _read_chunk(r: _Reader, body: bytes | None) -> ResultChunk:
    return ResultChunk(
        device_id=r.text("device_id"),
        result_id=r.text("result_id"),
        size=r.integer("size"),
        chunk_size=r.integer("chunk_size"),
        index=r.integer("index"),
        sha256=r.text("sha256"),
        data=_need_body(body, r),
    )


def _read_ack(r: _Reader, body: bytes | None) -> Ack:
    _no_body(body, r)
    reason, detail = _ack_reason(r.opt_text("reason"), r.text("detail"))
    return Ack(
        result_id=r.text("result_id"),
        status=AckStatus(r.text("status")),
        reason=reason,
        detail=detail,
        record_id=r.opt_text("record_id"),
        missing=r.indexes("missing"),
        chunk_size=r.opt_integer("chunk_size"),
    )


def _ack_reason(word: str | None, detail: str) -> tuple[RejectReason | None, str]:
    """An ack's reason, tolerating one a newer server added: a refusal stays a refusal."""
    if word is None:
        return None, detail
    try:
        return RejectReason(word), detail
    except ValueError:
        return RejectReason.UNRECOGNIZED, f"{word}: {detail}"


def _read_status(r: _Reader, body: bytes | None) -> Heartbeat:
    _no_body(body, r)
    return Heartbeat(
        device_id=r.text("device_id"),
        state=LinkState(r.text("state")),
        at=r.opt_text("at"),
        queue_depth=r.opt_integer("queue_depth"),
        oldest_pending_age_s=r.opt_number("oldest_pending_age_s"),
        disk_free_bytes=r.opt_integer("disk_free_bytes"),
        token_present=r.opt_boolean("token_present"),
        versions=r.strings("versions"),
        last_error=r.opt_text("last_error"),
    )


def _read_cmd(r: _Reader, body: bytes | None) -> Command:
    _no_body(body, r)
    return Command(
        device_id=r.text("device_id"),
        command_id=r.text("command_id"),
        name=CommandName(r.text("name")),
        issued_at=r.text("issued_at"),
        args=r.obj_member("args"),
    )


def _read_reply(r: _Reader, body: bytes | None) -> CommandReply:
    _no_body(body, r)
    return CommandReply(
        device_id=r.text("device_id"),
        command_id=r.text("command_id"),
        status=ReplyStatus(r.text("status")),
        detail=r.text("detail"),
        data=r.obj_member("data"),
        at=r.opt_text("at"),
    )


_READERS: Mapping[MessageType, Callable[[_Reader, bytes | None], Message]] = {
    MessageType.RESULT: _read_result,
    MessageType.MANIFEST: _read_manifest,
    MessageType.CHUNK: _read_chunk,
    MessageType.ACK: _read_ack,
    MessageType.STATUS: _read_status,
    MessageType.CMD: _read_cmd,
    MessageType.REPLY: _read_reply,
}
