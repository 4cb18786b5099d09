"""The sender state machine, driven through a simulated link (no broker, no clock: sans-IO)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.messages import MAX_CHUNK_COUNT, Ack, AckStatus
from protocol.reasons import RejectReason
from protocol.sender import (
    TRANSITIONS,
    WHOLE,
    AckOutcome,
    Part,
    ResultState,
    Sender,
    SenderEvent,
    SenderStateError,
    Transmission,
)


def rid(i: int) -> str:
    return f"{i:064x}"


def polled(sender: Sender, now: float) -> list[str]:
    """The results `sender.poll(now)` says to publish, as the sync agent reads them."""
    return [t.result_id for t in sender.poll(now)]


def accepted(result_id: str) -> Ack:
    return Ack(result_id=result_id, status=AckStatus.ACCEPTED, record_id=f"rec-{result_id[-4:]}")


def test_new_results_go_out_in_offer_order_within_the_window() -> None:
    sender = Sender(window=3)
    for i in range(5):
        sender.offer(rid(i))
    assert polled(sender, 0.0) == [rid(0), rid(1), rid(2)]
    assert (sender.in_flight, sender.pending) == (3, 2)
    assert polled(sender, 1.0) == []  # window full, nothing overdue

    assert sender.on_ack(accepted(rid(1))) is AckOutcome.DONE
    assert polled(sender, 2.0) == [rid(3)]
    assert sender.state_of(rid(1)) is ResultState.DONE
    assert sender.state_of(rid(4)) is ResultState.PENDING


def test_offering_twice_is_a_no_op() -> None:
    sender = Sender()
    sender.offer(rid(1))
    sender.offer(rid(1))
    assert sender.pending == 1
    assert polled(sender, 0.0) == [rid(1)]
    sender.offer(rid(1))  # in flight: still one copy
    assert (sender.pending, sender.in_flight) == (0, 1)
    sender.on_ack(accepted(rid(1)))
    sender.offer(rid(1))  # answered: never sent again
    assert polled(sender, 100.0) == []
    assert sender.idle


def test_an_overdue_result_is_sent_again_with_doubling_waits() -> None:
    sender = Sender(retransmit_after=10.0, max_retransmit_after=25.0)
    sender.offer(rid(7))
    assert polled(sender, 0.0) == [rid(7)]
    assert sender.next_deadline() == 10.0
    assert polled(sender, 9.9) == []
    assert polled(sender, 10.0) == [rid(7)]  # first resend after 10 s
    assert polled(sender, 29.9) == []
    assert polled(sender, 30.0) == [rid(7)]  # then after 20 s
    assert polled(sender, 55.0) == [rid(7)]  # then capped at 25 s
    assert sender.in_flight == 1


def test_acks_are_classified() -> None:
    sender = Sender()
    sender.offer(rid(1))
    polled(sender, 0.0)
    rejected = Ack(result_id=rid(1), status=AckStatus.REJECTED, reason=RejectReason.SIGNATURE)
    assert sender.on_ack(rejected) is AckOutcome.DONE  # a rejection ends the result too
    assert sender.on_ack(accepted(rid(1))) is AckOutcome.DUPLICATE
    assert sender.on_ack(accepted(rid(2))) is AckOutcome.UNKNOWN
    assert sender.idle


def test_an_ack_for_a_copy_sent_before_a_restart_ends_a_pending_result() -> None:
    sender = Sender()
    sender.offer(rid(1))
    assert sender.on_ack(accepted(rid(1))) is AckOutcome.DONE
    assert polled(sender, 0.0) == []


def test_a_result_given_up_leaves_the_window_for_good() -> None:
    sender = Sender(window=1)
    sender.offer(rid(1))
    sender.offer(rid(2))
    assert polled(sender, 0.0) == [rid(1)]
    sender.give_up(rid(1))  # e.g. its stored PDF turned out damaged
    assert sender.state_of(rid(1)) is ResultState.FAILED
    assert polled(sender, 0.0) == [rid(2)]
    sender.offer(rid(1))
    assert polled(sender, 1000.0) == [rid(2)]  # only the overdue one, not the failed one
    assert sender.on_ack(accepted(rid(1))) is AckOutcome.DONE  # a copy sent earlier got through
    with pytest.raises(SenderStateError):
        sender.give_up(rid(1))
    with pytest.raises(SenderStateError):
        sender.give_up(rid(9))


def test_done_ids_are_remembered_within_a_bound() -> None:
    sender = Sender(remember_done=2)
    for i in range(3):
        sender.offer(rid(i))
        sender.on_ack(accepted(rid(i)))
    assert sender.state_of(rid(0)) is None
    assert sender.on_ack(accepted(rid(0))) is AckOutcome.UNKNOWN
    assert sender.on_ack(accepted(rid(2))) is AckOutcome.DUPLICATE


def test_the_table_has_no_move_out_of_nothing_but_offer() -> None:
    assert {e for (s, e) in TRANSITIONS if s is None} == {SenderEvent.OFFER}
    assert all(
        TRANSITIONS[(ResultState.DONE, e)] is ResultState.DONE
        for e in SenderEvent
        if (ResultState.DONE, e) in TRANSITIONS
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"retransmit_after": 0.0},
        {"retransmit_after": 5.0, "max_retransmit_after": 1.0},
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Sender(**kwargs)  # type: ignore[arg-type]


class LossyServer:
    """The far side of a lossy link: stores each result once, acks every copy it receives
    (DUPLICATE after the first), and the link drops, duplicates and delays messages both ways."""

    def __init__(self, rnd: random.Random, p_drop: float, p_dup: float) -> None:
        self.rnd = rnd
        self.p_drop = p_drop
        self.p_dup = p_dup
        self.stored: Counter[str] = Counter()  # copies received per result
        self.acks_in_transit: list[Ack] = []

    def receive(self, result_id: str) -> None:
        for _ in range(self._copies()):
            status = AckStatus.DUPLICATE if self.stored[result_id] else AckStatus.ACCEPTED
            self.stored[result_id] += 1
            for _ in range(self._copies()):
                self.acks_in_transit.append(Ack(result_id=result_id, status=status))

    def deliver_some(self) -> list[Ack]:
        """Acks arriving now, in any order; the others stay in transit."""
        self.rnd.shuffle(self.acks_in_transit)
        cut = self.rnd.randint(0, len(self.acks_in_transit))
        arriving, self.acks_in_transit = self.acks_in_transit[:cut], self.acks_in_transit[cut:]
        return arriving

    def _copies(self) -> int:
        if self.rnd.random() < self.p_drop:
            return 0
        return 2 if self.rnd.random() < self.p_dup else 1


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    window=st.integers(min_value=1, max_value=8),
    p_drop=st.floats(min_value=0.0, max_value=0.6),
    p_dup=st.floats(min_value=0.0, max_value=0.5),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_result_ends_acked_exactly_once_over_a_lossy_link(
    n: int, window: int, p_drop: float, p_dup: float, seed: int
) -> None:
    rnd = random.Random(seed)  # the link's choices, reproducible from the seed
    sender = Sender(window=window, retransmit_after=3.0, max_retransmit_after=12.0)
    server = LossyServer(rnd, p_drop, p_dup)
    offered = [rid(i) for i in range(n)]
    done: Counter[str] = Counter()
    to_offer = list(offered)
    now = 0.0
    for _step in range(20_000):
        # Results arrive over time (and the outbox may offer one again after a restart).
        for _ in range(rnd.randint(0, 3)):
            if to_offer:
                sender.offer(to_offer.pop(0))
        if rnd.random() < 0.1:
            sender.offer(rnd.choice(offered))
        for result_id in polled(sender, now):
            server.receive(result_id)
        assert sender.in_flight <= window
        for ack in server.deliver_some():
            if sender.on_ack(ack, now) is AckOutcome.DONE:
                done[ack.result_id] += 1
        if not to_offer and sender.idle:
            break
        now += 1.0
    assert sender.idle, "the sender never finished"
    assert done == Counter(offered)  # every result answered, each exactly once
    assert set(server.stored) == set(offered)  # nothing lost on the way
    assert all(sender.state_of(r) is ResultState.DONE for r in offered)


# --- chunked results, the byte window, resume ---


def need(result_id: str, missing: tuple[int, ...], chunk_size: int) -> Ack:
    return Ack(result_id, AckStatus.NEED_CHUNKS, missing=missing, chunk_size=chunk_size)


def chunked_sender(**kwargs: float) -> Sender:
    options = {"chunk_size": 10, "whole_max": 20, "retransmit_after": 10.0, **kwargs}
    return Sender(**options)  # type: ignore[arg-type]


def test_small_results_go_whole_and_large_ones_as_a_manifest_and_chunks() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=20)
    sender.offer(rid(2), size=35)
    small, large = sender.poll(0.0)
    assert small == Transmission(rid(1), (WHOLE,), None)
    assert large.chunk_size == 10 and not large.retransmission
    assert large.parts == (
        Part.manifest(resume=False),
        Part.chunk(0),
        Part.chunk(1),
        Part.chunk(2),
        Part.chunk(3),
    )


def test_a_late_chunked_result_sends_only_its_manifest_asking_what_is_missing() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=35)
    sender.poll(0.0)
    assert sender.poll(9.0) == []
    (again,) = sender.poll(10.0)
    assert again.parts == (Part.manifest(resume=True),) and again.retransmission


def test_need_chunks_sends_exactly_the_missing_chunks_at_once() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=35)
    sender.poll(0.0)
    assert sender.on_ack(need(rid(1), (1, 3), 10)) is AckOutcome.RESUME
    assert sender.on_ack(need(rid(1), (3,), 10)) is AckOutcome.RESUME  # merged with the first
    (resend,) = sender.poll(1.0)
    assert resend.parts == (Part.chunk(1), Part.chunk(3)) and resend.retransmission
    assert sender.poll(1.0) == []
    assert sender.next_deadline() == 11.0  # the wait for the ack starts again
    assert sender.on_ack(accepted(rid(1))) is AckOutcome.DONE
    assert sender.idle


@pytest.mark.parametrize(
    ("ack_size", "missing", "offered_size"),
    [(9, (1,), 35), (10, (7,), 35), (10, (0,), 15)],
)
def test_need_chunks_about_another_transfer_is_ignored(
    ack_size: int, missing: tuple[int, ...], offered_size: int
) -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=offered_size)
    sender.poll(0.0)
    assert sender.on_ack(need(rid(1), missing, ack_size)) is AckOutcome.IGNORED
    assert sender.poll(1.0) == []


def test_need_chunks_for_results_not_in_flight() -> None:
    sender = chunked_sender(window=1)
    sender.offer(rid(1), size=35)
    sender.offer(rid(2), size=35)
    sender.poll(0.0)
    assert sender.on_ack(need(rid(2), (0,), 10)) is AckOutcome.IGNORED  # still pending
    assert sender.on_ack(need(rid(9), (0,), 10)) is AckOutcome.UNKNOWN
    sender.on_ack(accepted(rid(1)))
    assert sender.on_ack(need(rid(1), (0,), 10)) is AckOutcome.DUPLICATE
    assert sender.state_of(rid(2)) is ResultState.PENDING


def test_a_result_sent_before_a_restart_is_resumed_not_resent() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=35, sent_before=True)
    sender.offer(rid(2), size=5, sent_before=True)
    first, second = sender.poll(0.0)
    assert first.parts == (Part.manifest(resume=True),)
    assert second.parts == (WHOLE,)  # a whole result simply goes again


def test_the_window_bounds_bytes_too_but_a_large_result_still_goes_alone() -> None:
    sender = chunked_sender(window_bytes=100)
    for i, size in enumerate((60, 50, 500, 10)):
        sender.offer(rid(i), size=size)
    assert [t.result_id for t in sender.poll(0.0)] == [rid(0)]
    assert sender.bytes_in_flight == 60
    sender.on_ack(accepted(rid(0)))
    assert [t.result_id for t in sender.poll(1.0)] == [rid(1)]  # 500 would not fit beside it
    sender.on_ack(accepted(rid(1)))
    assert [t.result_id for t in sender.poll(2.0)] == [rid(2)]  # alone, although over 100
    assert sender.poll(3.0) == []  # results go in offer order: 10 waits behind 500


def test_published_starts_the_wait_when_the_last_byte_left() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=35)
    sender.poll(0.0)
    sender.published(rid(1), 25.0)  # a slow field link took 25 s to carry the chunks
    assert sender.poll(30.0) == []
    assert len(sender.poll(35.0)) == 1
    sender.published(rid(9), 40.0)  # unknown: ignored


def test_a_huge_result_gets_chunks_large_enough_to_stay_within_the_chunk_count() -> None:
    sender = Sender(chunk_size=1024, whole_max=0)
    size = MAX_CHUNK_COUNT * 1024 * 3
    sender.offer(rid(1), size=size)
    (t,) = sender.poll(0.0)
    assert t.chunk_size == 3 * 1024
    assert len(t.parts) == MAX_CHUNK_COUNT + 1


def test_a_final_ack_ends_a_result_with_chunks_still_due() -> None:
    sender = chunked_sender()
    sender.offer(rid(1), size=35)
    sender.poll(0.0)
    sender.on_ack(need(rid(1), (2,), 10))
    sender.on_ack(accepted(rid(1)))
    assert sender.poll(1.0) == [] and sender.idle


def test_a_week_of_resends_does_not_overflow_the_back_off() -> None:
    sender = Sender(retransmit_after=30.0, max_retransmit_after=600.0)
    sender.offer(rid(1))
    now = 0.0
    for _ in range(2000):  # the server's ingest is down for two weeks
        assert polled(sender, now) == [rid(1)]
        now = sender.next_deadline() or now
    assert polled(sender, now) == [rid(1)]
    assert sender.next_deadline() == now + 600.0


# --- the timing rules: a learnt timeout, Karn's rule, results queued behind others ---


def sent_at(sender: Sender, result_id: str, now: float) -> None:
    sender.offer(result_id)
    assert polled(sender, now) == [result_id]
    sender.published(result_id, now)


def test_the_timeout_is_learnt_from_round_trips_above_the_configured_floor() -> None:
    sender = Sender(retransmit_after=10.0, max_retransmit_after=600.0)
    assert sender.retransmission_timeout == 10.0 and sender.smoothed_rtt is None
    sent_at(sender, rid(1), 0.0)
    sender.on_ack(accepted(rid(1)), 40.0)  # a busy server: 40 s from publishing to its ack
    assert sender.smoothed_rtt == 40.0
    assert sender.retransmission_timeout == 40.0 + 4 * 20.0  # SRTT + 4 * RTTVAR (RTT / 2)
    sent_at(sender, rid(2), 100.0)
    assert sender.next_deadline() == 100.0 + 120.0
    sender.on_ack(accepted(rid(2)), 130.0)  # a second sample of 30 s
    rttvar = 20.0 + (abs(40.0 - 30.0) - 20.0) / 4
    srtt = 40.0 + (30.0 - 40.0) / 8
    assert sender.smoothed_rtt == pytest.approx(srtt)
    assert sender.retransmission_timeout == pytest.approx(srtt + 4 * rttvar)

    for i in range(3, 60):  # the queue drains: quick answers bring it down to the floor
        sent_at(sender, rid(i), 1000.0 + i)
        sender.on_ack(accepted(rid(i)), 1000.5 + i)
    assert sender.smoothed_rtt == pytest.approx(0.5, abs=0.5)
    assert sender.retransmission_timeout == 10.0


def test_the_timeout_and_its_doubling_are_capped() -> None:
    sender = Sender(retransmit_after=10.0, max_retransmit_after=100.0)
    sent_at(sender, rid(1), 0.0)
    sender.on_ack(accepted(rid(1)), 90.0)
    assert sender.retransmission_timeout == 100.0  # 90 + 4 * 45, capped
    sent_at(sender, rid(2), 100.0)
    assert polled(sender, 200.0) == [rid(2)]
    assert sender.next_deadline() == 300.0  # doubled, but no more than the cap


def test_a_result_sent_more_than_once_teaches_nothing() -> None:
    sender = Sender(retransmit_after=10.0, max_retransmit_after=600.0)
    sent_at(sender, rid(1), 0.0)
    assert polled(sender, 10.0) == [rid(1)]  # late: sent again
    sender.on_ack(accepted(rid(1)), 11.0)  # the first copy's answer, or the second's?
    assert sender.smoothed_rtt is None and sender.retransmission_timeout == 10.0


def test_an_ack_without_a_time_teaches_nothing() -> None:
    sender = Sender(retransmit_after=10.0)
    sent_at(sender, rid(1), 0.0)
    sent_at(sender, rid(2), 0.0)
    sender.on_ack(accepted(rid(1)))
    assert sender.smoothed_rtt is None and sender.next_deadline() == 10.0


def test_the_round_trip_starts_when_the_last_byte_left() -> None:
    sender = chunked_sender(retransmit_after=10.0, max_retransmit_after=600.0)
    sender.offer(rid(1), size=35)
    sender.poll(0.0)
    sender.published(rid(1), 25.0)  # a slow link took 25 s to carry the chunks
    sender.on_ack(accepted(rid(1)), 27.0)
    assert sender.smoothed_rtt == 2.0


def test_a_resumed_or_chunk_resent_result_teaches_nothing() -> None:
    sender = chunked_sender(retransmit_after=10.0, max_retransmit_after=600.0)
    sender.offer(rid(1), size=35, sent_before=True)  # published before a restart
    sender.offer(rid(2), size=35)
    sender.poll(0.0)
    sender.on_ack(need(rid(2), (1,), 10))
    sender.poll(1.0)  # chunk 1 goes again
    sender.on_ack(accepted(rid(1)), 2.0)
    sender.on_ack(accepted(rid(2)), 2.0)
    assert sender.smoothed_rtt is None


def test_results_queued_behind_answered_ones_are_not_overdue() -> None:
    # A fleet's windows queue at a busy server: this device's results are answered one by one,
    # every 8 s, each later than the 10 s floor after it was published.
    sender = Sender(window=4, retransmit_after=10.0, max_retransmit_after=600.0)
    for i in range(4):
        sender.offer(rid(i))
    assert len(polled(sender, 0.0)) == 4
    now = 0.0
    for i in range(4):
        now += 8.0
        assert polled(sender, now - 0.1) == []  # nothing went again meanwhile
        assert sender.on_ack(accepted(rid(i)), now) is AckOutcome.DONE
        rto = sender.retransmission_timeout
        later = [sender.state_of(rid(j)) for j in range(i + 1, 4)]
        assert all(s is ResultState.IN_FLIGHT for s in later)
        if i < 3:
            assert sender.next_deadline() == pytest.approx(now + rto)
    assert sender.idle


def test_a_result_lost_while_later_ones_are_answered_still_goes_again() -> None:
    sender = Sender(window=3, retransmit_after=10.0, max_retransmit_after=600.0)
    for i in range(3):
        sender.offer(rid(i))
    assert len(polled(sender, 0.0)) == 3
    sender.on_ack(accepted(rid(0)), 4.0)  # ahead of both: they wait one timeout from now
    assert sender.next_deadline() == pytest.approx(4.0 + sender.retransmission_timeout)
    deadline = sender.next_deadline()
    assert deadline is not None
    sender.on_ack(accepted(rid(2)), 5.0)  # rid(1) was lost; rid(2), behind it, changes nothing
    assert sender.next_deadline() == deadline
    assert polled(sender, deadline) == [rid(1)]


def test_a_result_sent_again_queues_behind_those_published_before_it() -> None:
    sender = Sender(window=2, retransmit_after=10.0, max_retransmit_after=600.0)
    sent_at(sender, rid(1), 0.0)
    sent_at(sender, rid(2), 5.0)
    assert polled(sender, 10.0) == [rid(1)]  # late: now behind rid(2) at the server
    sender.on_ack(accepted(rid(1)), 12.0)  # rid(1)'s answer says nothing of rid(2)
    assert sender.next_deadline() == 15.0
    assert sender.smoothed_rtt is None


def test_when_nothing_is_answered_every_late_result_goes_again_at_once() -> None:
    sender = Sender(window=3, retransmit_after=10.0, max_retransmit_after=600.0)
    for i in range(3):
        sender.offer(rid(i))
    polled(sender, 0.0)
    assert polled(sender, 10.0) == [rid(0), rid(1), rid(2)]  # the server lost them all
