"""The topic grammar: builders, the matcher, and device ids that cannot break out of their topic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import TopicError
from protocol.topics import (
    DEVICE_ID_PATTERN,
    DeviceTopic,
    Kind,
    ack_topic,
    all_devices_filter,
    cmd_topic,
    parse,
    result_topic,
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
