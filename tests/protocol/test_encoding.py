"""The canonical encoding of every v1 message and its strict decoder: round trips, refusals with
clear reasons, version mismatches, and a decoder that raises nothing but DecodeError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.commands import Command, CommandName
from protocol.encoding import Message, decode, encode
from protocol.errors import DecodeError, VersionMismatchError
from protocol.messages import Ack, AckStatus, ResultMessage, sha256_hex
from protocol.reasons import RejectReason
from protocol.schema import VERSIONS, MessageType, parse_schema, schema_id
from protocol.status import Heartbeat, LinkState
from tests.protocol.strategies import json_values, messages

PDF = b"%PDF-1.7\n% signed\n%%EOF\n"
RID = sha256_hex(PDF)
AT = "2025-03-01T02:03:04+00:00"


def ack() -> Ack:
    return Ack(result_id=RID, status=AckStatus.ACCEPTED, record_id="rec-1")


def ack_obj() -> dict[str, object]:
    obj: dict[str, object] = json.loads(encode(ack()))
    return obj


@settings(max_examples=150, deadline=None)
@given(messages)
def test_every_message_round_trips_and_its_bytes_are_canonical(message: Message) -> None:
    data = encode(message)
    assert decode(data) == message
    assert encode(decode(data)) == data


def test_schema_ids_name_type_and_version() -> None:
    assert schema_id(MessageType.MANIFEST) == "sohoa.manifest/1"
    assert set(VERSIONS) == set(MessageType)
    assert parse_schema("sohoa.chunk/1") is MessageType.CHUNK


@pytest.mark.parametrize("schema", ["sohoa.result/2", "sohoa.ack/7", "sohoa.cmd/999"])
def test_a_newer_version_of_a_known_type_is_a_version_mismatch(schema: str) -> None:
    obj = ack_obj()
    obj["schema"] = schema
    obj["command_id"] = "cmd-1"
    obj["something_new"] = [1, 2]  # whatever a newer version carries is not looked at
    with pytest.raises(VersionMismatchError) as caught:
        decode(json.dumps(obj).encode())
    error = caught.value
    assert error.reason is RejectReason.VERSION
    assert error.schema == schema
    assert error.supported.endswith("/1") and error.supported.split("/")[0] == schema.split("/")[0]
    assert error.result_id == RID and error.command_id == "cmd-1"
    assert "update" in str(error)


@pytest.mark.parametrize("schema", ["sohoa.nonsense/1", "sohoa.result", "SOHOA.ack/1", None, 7, ""])
def test_an_unknown_schema_is_rejected_with_reason_schema(schema: object) -> None:
    obj = ack_obj()
    obj["schema"] = schema
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert not isinstance(caught.value, VersionMismatchError)
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.result_id == RID


def test_a_member_this_side_does_not_know_is_refused_by_name() -> None:
    obj = ack_obj()
    obj["priority"] = "high"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert "priority" in str(caught.value) and caught.value.reason is RejectReason.SCHEMA


def test_a_refusal_for_a_reason_this_side_does_not_know_is_still_a_refusal() -> None:
    """A newer server's new reason must not make an older appliance drop the ack as undecodable
    and resend the refused result forever."""
    obj = ack_obj() | {"status": "rejected", "reason": "quarantined", "detail": "Ask the admin."}
    ack = decode(json.dumps(obj).encode())
    assert isinstance(ack, Ack) and ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.UNRECOGNIZED
    assert ack.detail == "quarantined: Ask the admin."


def test_a_missing_member_is_named() -> None:
    obj = ack_obj()
    del obj["detail"]
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert "detail" in str(caught.value)


def test_a_member_twice_is_refused() -> None:
    payload = encode(ack())[:-1] + b',"status":"rejected"}'
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert "twice" in str(caught.value)


@pytest.mark.parametrize(
    ("member", "value"),
    [("queue_depth", True), ("queue_depth", 1.0), ("token_present", 1), ("versions", [])],
)
def test_json_types_are_strict(member: str, value: object) -> None:
    obj = json.loads(encode(Heartbeat("dev-01", LinkState.ONLINE, at=AT, queue_depth=3)))
    obj[member] = value
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert member in str(caught.value)


def test_nan_and_infinity_are_not_numbers() -> None:
    obj = json.loads(encode(Heartbeat("dev-01", LinkState.ONLINE)))
    for constant in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(obj).replace(
            '"oldest_pending_age_s": null', f'"oldest_pending_age_s": {constant}'
        )
        with pytest.raises(DecodeError):
            decode(text.encode())


def test_a_body_goes_only_with_the_types_that_carry_one() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(encode(ack()) + b"\nextra")
    assert "no bytes" in str(caught.value)
    head = encode(ResultMessage.for_pdf("dev-01", PDF, {}, AT)).split(b"\n", 1)[0]
    with pytest.raises(DecodeError) as caught:
        decode(head)
    assert "bytes after the header" in str(caught.value)


def test_an_empty_result_has_an_empty_body() -> None:
    message = ResultMessage.for_pdf("dev-01", b"", {}, AT)
    assert encode(message).endswith(b"\n")
    assert decode(encode(message)) == message


def test_an_unknown_command_is_refused_naming_the_command_id() -> None:
    obj = json.loads(encode(Command("dev-01", "cmd-9", CommandName.PING, issued_at=AT)))
    obj["name"] = "self_destruct"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.command_id == "cmd-9" and caught.value.reason is RejectReason.SCHEMA


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"[]", b"null", b'"x"', b"{}", b'{"schema": "sohoa.ack/1"}', b"{\n}"],
)
def test_malformed_payloads_are_decode_errors(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert caught.value.reason is RejectReason.SCHEMA


def test_garbage_says_it_is_not_json() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"\xff not a message")
    assert "JSON" in str(caught.value)  # the ingest worker's rejection detail says so


def _reject_nothing_but_decode_errors(payload: bytes) -> None:
    try:
        message = decode(payload)
    except DecodeError as e:
        assert isinstance(e.reason, RejectReason)
        assert e.result_id is None or len(e.result_id) == 64
    else:
        assert decode(encode(message)) == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_garbage_bytes_only_ever_raise_decode_error(payload: bytes) -> None:
    _reject_nothing_but_decode_errors(payload)


@settings(max_examples=200, deadline=None)
@given(
    message=messages,
    replace=st.dictionaries(st.text(max_size=20), json_values, max_size=3),
    drop=st.sets(st.integers(min_value=0, max_value=12), max_size=3),
)
def test_almost_valid_messages_only_ever_raise_decode_error(
    message: Message, replace: dict[str, object], drop: set[int]
) -> None:
    head, sep, body = encode(message).partition(b"\n")
    obj = json.loads(head)
    keys = sorted(obj)
    for i in drop:
        obj.pop(keys[i % len(keys)], None)
    # Replace members that exist (by position) as well as add new ones.
    for i, (key, value) in enumerate(replace.items()):
        obj[keys[(i * 5) % len(keys)] if i % 2 else key] = value
    _reject_nothing_but_decode_errors(json.dumps(obj).encode() + sep + body)


@settings(max_examples=100, deadline=None)
@given(messages, st.binary(min_size=1, max_size=8), st.integers(min_value=0))
def test_corrupted_encodings_only_ever_raise_decode_error(
    message: Message, noise: bytes, where: int
) -> None:
    data = bytearray(encode(message))
    at = where % len(data)
    data[at : at + len(noise)] = noise
    _reject_nothing_but_decode_errors(bytes(data))
