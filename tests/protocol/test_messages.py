"""Result messages, manifests, chunks and acks: self-validation and their canonical bytes."""

from __future__ import annotations

import json

import pytest

from protocol.encoding import decode, encode
from protocol.errors import DecodeError, TopicError
from protocol.messages import (
    ACK_SCHEMA,
    KNOWN_FIELD_KEYS,
    MAX_CHUNK_COUNT,
    MAX_FIELDS_BYTES,
    MAX_RESULT_BYTES,
    MAX_TEXT,
    RESULT_SCHEMA,
    Ack,
    AckStatus,
    ResultChunk,
    ResultManifest,
    ResultMessage,
    chunk_count,
    chunk_span,
    sha256_hex,
)
from protocol.reasons import RejectReason

PDF = b"%PDF-1.7\n% signed result\n%%EOF\n"
FIELDS = {"so_ky_hieu": "123/QĐ-UBND", "ho_ten": "Nguyễn Văn An", "cccd": None}
AT = "2025-03-01T02:03:04+00:00"
RID = sha256_hex(PDF)


def result() -> ResultMessage:
    return ResultMessage.for_pdf("dev-01", PDF, FIELDS, AT, {"pages": "1"})


def header(payload: bytes) -> dict[str, object]:
    obj: dict[str, object] = json.loads(payload.split(b"\n", 1)[0])
    return obj


def test_result_round_trips_through_canonical_bytes() -> None:
    message = result()
    data = encode(message)
    assert decode(data) == message
    assert encode(decode(data)) == data  # canonical: same message, same bytes
    head, body = data.split(b"\n", 1)
    assert body == PDF  # raw, not base64: a third fewer bytes on a field link
    obj = json.loads(head)
    assert obj["schema"] == RESULT_SCHEMA == "sohoa.result/1"
    assert obj["size"] == len(PDF)
    assert list(obj) == sorted(obj)
    assert "Nguyễn Văn An" in head.decode()  # UTF-8, not \u escapes


def test_result_identity_is_the_sha256_of_the_pdf() -> None:
    assert result().result_id == sha256_hex(PDF)
    with pytest.raises(TypeError):
        result().fields["ho_ten"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        result().metadata["pages"] = "2"  # type: ignore[index]


def test_a_result_without_metadata_is_read_as_empty_metadata() -> None:
    obj = header(encode(result()))
    del obj["metadata"]
    payload = json.dumps(obj).encode() + b"\n" + PDF
    assert decode(payload).metadata == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "ack",
    [
        Ack(result_id=RID, status=AckStatus.ACCEPTED, record_id="rec-1"),
        Ack(result_id=RID, status=AckStatus.DUPLICATE, record_id="rec-1"),
        Ack(
            result_id=RID,
            status=AckStatus.REJECTED,
            reason=RejectReason.SIGNATURE,
            detail="the signer is not registered for this device",
        ),
        Ack(result_id=RID, status=AckStatus.NEED_CHUNKS, missing=(0, 3, 7), chunk_size=65536),
    ],
)
def test_acks_round_trip(ack: Ack) -> None:
    assert decode(encode(ack)) == ack
    assert header(encode(ack))["schema"] == ACK_SCHEMA
    assert ack.final is (ack.status is not AckStatus.NEED_CHUNKS)


def test_a_changed_pdf_is_rejected_with_reason_hash() -> None:
    data = encode(result())
    tampered = data[:-3] + b"XYZ"
    with pytest.raises(DecodeError) as caught:
        decode(tampered)
    assert caught.value.reason is RejectReason.HASH
    assert caught.value.result_id == RID  # the rejection can be addressed to the result
    with pytest.raises(DecodeError) as caught:
        ResultMessage("dev-01", "0" * 64, PDF, {}, AT)
    assert caught.value.reason is RejectReason.HASH


def test_a_result_cut_in_transit_is_a_schema_error() -> None:
    data = encode(result())
    with pytest.raises(DecodeError) as caught:
        decode(data[:-1])
    assert caught.value.reason is RejectReason.SCHEMA
    assert "cut" in str(caught.value)


def test_an_oversized_result_is_rejected_with_reason_size() -> None:
    big = bytes(MAX_RESULT_BYTES + 1)
    with pytest.raises(DecodeError) as caught:
        ResultMessage.for_pdf("dev-01", big, {}, AT)
    assert caught.value.reason is RejectReason.SIZE
    obj = header(encode(result()))
    obj["size"] = MAX_RESULT_BYTES + 1  # refused on the claim, before hashing anything
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode() + b"\n" + PDF)
    assert caught.value.reason is RejectReason.SIZE


