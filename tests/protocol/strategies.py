"""Hypothesis strategies for every v1 message (shared by the protocol tests)."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from protocol.commands import Command, CommandName, CommandReply, ReplyStatus
from protocol.messages import (
    KNOWN_FIELD_KEYS,
    Ack,
    AckStatus,
    ResultChunk,
    ResultManifest,
    ResultMessage,
    chunk_count,
    sha256_hex,
)
from protocol.reasons import RejectReason
from protocol.status import Heartbeat, LinkState
from protocol.topics import DEVICE_ID_PATTERN

device_ids = st.from_regex(rf"\A{DEVICE_ID_PATTERN}\Z")
command_ids = st.from_regex(r"\A[A-Za-z0-9._-]{1,64}\Z")
sha256s = st.binary(max_size=16).map(sha256_hex)
timestamps = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
).map(lambda t: t.isoformat())
storable_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
"""What a message's text may hold: a decoder refuses lone surrogates and NUL (no repository can
store them), so the messages built here hold neither."""
texts = st.text(storable_characters, max_size=40)
xml_characters = st.characters(
    exclude_categories=["Cs"],
    exclude_characters=[chr(c) for c in range(0x20) if c not in (9, 10, 13)] + ["\ufffe", "\uffff"],
)
"""What a field's text may hold: besides lone surrogates and NUL, a decoder refuses in a field
what XML cannot carry (the fields are signed into the PDF's XMP; `protocol.xmltext`)."""
field_maps = st.dictionaries(
    st.sampled_from(sorted(KNOWN_FIELD_KEYS)),
    st.none() | st.text(xml_characters, max_size=40),
    max_size=6,
)
metadata_maps = st.dictionaries(st.from_regex(r"\A[a-z0-9_.-]{1,12}\Z"), texts, max_size=4)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(texts, json_values, max_size=4)

results = st.builds(
    ResultMessage.for_pdf,
    device_ids,
    st.binary(max_size=300),
    field_maps,
    timestamps,
    metadata_maps,
)


@st.composite
def manifests(draw: st.DrawFn) -> ResultManifest:
    size = draw(st.integers(min_value=0, max_value=10**6))
    chunk_size = draw(st.integers(min_value=max(1, -(-size // 4096)), max_value=2 * 10**6))
    return ResultManifest(
        device_id=draw(device_ids),
        result_id=draw(sha256s),
        size=size,
        chunk_size=chunk_size,
        fields=draw(field_maps),
        created_at=draw(timestamps),
        metadata=draw(metadata_maps),
        resume=draw(st.booleans()),
    )


@st.composite
def chunks(draw: st.DrawFn) -> ResultChunk:
    pdf = draw(st.binary(min_size=1, max_size=400))
    chunk_size = draw(st.integers(min_value=1, max_value=len(pdf) + 5))
    index = draw(st.integers(min_value=0, max_value=chunk_count(len(pdf), chunk_size) - 1))
    return ResultChunk.cut(draw(device_ids), sha256_hex(pdf), pdf, chunk_size, index)


@st.composite
def acks(draw: st.DrawFn) -> Ack:
    status = draw(st.sampled_from(AckStatus))
    result_id = draw(sha256s)
    detail = draw(texts)
    if status is AckStatus.REJECTED:
        return Ack(result_id, status, reason=draw(st.sampled_from(RejectReason)), detail=detail)
    if status is AckStatus.NEED_CHUNKS:
        missing = draw(st.sets(st.integers(min_value=0, max_value=4095), min_size=1, max_size=20))
        return Ack(
            result_id,
            status,
            detail=detail,
            missing=tuple(sorted(missing)),
            chunk_size=draw(st.integers(min_value=1, max_value=2**24)),
        )
    return Ack(result_id, status, detail=detail, record_id=draw(st.none() | texts))


heartbeats = st.builds(
    Heartbeat,
    device_id=device_ids,
    state=st.sampled_from(LinkState),
    at=st.none() | timestamps,
    queue_depth=st.none() | st.integers(min_value=0, max_value=10**6),
    oldest_pending_age_s=st.none()
    | st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    disk_free_bytes=st.none() | st.integers(min_value=0, max_value=2**50),
    token_present=st.none() | st.booleans(),
    versions=st.dictionaries(
        st.from_regex(r"\A[a-z0-9_.-]{1,10}\Z"),
        st.text(storable_characters, max_size=10),
        max_size=3,
    ),
    last_error=st.none() | texts,
)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    name = draw(st.sampled_from(CommandName))
    args = draw(json_objects)
    if name is CommandName.CONFIG:
        args["settings"] = draw(json_objects)
    elif name is CommandName.CATALOG:
        args["version"] = draw(st.text(storable_characters, min_size=1, max_size=8))
    elif name is CommandName.REVOKE:
        args["reason"] = draw(st.text(storable_characters, min_size=1, max_size=40))
    return Command(
        device_id=draw(device_ids),
        command_id=draw(command_ids),
        name=name,
        issued_at=draw(timestamps),
        args=args,
    )


replies = st.builds(
    CommandReply,
    device_id=device_ids,
    command_id=command_ids,
    status=st.sampled_from(ReplyStatus),
    detail=texts,
    data=json_objects,
    at=st.none() | timestamps,
)

messages = results | manifests() | chunks() | acks() | heartbeats | commands() | replies
