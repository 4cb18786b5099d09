"""The device side of sync protocol v1 as a sans-IO state machine: which results to publish now,
in which parts, which to publish again, and what an incoming application ack means.

It holds no sockets, threads, files, clocks or PDF bytes: the caller passes `now` (seconds on
any monotonic clock), builds the messages of each `Transmission` from its outbox
(`protocol.chunking.build_messages`) and publishes them. The rules, one result at a time
(state None = not known here):

    (None,      OFFER)       -> PENDING     queued to be sent
    (PENDING,   OFFER)       -> PENDING     offering again is a no-op
    (IN_FLIGHT, OFFER)       -> IN_FLIGHT
    (DONE,      OFFER)       -> DONE        already answered: nothing to send
    (PENDING,   SEND)        -> IN_FLIGHT   published while the window had room
    (IN_FLIGHT, RETRANSMIT)  -> IN_FLIGHT   no answer in time (or chunks asked for): sent again
    (PENDING,   ACK)         -> DONE        the answer to a copy sent before a restart
    (IN_FLIGHT, ACK)         -> DONE        the answer we waited for
    (DONE,      ACK)         -> DONE        a duplicate ack: ignored
    (PENDING,   GIVE_UP)     -> FAILED      the caller cannot send it (e.g. its file is damaged)
    (IN_FLIGHT, GIVE_UP)     -> FAILED
    (FAILED,    OFFER)       -> FAILED      not again in this sender's life (a restart retries)
    (FAILED,    ACK)         -> DONE        the answer to a copy sent before it failed
    (any,       NEED_CHUNKS) -> same        only an IN_FLIGHT result of the same chunk size
                                            schedules the chunks asked for; else ignored

ACK means a final ack (accepted, duplicate or rejected): completion happens only there, never on
a broker PUBACK. NEED_CHUNKS is the receiver's "I lack these chunks" (a resume).

What goes out for one result:
- a result of at most `whole_max` bytes (or of unknown size) goes whole, in one message, and
  again whole when its ack is late;
- a larger one goes as a manifest followed by its chunks of `chunk_size` bytes. When its ack is
  late only the manifest goes again, with `resume` set: the receiver answers with the chunks it
  lacks (need_chunks), and only those go again. A result offered with `sent_before` (it was
  published before a restart) starts with that question, so a half-sent result is resumed, not
  sent again in full.

Why the device retransmits although MQTT QoS 1 already does: the broker's PUBACK only says the
broker has the message (MQTT v5 section 4.3.2), not that the server stored it. A message can
still be lost after it (no subscriber: reason 0x10 No matching subscribers; a subscriber that
took it and died), so the device forgets nothing until the server's application ack arrives
(DESIGN.md), and sends again, with exponential back-off, when that ack is late. The server
treats the same result twice as a duplicate, so sending again is always safe.

When an ack is late (the timing rules, after TCP's: RFC 6298):
- The wait before a resend is the retransmission timeout (RTO), learnt from the acks: each
  result answered after a single transmission gives a sample of the time from its publishing
  to its ack, smoothed as SRTT and RTTVAR (gains 1/8 and 1/4), and RTO = SRTT + 4 * RTTVAR,
  never below `retransmit_after` nor above `max_retransmit_after`. A result sent more than once
  gives no sample (Karn's rule: which copy was answered is unknown). A busy server whose queue
  holds a whole fleet's windows answers in more than `retransmit_after`; the RTO grows with it
  instead of filling that queue with copies.
- Each further resend of a result doubles its wait, up to `max_retransmit_after`.
- A result is not overdue while the server answers results published before it: they were
  queued ahead of it, so its turn has not come. Each first answer to a result pushes the
  deadline of every result published after it (by the same sender) to at least one RTO later.
  Answers to results published after it do not: once those before it are answered it gets one
  RTO, so a result lost on the way still goes again while the others flow. When nothing is
  answered (the broker or the server lost everything) each result goes again at its own
  deadline, all at once, not one after the other.

At most `window` results, and `window_bytes` bytes of them, are in flight at once (a single
result larger than `window_bytes` goes alone): that bounds what the broker queues for the server
on behalf of one device and lets acks keep pace with publishes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from protocol.errors import ProtocolError
from protocol.messages import MAX_CHUNK_COUNT, Ack, chunk_count


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
    NEED_CHUNKS = "need_chunks"
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
    (ResultState.PENDING, SenderEvent.NEED_CHUNKS): ResultState.PENDING,
    (ResultState.IN_FLIGHT, SenderEvent.NEED_CHUNKS): ResultState.IN_FLIGHT,
    (ResultState.DONE, SenderEvent.NEED_CHUNKS): ResultState.DONE,
    (ResultState.FAILED, SenderEvent.NEED_CHUNKS): ResultState.FAILED,
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
    RESUME = "resume"
    """A need_chunks ack: the chunks asked for go out at the next `poll`."""
    IGNORED = "ignored"
    """A need_chunks ack that asks nothing of this sender now (the result is not in flight, or
    it is sent whole or in chunks of another size): the ack timer will ask again."""


class PartKind(Enum):
    """The kinds of message a result travels in."""

    WHOLE = "whole"
    MANIFEST = "manifest"
    CHUNK = "chunk"


@dataclass(frozen=True)
class Part:
    """One message to publish for a result.

    Attributes:
        kind: whole, manifest or chunk.
        index: the chunk's index (CHUNK only, else None).
        resume: for a manifest, whether it asks which chunks the receiver lacks.
    """

    kind: PartKind
    index: int | None = None
    resume: bool = False

    @classmethod
    def chunk(cls, index: int) -> Part:
        """Chunk `index`."""
        return cls(PartKind.CHUNK, index=index)

    @classmethod
    def manifest(cls, *, resume: bool) -> Part:
        """The manifest, announcing chunks (resume=False) or asking which are missing."""
        return cls(PartKind.MANIFEST, resume=resume)


WHOLE = Part(PartKind.WHOLE)
"""The one part of a result sent whole."""


@dataclass(frozen=True)
class Transmission:
    """What to publish now for one result, in this order.

    Attributes:
        result_id: the result.
        parts: the messages to publish, in order.
        chunk_size: the chunk size of a chunked result, None for a result sent whole.
        retransmission: whether this sender has published this result before.
    """

    result_id: str
    parts: tuple[Part, ...]
    chunk_size: int | None
    retransmission: bool = False


class SenderStateError(ProtocolError):
    """A result was asked to make a move the transition table does not allow (a bug)."""


DEFAULT_WINDOW = 8
DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 256 * 1024
DEFAULT_WHOLE_MAX = 512 * 1024
DEFAULT_RETRANSMIT_AFTER_S = 30.0
DEFAULT_MAX_RETRANSMIT_AFTER_S = 600.0
DEFAULT_REMEMBER_DONE = 10_000


@dataclass
class _Pending:
    """An offered result waiting for room in the window."""

    size: int | None
    sent_before: bool


RTT_GAIN = 1 / 8
"""The weight of a new sample in the smoothed round-trip time (RFC 6298 section 2: alpha)."""
RTTVAR_GAIN = 1 / 4
"""The weight of a new sample's deviation in the round-trip variation (RFC 6298: beta)."""
RTTVAR_FACTOR = 4
"""How many round-trip variations the timeout allows beyond the smoothed round trip (K)."""


