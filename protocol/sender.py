"""The device side of sync protocol v1 as a sans-IO state machine: which results to publish now,
which to publish again, and what an incoming application ack means.

It holds no sockets, threads, files or clocks: the caller passes `now` (seconds on any monotonic
clock) and does the publishing. The rules, one result at a time (state None = not known here):

    (None,      OFFER)      -> PENDING     queued to be sent
    (PENDING,   OFFER)      -> PENDING     offering again is a no-op
    (IN_FLIGHT, OFFER)      -> IN_FLIGHT
    (DONE,      OFFER)      -> DONE        already answered: nothing to send
    (PENDING,   SEND)       -> IN_FLIGHT   published while the window had room
    (IN_FLIGHT, RETRANSMIT) -> IN_FLIGHT   no application ack in time: published again
    (PENDING,   ACK)        -> DONE        the answer to a copy sent before a restart
    (IN_FLIGHT, ACK)        -> DONE        the answer we waited for
    (DONE,      ACK)        -> DONE        a duplicate ack: ignored
    (PENDING,   GIVE_UP)    -> FAILED      the caller cannot send it (e.g. its file is damaged)
    (IN_FLIGHT, GIVE_UP)    -> FAILED
    (FAILED,    OFFER)      -> FAILED      not again in this sender's life (a restart retries)
    (FAILED,    ACK)        -> DONE        the answer to a copy sent before it failed

Why the device retransmits although MQTT QoS 1 already does: the broker's PUBACK only says the
broker has the message (MQTT v5 section 4.3.2), not that the server stored it. A message can
still be lost after it (no subscriber: reason 0x10 No matching subscribers; a subscriber that
took it and died), so the device forgets nothing until the server's application ack arrives
(DESIGN.md), and sends again, with exponential back-off, when that ack is late. The server
treats the same result twice as a duplicate, so sending again is always safe.

At most `window` results are in flight at once: that bounds what the broker queues for the
server on behalf of one device and lets acks keep pace with publishes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from protocol.errors import ProtocolError
from protocol.messages import Ack


class ResultState(Enum):
    """Where one result stands in the sender."""

    PENDING = "pending"
    """Offered, not yet published (or to be published again after a restart)."""
    IN_FLIGHT = "in_flight"
    """Published; waiting for the server's application ack."""
    DONE = "done"
    """The server answered (accepted, duplicate or rejected): never sent again."""
    FAILED = "failed"
    """The caller gave up on it (it cannot be sent): not sent again by this sender."""


class SenderEvent(Enum):
    """What can happen to one result."""

    OFFER = "offer"
    SEND = "send"
    RETRANSMIT = "retransmit"
    ACK = "ack"
    GIVE_UP = "give_up"


TRANSITIONS: Mapping[tuple[ResultState | None, SenderEvent], ResultState] = {
    (None, SenderEvent.OFFER): ResultState.PENDING,
    (ResultState.PENDING, SenderEvent.OFFER): ResultState.PENDING,
    (ResultState.IN_FLIGHT, SenderEvent.OFFER): ResultState.IN_FLIGHT,
    (ResultState.DONE, SenderEvent.OFFER): ResultState.DONE,
    (ResultState.PENDING, SenderEvent.SEND): ResultState.IN_FLIGHT,
    (ResultState.IN_FLIGHT, SenderEvent.RETRANSMIT): ResultState.IN_FLIGHT,
    (ResultState.PENDING, SenderEvent.ACK): ResultState.DONE,
    (ResultState.IN_FLIGHT, SenderEvent.ACK): ResultState.DONE,
    (ResultState.DONE, SenderEvent.ACK): ResultState.DONE,
    (ResultState.PENDING, SenderEvent.GIVE_UP): ResultState.FAILED,
    (ResultState.IN_FLIGHT, SenderEvent.GIVE_UP): ResultState.FAILED,
    (ResultState.FAILED, SenderEvent.OFFER): ResultState.FAILED,
    (ResultState.FAILED, SenderEvent.ACK): ResultState.DONE,
}
"""The only moves a result can make; anything else is a bug in the sender (SenderStateError)."""


class AckOutcome(Enum):
    """What an incoming application ack meant to the sender."""

    DONE = "done"
    """The first answer for a result we offered: the caller records it in the outbox."""
    DUPLICATE = "duplicate"
    """A second answer for a result already done (the ack, or the result, travelled twice)."""
    UNKNOWN = "unknown"
    """An answer for a result this sender was never offered (or has long forgotten)."""


class SenderStateError(ProtocolError):
    """A result was asked to make a move the transition table does not allow (a bug)."""


DEFAULT_WINDOW = 8
DEFAULT_RETRANSMIT_AFTER_S = 30.0
DEFAULT_MAX_RETRANSMIT_AFTER_S = 600.0
DEFAULT_REMEMBER_DONE = 10_000


@dataclass
class _InFlight:
    """Bookkeeping of one published result."""

    deadline: float
    attempts: int


