"""The topic grammar: builders, the matcher, and device ids that cannot break out of their topic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import TopicError
from protocol.schema import MessageType
from protocol.topics import (
    CARRIES,
    DEVICE_ID_PATTERN,
    DEVICE_READS,
    DEVICE_WRITES,
    DeviceTopic,
    Kind,
    ack_topic,
    all_devices_filter,
    cmd_topic,
    device_subscriptions,
    ingest_subscriptions,
    parse,
    reply_topic,
    result_topic,
    retained,
    shared_filter,
    status_topic,
    validate_device_id,
)


def test_builders_follow_the_v1_grammar() -> None:
    assert result_topic("dev-01") == "sohoa/v1/dev/dev-01/result"
    assert ack_topic("dev-01") == "sohoa/v1/dev/dev-01/ack"
    assert status_topic("dev-01") == "sohoa/v1/dev/dev-01/status"
    assert cmd_topic("dev-01") == "sohoa/v1/dev/dev-01/cmd"
    assert all_devices_filter(Kind.RESULT) == "sohoa/v1/dev/+/result"
    assert shared_filter(Kind.RESULT) == "$share/ingest/sohoa/v1/dev/+/result"


@given(st.from_regex(rf"\A{DEVICE_ID_PATTERN}\Z"), st.sampled_from(list(Kind)))
def test_parse_inverts_every_builder(device_id: str, kind: Kind) -> None:
    from protocol.topics import device_topic

    assert parse(device_topic(device_id, kind)) == DeviceTopic(device_id, kind)


@pytest.mark.parametrize(
    "device_id",
    [
        "",
        "a/b",
        "+",
        "#",
        "dev 01",
        "x" * 65,
        "thiết-bị",
        "dev\n",
    ],
)
def test_device_ids_that_could_escape_their_topic_are_refused(device_id: str) -> None:
    with pytest.raises(TopicError):
        validate_device_id(device_id)
    with pytest.raises(TopicError):
        result_topic(device_id)


@pytest.mark.parametrize(
    "device_id",
    [
        "sohoa-server",
        "SOHOA-Server",
        "sohoa",
        "sohoa-ingest-host-0",
        "a+b",
        "$SYS",
        "$share",
        "a$b",
    ],
)
def test_reserved_identities_and_wildcards_are_not_device_ids(device_id: str) -> None:
    # "sohoa-server" is the server's identity in the broker's ACL: a device enrolled under it
    # would read every device's results. A wildcard or a '$' would not name one device.
    with pytest.raises(TopicError) as refused:
        validate_device_id(device_id)
    assert ("reserved" if device_id.lower().startswith("sohoa") else "no MQTT wildcard") in str(
        refused.value
    )
    for kind in Kind:
        with pytest.raises(TopicError):
            parse(f"sohoa/v1/dev/{device_id}/{kind.value}")
    assert validate_device_id("kiosk-sohoa-01") == "kiosk-sohoa-01"  # only as a prefix


@pytest.mark.parametrize(
    "topic",
    [
        "sohoa/v1/dev/dev-01/other",
        "sohoa/v2/dev/dev-01/result",
        "sohoa/v1/dev/+/result",
        "sohoa/v1/dev/a/b/result",
        "sohoa/v1/dev/dev-01/result/extra",
        "$share/ingest/sohoa/v1/dev/dev-01/result",
        "",
    ],
)
def test_parse_refuses_what_is_not_a_concrete_device_topic(topic: str) -> None:
    with pytest.raises(TopicError):
        parse(topic)


@given(st.text(max_size=80))
def test_parse_never_raises_anything_but_topic_error(topic: str) -> None:
    try:
        parsed = parse(topic)
    except TopicError:
        return
    assert topic == f"sohoa/v1/dev/{parsed.device_id}/{parsed.kind.value}"


def test_command_replies_have_their_own_topic() -> None:
    assert reply_topic("dev-01") == "sohoa/v1/dev/dev-01/reply"
    assert parse("sohoa/v1/dev/dev-01/reply") == DeviceTopic("dev-01", Kind.REPLY)


def test_who_writes_and_reads_what() -> None:
    assert set(DEVICE_WRITES) | set(DEVICE_READS) == set(Kind)
    assert not set(DEVICE_WRITES) & set(DEVICE_READS)
    assert device_subscriptions("dev-01") == ("sohoa/v1/dev/dev-01/ack", "sohoa/v1/dev/dev-01/cmd")
    assert ingest_subscriptions() == (
        "$share/ingest/sohoa/v1/dev/+/result",
        "$share/ingest/sohoa/v1/dev/+/reply",
    )


def test_only_the_heartbeat_is_retained() -> None:
    assert [k for k in Kind if retained(k)] == [Kind.STATUS]


def test_each_message_type_travels_on_exactly_one_kind_of_topic() -> None:
    assert CARRIES[Kind.RESULT] == {MessageType.RESULT, MessageType.MANIFEST, MessageType.CHUNK}
    carried = [t for kind in Kind for t in CARRIES[kind]]
    assert sorted(carried, key=lambda t: t.value) == sorted(MessageType, key=lambda t: t.value)