def test_a_rejection_needs_a_reason_and_only_a_rejection_has_one() -> None:
    with pytest.raises(DecodeError):
        Ack(result_id=RID, status=AckStatus.REJECTED)
    with pytest.raises(DecodeError):
        Ack(result_id=RID, status=AckStatus.ACCEPTED, reason=RejectReason.HASH)


@pytest.mark.parametrize(
    ("missing", "chunk_size"),
    [((), 64), ((1,), None), ((2, 1), 64), ((1, 1), 64), ((-1,), 64), ((MAX_CHUNK_COUNT,), 64)],
)
def test_need_chunks_lists_missing_indexes_ascending_with_their_chunk_size(
    missing: tuple[int, ...], chunk_size: int | None
) -> None:
    with pytest.raises(DecodeError):
        Ack(result_id=RID, status=AckStatus.NEED_CHUNKS, missing=missing, chunk_size=chunk_size)


def test_missing_chunks_go_only_with_need_chunks() -> None:
    with pytest.raises(DecodeError):
        Ack(result_id=RID, status=AckStatus.ACCEPTED, missing=(1,), chunk_size=4)


def test_an_ack_names_a_result_by_its_sha256() -> None:
    with pytest.raises(DecodeError):
        Ack(result_id="a", status=AckStatus.ACCEPTED)
    with pytest.raises(DecodeError):
        Ack(result_id=RID.upper(), status=AckStatus.ACCEPTED)


def test_a_long_detail_is_cut_not_refused() -> None:
    ack = Ack(
        result_id=RID, status=AckStatus.REJECTED, reason=RejectReason.HASH, detail="x" * 10**5
    )
    assert len(ack.detail) == 4096 and ack.detail.endswith("…")


def test_constructing_with_another_schema_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        Ack(result_id=RID, status=AckStatus.ACCEPTED, schema="sohoa.ack/9")
    assert caught.value.reason is RejectReason.SCHEMA


def test_a_device_id_with_mqtt_wildcards_is_refused() -> None:
    obj = header(encode(result()))
    obj["device_id"] = "dev/+/#"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode() + b"\n" + PDF)
    assert caught.value.reason is RejectReason.SCHEMA
    with pytest.raises(TopicError):
        ResultMessage.for_pdf("dev/+", PDF, {}, AT)


def test_created_at_must_be_iso_8601() -> None:
    ResultMessage.for_pdf("dev-01", PDF, {}, "2025-03-01")  # a date alone is ISO 8601 too
    with pytest.raises(DecodeError):
        ResultMessage.for_pdf("dev-01", PDF, {}, "yesterday")
    # fromisoformat reads any number of fractional digits; the repository keeps 64 characters.
    with pytest.raises(DecodeError, match="at most 64 characters"):
        ResultMessage.for_pdf("dev-01", PDF, {}, "2025-03-01T02:03:04." + "1" * 5000)


def test_metadata_keys_are_plain_names_and_values_strings() -> None:
    with pytest.raises(DecodeError):
        ResultMessage.for_pdf("dev-01", PDF, {}, AT, {"Pages": "1"})
    with pytest.raises(DecodeError):
        ResultMessage.for_pdf("dev-01", PDF, {}, AT, {"pages": 1})  # type: ignore[dict-item]


def test_only_the_protocols_field_keys_travel() -> None:
    every = ResultMessage.for_pdf("dev-01", PDF, dict.fromkeys(sorted(KNOWN_FIELD_KEYS), "x"), AT)
    assert decode(encode(every)) == every
    with pytest.raises(DecodeError, match="unknown field 'ghi_chu'") as caught:
        ResultMessage.for_pdf("dev-01", PDF, {**FIELDS, "ghi_chu": "x"}, AT)
    assert caught.value.reason is RejectReason.SCHEMA and caught.value.result_id == RID


def test_a_manifest_of_1200_unknown_fields_is_refused_naming_its_result() -> None:
    # The attack: 1,200 fields of 4 KB each, 4.9 MB a manifest, staged outside any quota.
    manifest = ResultManifest("dev-01", RID, size=25, chunk_size=10, fields=FIELDS, created_at=AT)
    obj = header(encode(manifest))
    obj["fields"] = {f"f{i:04d}": "x" * 4000 for i in range(1200)}
    with pytest.raises(DecodeError, match="at most 12 fields, this one 1200") as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.reason is RejectReason.SCHEMA and caught.value.result_id == RID


