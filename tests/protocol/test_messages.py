"""Wire messages and their canonical encoding: round trips, self-validation, and a decoder that
answers anything it cannot read with a DecodeError and a reason (never another exception)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import (
    ACK_SCHEMA,
    MAX_RESULT_BYTES,
    RESULT_SCHEMA,
    Ack,
    AckStatus,
    RejectReason,
    ResultMessage,
    sha256_hex,
)

PDF = b"%PDF-1.7\n% signed result\n%%EOF\n"
FIELDS = {"so_ky_hieu": "123/QĐ-UBND", "ho_ten": "Nguyễn Văn An", "cccd": None}


def result() -> ResultMessage:
    return ResultMessage.for_pdf("dev-01", PDF, FIELDS, "2025-03-01T02:03:04+00:00")


def test_result_round_trips_through_canonical_bytes() -> None:
    message = result()
    data = encode(message)
    assert decode(data) == message
    assert encode(decode(data)) == data  # canonical: same message, same bytes
    obj = json.loads(data)
    assert obj["schema"] == RESULT_SCHEMA
    assert base64.b64decode(obj["pdf"]) == PDF
    assert "Nguyễn Văn An" in data.decode()  # UTF-8, not \u escapes


def test_result_identity_is_the_sha256_of_the_pdf() -> None:
    assert result().result_id == sha256_hex(PDF)
    with pytest.raises(TypeError):
        result().fields["ho_ten"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "ack",
    [
        Ack(result_id="a" * 64, status=AckStatus.ACCEPTED, record_id="rec-1"),
        Ack(result_id="a" * 64, status=AckStatus.DUPLICATE, record_id="rec-1"),
        Ack(
            result_id="a" * 64,
            status=AckStatus.REJECTED,
            reason=RejectReason.SIGNATURE,
            detail="the signer is not registered for this device",
        ),
    ],
)
def test_acks_round_trip(ack: Ack) -> None:
    assert decode(encode(ack)) == ack
    assert json.loads(encode(ack))["schema"] == ACK_SCHEMA


def test_a_changed_pdf_is_rejected_with_reason_hash() -> None:
    obj = json.loads(encode(result()))
    obj["pdf"] = base64.b64encode(PDF + b"tampered").decode()
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.reason == RejectReason.HASH.value == "hash"
    with pytest.raises(DecodeError) as caught:
        ResultMessage("dev-01", "0" * 64, PDF, {}, "2025-03-01T00:00:00+00:00")
    assert caught.value.reason == "hash"


@pytest.mark.parametrize("schema", ["sohoa.result/2", "sohoa.nonsense/1", None, 7])
def test_an_unknown_schema_is_rejected_with_reason_schema(schema: object) -> None:
    obj = json.loads(encode(result()))
    obj["schema"] = schema
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.reason == RejectReason.SCHEMA.value == "schema"


def test_constructing_with_another_schema_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        Ack(result_id="a", status=AckStatus.ACCEPTED, schema="sohoa.ack/9")
    assert caught.value.reason == "schema"


def test_an_oversized_result_is_rejected_with_reason_size() -> None:
    big = bytes(MAX_RESULT_BYTES + 1)
    with pytest.raises(DecodeError) as caught:
        ResultMessage.for_pdf("dev-01", big, {}, "2025-03-01T00:00:00+00:00")
    assert caught.value.reason == "size"


def test_a_rejection_needs_a_reason_and_only_a_rejection_has_one() -> None:
    with pytest.raises(DecodeError):
        Ack(result_id="a", status=AckStatus.REJECTED)
    with pytest.raises(DecodeError):
        Ack(result_id="a", status=AckStatus.ACCEPTED, reason=RejectReason.HASH)


def test_a_device_id_with_mqtt_wildcards_is_refused() -> None:
    obj = json.loads(encode(result()))
    obj["device_id"] = "dev/+/#"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.reason == "schema"


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"[]", b"null", b'"x"', b"{}", b'{"schema": "sohoa.ack/1"}'],
)
def test_malformed_payloads_are_decode_errors(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert caught.value.reason == "schema"


def _reject_nothing_but_decode_errors(payload: bytes) -> None:
    try:
        message = decode(payload)
    except DecodeError as e:
        assert e.reason in {r.value for r in RejectReason}
    else:
        assert encode(message) and decode(encode(message)) == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_garbage_bytes_only_ever_raise_decode_error(payload: bytes) -> None:
    _reject_nothing_but_decode_errors(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    schema=st.sampled_from([RESULT_SCHEMA, ACK_SCHEMA]),
    replace=st.dictionaries(
        st.sampled_from(
            [
                "device_id",
                "result_id",
                "pdf",
                "fields",
                "created_at",
                "status",
                "reason",
                "detail",
                "record_id",
            ]
        ),
        json_values,
        max_size=4,
    ),
    drop=st.sets(st.sampled_from(["device_id", "result_id", "pdf", "fields", "status", "detail"])),
)
def test_almost_valid_messages_only_ever_raise_decode_error(
    schema: str, replace: dict[str, object], drop: set[str]
) -> None:
    valid = (
        result() if schema == RESULT_SCHEMA else Ack(result_id="a" * 64, status=AckStatus.ACCEPTED)
    )
    obj = json.loads(encode(valid))
    obj.update(replace)
    for key in drop:
        obj.pop(key, None)
    _reject_nothing_but_decode_errors(json.dumps(obj).encode())


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=8), st.integers(min_value=0))
def test_corrupted_encodings_only_ever_raise_decode_error(noise: bytes, where: int) -> None:
    data = bytearray(encode(result()))
    at = where % len(data)
    data[at : at + len(noise)] = noise
    _reject_nothing_but_decode_errors(bytes(data))