class Sender:
    """Decides what a device publishes and when, and what incoming acks mean.

    Args:
        window: the most results in flight (published, not yet acked) at once.
        retransmit_after: seconds to wait for the application ack before the first resend.
        max_retransmit_after: the cap of the doubling wait between resends.
        remember_done: how many answered result ids are remembered to recognise duplicate acks
            (bounded, so that a long-running agent does not grow without end).
    """

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        retransmit_after: float = DEFAULT_RETRANSMIT_AFTER_S,
        max_retransmit_after: float = DEFAULT_MAX_RETRANSMIT_AFTER_S,
        remember_done: int = DEFAULT_REMEMBER_DONE,
    ) -> None:
        if window < 1:
            raise ValueError("the window must allow at least one result in flight")
        if retransmit_after <= 0 or max_retransmit_after < retransmit_after:
            raise ValueError("need 0 < retransmit_after <= max_retransmit_after")
        self.window = window
        self.retransmit_after = retransmit_after
        self.max_retransmit_after = max_retransmit_after
        self._remember_done = remember_done
        # Insertion-ordered: results go out in the order they were offered.
        self._pending: dict[str, None] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._failed: set[str] = set()

    @property
    def pending(self) -> int:
        """How many offered results wait for room in the window."""
        return len(self._pending)

    @property
    def in_flight(self) -> int:
        """How many results are published and wait for their application ack."""
        return len(self._in_flight)

    @property
    def idle(self) -> bool:
        """True when nothing is pending or in flight."""
        return not self._pending and not self._in_flight

    def state_of(self, result_id: str) -> ResultState | None:
        """Where `result_id` stands, or None if this sender does not know it."""
        if result_id in self._pending:
            return ResultState.PENDING
        if result_id in self._in_flight:
            return ResultState.IN_FLIGHT
        if result_id in self._done:
            return ResultState.DONE
        if result_id in self._failed:
            return ResultState.FAILED
        return None

    def offer(self, result_id: str) -> None:
        """Queue `result_id` to be sent; a result already known is left as it is."""
        if self._move(result_id, SenderEvent.OFFER) is ResultState.PENDING:
            self._pending.setdefault(result_id, None)

    def next_to_send(self, now: float) -> list[str]:
        """The results to publish now: those whose ack is overdue, then new ones while the
        window has room. The caller publishes each of them (again) on its result topic.

        Args:
            now: the current time in seconds on the caller's monotonic clock.
        """
        out: list[str] = []
        for result_id, entry in self._in_flight.items():
            if entry.deadline <= now:
                self._move(result_id, SenderEvent.RETRANSMIT)
                entry.attempts += 1
                entry.deadline = now + self._wait(entry.attempts)
                out.append(result_id)
        while self._pending and len(self._in_flight) < self.window:
            result_id = next(iter(self._pending))
            self._move(result_id, SenderEvent.SEND)
            del self._pending[result_id]
            self._in_flight[result_id] = _InFlight(deadline=now + self._wait(1), attempts=1)
            out.append(result_id)
        return out

    def on_ack(self, ack: Ack) -> AckOutcome:
        """Take in the server's application ack (of any status: each one ends the result).

        Returns:
            DONE the first time a known result is answered; DUPLICATE after that; UNKNOWN for a
            result this sender was never offered.
        """
        result_id = ack.result_id
        state = self.state_of(result_id)
        if state is None:
            return AckOutcome.UNKNOWN
        self._move(result_id, SenderEvent.ACK)
        if state is ResultState.DONE:
            return AckOutcome.DUPLICATE
        self._pending.pop(result_id, None)
        self._in_flight.pop(result_id, None)
        self._failed.discard(result_id)
        self._done[result_id] = None
        while len(self._done) > self._remember_done:
            self._done.popitem(last=False)
        return AckOutcome.DONE

    def give_up(self, result_id: str) -> None:
        """Stop sending `result_id` (the caller cannot: e.g. its stored file is damaged). It
        leaves the window; an ack that still arrives for it ends it normally.

        Raises:
            SenderStateError: the result is not pending or in flight.
        """
        self._move(result_id, SenderEvent.GIVE_UP)
        self._pending.pop(result_id, None)
        self._in_flight.pop(result_id, None)
        self._failed.add(result_id)

    def next_deadline(self) -> float | None:
        """The earliest time an in-flight result becomes overdue (None if nothing is in
        flight), so that the caller knows how long it may sleep."""
        return min((e.deadline for e in self._in_flight.values()), default=None)

    def _wait(self, attempts: int) -> float:
        return min(self.retransmit_after * 2.0 ** (attempts - 1), self.max_retransmit_after)

    def _move(self, result_id: str, event: SenderEvent) -> ResultState:
        state = self.state_of(result_id)
        try:
            return TRANSITIONS[(state, event)]
        except KeyError:
            raise SenderStateError(
                f"result {result_id[:12]}… cannot take {event.value} in state "
                f"{state.value if state else 'unknown'}"
            ) from None