def test_fields_and_metadata_are_capped_together() -> None:
    # Each value within MAX_TEXT, the whole over the cap: 12 x 4096 three-byte letters.
    wide = dict.fromkeys(sorted(KNOWN_FIELD_KEYS), "ữ" * MAX_TEXT)
    with pytest.raises(DecodeError, match=f"over the {MAX_FIELDS_BYTES}-byte limit") as caught:
        ResultMessage.for_pdf("dev-01", PDF, wide, AT)
    assert caught.value.reason is RejectReason.SIZE and caught.value.result_id == RID
    many = {f"k{i:03d}": "x" * 1000 for i in range(60)}
    with pytest.raises(DecodeError) as caught:
        ResultManifest("dev-01", RID, 25, 10, FIELDS, AT, metadata=many)
    assert caught.value.reason is RejectReason.SIZE
    # Escapes count as they travel: 12,000 control characters are 72,000 bytes of JSON (in
    # metadata: a field cannot hold them at all, see test_xmltext.py).
    escaped = dict.fromkeys(("note", "procedure", "app_version"), "\x01" * 4000)
    with pytest.raises(DecodeError, match=f"over the {MAX_FIELDS_BYTES}-byte limit"):
        ResultMessage.for_pdf("dev-01", PDF, FIELDS, AT, metadata=escaped)
    assert len(header_bytes(encode(result()))) < 1024  # a real result's header


def header_bytes(payload: bytes) -> bytes:
    return payload.split(b"\n", 1)[0]


# --- chunked results ---


def test_chunk_geometry() -> None:
    assert chunk_count(0, 10) == 0
    assert chunk_count(10, 10) == 1
    assert chunk_count(11, 10) == 2
    assert chunk_span(25, 10, 0) == (0, 10)
    assert chunk_span(25, 10, 2) == (20, 25)


def test_a_manifest_says_its_chunk_count_and_round_trips() -> None:
    manifest = ResultManifest("dev-01", RID, size=25, chunk_size=10, fields=FIELDS, created_at=AT)
    assert manifest.chunk_count == 3
    data = encode(manifest)
    assert b"\n" not in data  # a manifest carries no bytes
    assert header(data)["chunk_count"] == 3
    assert decode(data) == manifest
    assert manifest.same_transfer(ResultManifest(**{**manifest.__dict__, "resume": True}))
    assert not manifest.same_transfer(ResultManifest(**{**manifest.__dict__, "chunk_size": 9}))


def test_a_manifest_whose_chunk_count_disagrees_is_refused() -> None:
    manifest = ResultManifest("dev-01", RID, size=25, chunk_size=10, fields={}, created_at=AT)
    obj = header(encode(manifest))
    obj["chunk_count"] = 2
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    assert caught.value.reason is RejectReason.SCHEMA and caught.value.result_id == RID


def test_too_many_chunks_is_a_size_problem() -> None:
    with pytest.raises(DecodeError) as caught:
        ResultManifest(
            "dev-01", RID, size=MAX_CHUNK_COUNT + 1, chunk_size=1, fields={}, created_at=AT
        )
    assert caught.value.reason is RejectReason.SIZE


def test_a_chunk_round_trips_with_raw_bytes() -> None:
    chunk = ResultChunk.cut("dev-01", RID, PDF, 10, 3)
    assert chunk.data == PDF[30:31] and chunk.intact
    data = encode(chunk)
    assert data.endswith(b"\n" + chunk.data)
    assert decode(data) == chunk


def test_a_damaged_chunk_still_decodes_but_is_not_intact() -> None:
    # The receiver asks for it again rather than rejecting the result.
    data = bytearray(encode(ResultChunk.cut("dev-01", RID, PDF, 10, 0)))
    data[-1] ^= 0xFF
    chunk = decode(bytes(data))
    assert isinstance(chunk, ResultChunk) and not chunk.intact


@pytest.mark.parametrize(("index", "length"), [(3, 2), (4, 0), (-1, 10), (0, 9)])
def test_a_chunk_must_fit_its_geometry(index: int, length: int) -> None:
    data = bytes(length)
    with pytest.raises(DecodeError):
        ResultChunk("dev-01", RID, 31, 10, index, sha256_hex(data), data)