@dataclass
class _InFlight:
    """Bookkeeping of one published result."""

    size: int | None
    chunk_size: int | None
    deadline: float
    attempts: int
    seq: int
    """The order of its last transmission among this sender's transmissions."""
    sampled_from: float | None = None
    """When its only transmission left (set at `poll`, moved by `published`): the start of a
    round-trip sample; None for a resume and once anything of it went again (Karn's rule)."""
    due: set[int] = field(default_factory=set)
    """Chunk indexes the receiver asked for, to publish at the next poll."""


class Sender:
    """Decides what a device publishes and when, and what incoming acks mean.

    Args:
        window: the most results in flight (published, not yet answered) at once.
        window_bytes: the most bytes of results in flight at once (one larger result may still
            go alone).
        chunk_size: the size of the chunks a large result is cut into.
        whole_max: the largest result sent whole in one message; larger ones go in chunks.
        retransmit_after: the least wait for the application ack before the first resend (the
            floor of the learnt retransmission timeout).
        max_retransmit_after: the cap of the timeout and of the doubling wait between resends.
        remember_done: how many answered result ids are remembered to recognise duplicate acks
            (bounded, so that a long-running agent does not grow without end).
    """

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        whole_max: int = DEFAULT_WHOLE_MAX,
        retransmit_after: float = DEFAULT_RETRANSMIT_AFTER_S,
        max_retransmit_after: float = DEFAULT_MAX_RETRANSMIT_AFTER_S,
        remember_done: int = DEFAULT_REMEMBER_DONE,
    ) -> None:
        if window < 1 or window_bytes < 1:
            raise ValueError("the window must allow at least one result and one byte in flight")
        if retransmit_after <= 0 or max_retransmit_after < retransmit_after:
            raise ValueError("need 0 < retransmit_after <= max_retransmit_after")
        if chunk_size < 1 or whole_max < 0:
            raise ValueError("need chunk_size >= 1 and whole_max >= 0")
        self.window = window
        self.window_bytes = window_bytes
        self.chunk_size = chunk_size
        self.whole_max = whole_max
        self.retransmit_after = retransmit_after
        self.max_retransmit_after = max_retransmit_after
        self._remember_done = remember_done
        # Insertion-ordered: results go out in the order they were offered.
        self._pending: dict[str, _Pending] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._failed: set[str] = set()
        self._seq = 0
        self._srtt: float | None = None
        self._rttvar = 0.0

    # --- what the caller reads ---

    @property
    def pending(self) -> int:
        """How many offered results wait for room in the window."""
        return len(self._pending)

    @property
    def in_flight(self) -> int:
        """How many results are published and wait for their application ack."""
        return len(self._in_flight)

    @property
    def bytes_in_flight(self) -> int:
        """The bytes of the results in flight (those of unknown size count 0)."""
        return sum(e.size or 0 for e in self._in_flight.values())

    @property
    def idle(self) -> bool:
        """True when nothing is pending or in flight (the window is empty)."""
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

    @property
    def retransmission_timeout(self) -> float:
        """The wait for an ack before a first resend, learnt from the round trips so far
        (`retransmit_after` until the first sample)."""
        if self._srtt is None:
            return self.retransmit_after
        rto = self._srtt + RTTVAR_FACTOR * self._rttvar
        return min(max(rto, self.retransmit_after), self.max_retransmit_after)

    @property
    def smoothed_rtt(self) -> float | None:
        """The smoothed round trip from publishing to the application ack (None before the
        first sample)."""
        return self._srtt

    def next_deadline(self) -> float | None:
        """The earliest time an in-flight result becomes overdue (None if nothing is in
        flight), so that the caller knows how long it may sleep. Chunks asked for are due at
        once (`poll` as soon as `on_ack` returned RESUME)."""
        return min((e.deadline for e in self._in_flight.values()), default=None)

    # --- what the caller tells it ---

    def offer(self, result_id: str, size: int | None = None, *, sent_before: bool = False) -> None:
        """Queue `result_id` to be sent; a result already known is left as it is.

        Args:
            result_id: the result (SHA-256 hex of its PDF).
            size: its PDF's length in bytes; None sends it whole (and counts 0 in the window).
            sent_before: it was published before this sender existed (the outbox says SENT):
                a chunked result then starts by asking which chunks the receiver lacks.
        """
        if size is not None and size < 0:
            raise ValueError("a result's size cannot be negative")
        if self._move(result_id, SenderEvent.OFFER) is ResultState.PENDING:
            self._pending.setdefault(result_id, _Pending(size, sent_before))

    def poll(self, now: float) -> list[Transmission]:
        """What to publish now: chunks asked for, then results whose ack is overdue, then new
        results while the window has room. The caller publishes every part of each
        transmission, in order, and may then call `published`.

        Args:
            now: the current time in seconds on the caller's monotonic clock.
        """
        out: list[Transmission] = []
        for result_id, entry in self._in_flight.items():
            if entry.due:
                self._move(result_id, SenderEvent.RETRANSMIT)
                parts = tuple(Part.chunk(i) for i in sorted(entry.due))
                entry.due.clear()
                self._transmitted(entry, now)
                out.append(Transmission(result_id, parts, entry.chunk_size, retransmission=True))
            elif entry.deadline <= now:
                self._move(result_id, SenderEvent.RETRANSMIT)
                entry.attempts += 1
                self._transmitted(entry, now)
                part = WHOLE if entry.chunk_size is None else Part.manifest(resume=True)
                out.append(Transmission(result_id, (part,), entry.chunk_size, retransmission=True))
        while self._pending and self._has_room(next(iter(self._pending.values())).size):
            result_id, offered = next(iter(self._pending.items()))
            self._move(result_id, SenderEvent.SEND)
            del self._pending[result_id]
            chunk_size = self._chunk_size_for(offered.size)
            self._seq += 1
            self._in_flight[result_id] = _InFlight(
                size=offered.size,
                chunk_size=chunk_size,
                deadline=now + self._wait(1),
                attempts=1,
                seq=self._seq,
                # A resume after a restart asks a question first: no sample of a round trip.
                sampled_from=None if offered.sent_before else now,
            )
            out.append(Transmission(result_id, self._first_parts(offered, chunk_size), chunk_size))
        return out

    def published(self, result_id: str, now: float) -> None:
        """The caller finished publishing the last transmission of `result_id` at `now` (on a
        slow link that can be long after `poll`): its wait for the ack starts here. A result
        no longer in flight is ignored."""
        entry = self._in_flight.get(result_id)
        if entry is not None and not entry.due:
            entry.deadline = now + self._wait(entry.attempts)
            if entry.sampled_from is not None:
                entry.sampled_from = now

    def on_ack(self, ack: Ack, now: float | None = None) -> AckOutcome:
        """Take in the server's application ack.

        Args:
            ack: the ack.
            now: when it arrived, on the clock of `poll`: a first answer then teaches the
                sender the round trip and tells it the server has reached this result (see
                the timing rules above). None: the answer only counts as an answer.

        Returns:
            For a final ack (accepted, duplicate or rejected: each one ends the result): DONE
            the first time a known result is answered, DUPLICATE after that, UNKNOWN for a
            result this sender was never offered. For need_chunks: RESUME when the chunks asked
            for are scheduled, IGNORED when not (see AckOutcome), DUPLICATE or UNKNOWN as above.
        """
        result_id = ack.result_id
        state = self.state_of(result_id)
        if state is None:
            return AckOutcome.UNKNOWN
        if not ack.final:
            return self._on_need_chunks(ack, state)
        self._move(result_id, SenderEvent.ACK)
        if state is ResultState.DONE:
            return AckOutcome.DUPLICATE
        self._pending.pop(result_id, None)
        entry = self._in_flight.pop(result_id, None)
        if entry is not None and now is not None:
            self._answered(entry, now)
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

    # --- internals ---

    def _transmitted(self, entry: _InFlight, now: float) -> None:
        """Something of `entry` goes again now: it queues behind everything published so far,
        and its answer no longer measures a round trip."""
        self._seq += 1
        entry.seq = self._seq
        entry.sampled_from = None
        entry.deadline = now + self._wait(entry.attempts)

    def _answered(self, entry: _InFlight, now: float) -> None:
        """The first answer to `entry` came at `now`: learn the round trip if it measures one,
        and give the results published after it, queued behind it, one timeout from now."""
        if entry.sampled_from is not None:
            self._sample(max(0.0, now - entry.sampled_from))
        floor = now + self.retransmission_timeout
        for later in self._in_flight.values():
            if later.seq > entry.seq and later.deadline < floor:
                later.deadline = floor

    def _sample(self, rtt: float) -> None:
        """Fold one round trip into SRTT and RTTVAR (RFC 6298 section 2)."""
        if self._srtt is None:
            self._srtt = rtt
            self._rttvar = rtt / 2
        else:
            self._rttvar += RTTVAR_GAIN * (abs(self._srtt - rtt) - self._rttvar)
            self._srtt += RTT_GAIN * (rtt - self._srtt)

    def _on_need_chunks(self, ack: Ack, state: ResultState) -> AckOutcome:
        self._move(ack.result_id, SenderEvent.NEED_CHUNKS)
        if state is ResultState.DONE:
            return AckOutcome.DUPLICATE
        entry = self._in_flight.get(ack.result_id)
        if entry is None or entry.chunk_size is None or entry.chunk_size != ack.chunk_size:
            return AckOutcome.IGNORED
        count = chunk_count(entry.size or 0, entry.chunk_size)
        wanted = {i for i in ack.missing if i < count}
        if not wanted:
            return AckOutcome.IGNORED
        entry.due |= wanted
        return AckOutcome.RESUME

    def _has_room(self, size: int | None) -> bool:
        if not self._in_flight:
            return True
        return (
            len(self._in_flight) < self.window
            and self.bytes_in_flight + (size or 0) <= self.window_bytes
        )

    def _chunk_size_for(self, size: int | None) -> int | None:
        if size is None or size <= self.whole_max:
            return None
        # Never more chunks than a receiver accepts: a huge result gets larger chunks.
        return max(self.chunk_size, -(-size // MAX_CHUNK_COUNT))

    @staticmethod
    def _first_parts(offered: _Pending, chunk_size: int | None) -> tuple[Part, ...]:
        if chunk_size is None:
            return (WHOLE,)
        if offered.sent_before:
            return (Part.manifest(resume=True),)
        count = chunk_count(offered.size or 0, chunk_size)
        return (Part.manifest(resume=False), *(Part.chunk(i) for i in range(count)))

    def _wait(self, attempts: int) -> float:
        # The exponent is capped: 2.0 ** 1024 overflows, and a server down for a week takes a
        # device past a thousand resends at the 600 s cap.
        doubling = 2.0 ** min(attempts - 1, 60)
        return min(self.retransmission_timeout * doubling, self.max_retransmit_after)

    def _move(self, result_id: str, event: SenderEvent) -> ResultState:
        state = self.state_of(result_id)
        try:
            return TRANSITIONS[(state, event)]
        except KeyError:
            raise SenderStateError(
                f"result {result_id[:12]}… cannot take {event.value} in state "
                f"{state.value if state else 'unknown'}"
            ) from None
