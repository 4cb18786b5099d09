"""Values no repository can hold are refused at decoding, with a reason and the result they are
about (issue 14, item 5): lone UTF-16 surrogates and NUL characters in any string, integers
beyond 64 bits and numbers beyond a float anywhere in a header, a queue depth beyond its 32-bit
column. The messages' own constructors refuse the same text, so a device cannot queue what the
server would refuse; a heartbeat's free text is cleaned instead, so a device can always send
its heartbeat."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from protocol.commands import CommandReply, ReplyStatus
from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import ResultManifest, ResultMessage, sha256_hex
from protocol.reasons import RejectReason
from protocol.status import MAX_QUEUE_DEPTH, Heartbeat, LinkState

AT = "2025-03-01T02:30:00+00:00"
PDF = b"%PDF-1.7 a signed result"
RESULT_ID = sha256_hex(PDF)


def _result(change: Callable[[dict[str, Any]], None]) -> bytes:
    header, body = encode(ResultMessage.for_pdf("dev-01", PDF, {"ho_ten": "Lê Thị Hoa"}, AT)).split(
        b"\n", 1
    )
    obj = json.loads(header)
    change(obj)
    # json.dumps escapes a lone surrogate as "\\udXXX", exactly as a hostile sender would.
    return json.dumps(obj).encode() + b"\n" + body


def _heartbeat(change: Callable[[dict[str, Any]], None]) -> bytes:
    obj = json.loads(encode(Heartbeat("dev-01", LinkState.ONLINE, at=AT, queue_depth=3)))
    change(obj)
    return json.dumps(obj).encode()


def _reply(change: Callable[[dict[str, Any]], None]) -> bytes:
    obj = json.loads(encode(CommandReply("dev-01", "cmd-1", ReplyStatus.OK, "done", {}, AT)))
    change(obj)
    return json.dumps(obj).encode()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            obj = obj.setdefault(key, {})
        obj[last] = value

    return change


@pytest.mark.parametrize(
    ("payload", "named", "why"),
    [
        (_result(_set("fields.ho_ten", "Nguy\ud800n")), "fields.ho_ten", "surrogate"),
        (_result(_set("fields.trich_yeu", "\udfff")), "fields.trich_yeu", "surrogate"),
        (_result(_set("fields.cccd", "0123\x00")), "fields.cccd", "NUL"),
        (_result(_set("metadata.pages", "1\ud83d")), "metadata.pages", "surrogate"),
        (_result(_set("created_at", "2025-03-01\ud800")), "created_at", "surrogate"),
        (_result(_set("size", 2**70)), "size", "64 bits"),
        (_result(_set("fields.ho_ten", 10**30)), "fields.ho_ten", "64 bits"),
    ],
)
def test_a_result_holding_what_no_repository_can_store_is_refused_naming_it(
    payload: bytes, named: str, why: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.result_id == RESULT_ID  # so the answer reaches the device's result
    assert named in str(caught.value) and why in str(caught.value)


def test_a_surrogate_in_a_member_name_is_refused() -> None:
    with pytest.raises(DecodeError, match=r"member name in header\.fields"):
        decode(_result(_set("fields.x\ud800", "v")))


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (_heartbeat(_set("queue_depth", 2**70)), "queue_depth"),
        (_heartbeat(_set("queue_depth", MAX_QUEUE_DEPTH + 1)), "queue_depth"),
        (_heartbeat(_set("disk_free_bytes", -(2**64))), "disk_free_bytes"),
        (_heartbeat(_set("oldest_pending_age_s", 10**400)), "oldest_pending_age_s"),
        (_heartbeat(_set("last_error", "disk \ud800 full")), "last_error"),
        (_heartbeat(_set("last_error", "\x00")), "last_error"),
        (_heartbeat(_set("versions.sohoa", "0.1\udcff")), "versions.sohoa"),
        (_reply(_set("data.n", [1, {"deep": 2**64}])), "data.n[1].deep"),
        # 1e400 is valid JSON, and Python reads it as infinity.
        (_reply(_set("data.x", "BIG")).replace(b'"BIG"', b"1e400"), "data.x"),
    ],
)
def test_a_heartbeat_or_reply_holding_what_no_repository_can_store_is_refused(
    payload: bytes, named: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert caught.value.reason is RejectReason.SCHEMA
    assert named in str(caught.value)


def test_an_integer_too_large_for_a_float_is_a_decode_error_not_an_overflow() -> None:
    # float(10**400) raises OverflowError: it must never escape `decode`.
    obj = json.loads(encode(Heartbeat("dev-01", LinkState.ONLINE)))
    obj["oldest_pending_age_s"] = 10**400
    with pytest.raises(DecodeError):
        decode(json.dumps(obj).encode())


def test_64_bit_integers_and_ordinary_text_still_pass() -> None:
    heartbeat = Heartbeat(
        "dev-01",
        LinkState.ONLINE,
        at=AT,
        queue_depth=MAX_QUEUE_DEPTH,
        disk_free_bytes=2**63 - 1,
        last_error="máy quét không phản hồi 🖨",
    )
    assert decode(encode(heartbeat)) == heartbeat
    result = ResultMessage.for_pdf("dev-01", PDF, {"ho_ten": "Đặng Thị Ánh 𠀀"}, AT)
    assert decode(encode(result)) == result


@pytest.mark.parametrize("text", ["Nguy\ud800n", "a\x00b"])
def test_a_device_cannot_build_a_result_the_server_would_refuse(text: str) -> None:
    with pytest.raises(DecodeError, match="ho_ten"):
        ResultMessage.for_pdf("dev-01", PDF, {"ho_ten": text}, AT)
    with pytest.raises(DecodeError, match="metadata"):
        ResultManifest("dev-01", RESULT_ID, 10, 4, {}, AT, metadata={"note": text})


def test_a_heartbeats_free_text_is_cleaned_so_that_it_can_always_be_sent() -> None:
    # An OSError's message can carry an undecodable file name as lone surrogates.
    heartbeat = Heartbeat("dev-01", LinkState.ONLINE, at=AT, last_error="cannot open \udcff\x00")
    assert heartbeat.last_error is not None
    assert "\udcff" not in heartbeat.last_error and "\x00" not in heartbeat.last_error
    assert decode(encode(heartbeat)) == heartbeat
