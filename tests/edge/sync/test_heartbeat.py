"""When the sync agent sends a heartbeat between its periodic ones: at once (within 2 s) when the
standing changes, seldom when only the queue's depth does (a flush changes it with every ack)."""

from __future__ import annotations

from types import MappingProxyType

from edge.sync.heartbeat import DEPTH_BEAT_GAP_S, HEARTBEAT_MIN_GAP_S, StatusSignature
from edge.sync.outbox import OutboxStatus, State
from protocol.status import LinkState


def signature(
    depth: int, *, error: str | None = None, link: LinkState = LinkState.ONLINE
) -> StatusSignature:
    counts = dict.fromkeys(State, 0)
    counts[State.SENT] = depth
    status = OutboxStatus(MappingProxyType(counts), None, error, None, None)
    return StatusSignature.of(link, status)


def test_the_first_status_and_a_change_of_standing_call_for_a_beat_within_the_short_gap() -> None:
    assert signature(3).calls_for_beat(None, HEARTBEAT_MIN_GAP_S)
    for changed in (
        signature(0),
        signature(5, error="broker refused"),
        signature(5, link=LinkState.STOPPED),
    ):
        assert not changed.calls_for_beat(signature(5), HEARTBEAT_MIN_GAP_S - 0.1)
        assert changed.calls_for_beat(signature(5), HEARTBEAT_MIN_GAP_S)
    assert signature(4).calls_for_beat(signature(0), HEARTBEAT_MIN_GAP_S)  # the queue filled


def test_a_change_of_the_depth_alone_waits_for_the_long_gap() -> None:
    assert not signature(7).calls_for_beat(signature(8), HEARTBEAT_MIN_GAP_S)
    assert not signature(7).calls_for_beat(signature(8), DEPTH_BEAT_GAP_S - 0.1)
    assert signature(7).calls_for_beat(signature(8), DEPTH_BEAT_GAP_S)


def test_no_change_calls_for_nothing() -> None:
    assert not signature(2).calls_for_beat(signature(2), 1e6)
