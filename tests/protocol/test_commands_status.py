"""Heartbeats, commands and replies: what they accept, and answering what a device cannot read."""

from __future__ import annotations

import json

import pytest

from protocol.commands import (
    Command,
    CommandName,
    CommandReply,
    ReplyStatus,
    reply_to_undecodable,
)
from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.status import Heartbeat, LinkState

AT = "2025-03-01T02:03:04+00:00"


def test_a_heartbeat_carries_what_the_admin_watches() -> None:
    beat = Heartbeat(
        "dev-01",
        LinkState.ONLINE,
        at=AT,
        queue_depth=3000,
        oldest_pending_age_s=7 * 86400,
        disk_free_bytes=12 * 2**30,
        token_present=True,
        versions={"sohoa": "0.1.0", "protocol": "1"},
        last_error=None,
    )
    assert isinstance(beat.oldest_pending_age_s, float)
    obj = json.loads(encode(beat))
    assert obj["schema"] == "sohoa.status/1"
    assert obj["queue_depth"] == 3000 and obj["token_present"] is True
    assert decode(encode(beat)) == beat


def test_the_last_will_says_offline_and_knows_nothing_else() -> None:
    will = Heartbeat.last_will("dev-01", {"sohoa": "0.1.0"})
    assert will.state is LinkState.OFFLINE
    assert will.at is None and will.queue_depth is None and will.token_present is None
    assert decode(encode(will)) == will


@pytest.mark.parametrize(
    "kwargs",
    [
        {"queue_depth": -1},
        {"disk_free_bytes": -5},
        {"oldest_pending_age_s": float("nan")},
        {"oldest_pending_age_s": -1.0},
        {"versions": {"Sohoa": "1"}},
    ],
)
def test_nonsense_heartbeats_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(DecodeError):
        Heartbeat("dev-01", LinkState.ONLINE, **kwargs)  # type: ignore[arg-type]


def test_a_long_last_error_is_cut() -> None:
    beat = Heartbeat("dev-01", LinkState.STOPPED, last_error="e" * 5000)
    assert beat.last_error is not None and len(beat.last_error) == 1024


@pytest.mark.parametrize(
    ("name", "args"),
    [
        (CommandName.PING, {}),
        (CommandName.CONFIG, {"settings": {"ack_timeout_s": 60}}),
        (CommandName.CATALOG, {"version": "2025.03", "items": [{"code": "1.001"}]}),
        (CommandName.REVOKE, {"reason": "thiết bị bị mất"}),
    ],
)
def test_commands_round_trip(name: CommandName, args: dict[str, object]) -> None:
    command = Command("dev-01", "cmd-1", name, issued_at=AT, args=args)  # type: ignore[arg-type]
    assert decode(encode(command)) == command


@pytest.mark.parametrize(
    ("name", "args"),
    [
        (CommandName.REVOKE, {}),
        (CommandName.REVOKE, {"reason": ""}),
        (CommandName.CONFIG, {"settings": "x"}),
        (CommandName.CATALOG, {}),
        (CommandName.PING, {"x": float("inf")}),
        (CommandName.PING, {"x": object()}),
    ],
)
def test_commands_without_their_arguments_are_refused(
    name: CommandName, args: dict[str, object]
) -> None:
    with pytest.raises((DecodeError, TypeError)):
        Command("dev-01", "cmd-1", name, issued_at=AT, args=args)  # type: ignore[arg-type]


def test_a_command_id_is_a_plain_name() -> None:
    with pytest.raises(DecodeError):
        Command("dev-01", "cmd 1", CommandName.PING, issued_at=AT)


def test_a_reply_round_trips() -> None:
    reply = CommandReply(
        "dev-01", "cmd-1", ReplyStatus.OK, detail="pong", data={"queue_depth": 2}, at=AT
    )
    assert decode(encode(reply)) == reply


def test_a_command_of_a_newer_version_is_answered_unsupported_with_the_reason() -> None:
    obj = json.loads(encode(Command("dev-01", "cmd-7", CommandName.PING, issued_at=AT)))
    obj["schema"] = "sohoa.cmd/2"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    reply = reply_to_undecodable("dev-01", caught.value, at=AT)
    assert reply is not None
    assert reply.command_id == "cmd-7" and reply.status is ReplyStatus.UNSUPPORTED
    assert reply.detail.startswith("version:") and "sohoa.cmd/1" in reply.detail


def test_an_unreadable_command_without_an_id_has_nobody_to_answer() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"\xff")
    assert reply_to_undecodable("dev-01", caught.value) is None
