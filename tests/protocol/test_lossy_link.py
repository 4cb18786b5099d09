"""Sender and receiver driven together through a simulated lossy link (sans-IO, no broker, no
clock): the link drops, duplicates, reorders, delays and damages messages, and either side
restarts at any point. A restart rebuilds the state machine from what would be persisted: the
outbox rows for the sender; the merged records and the staged manifests and chunks for the
receiver (whose worker may die between any two of its effects). Two ingest workers may also
decide on the same state at once (stale reads).

After a chaotic phase the link calms down, and then: every result is merged exactly once (or,
for the ones the verifier refuses, rejected and never merged), every outbox row holds its one
answer, nothing is lost, and the sender's window is empty.

The server here is an in-memory model of the repository (`Server`), whose own merge is
idempotent by construction: it can show a loss, never a duplicate the repository would make.
`tests/server/repository/test_lossy_link.py` drives the same world against the real repository
(`server.repository.staging` and `records` on SQLite), where "merged more than once" is counted
in the database.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.chunking import Reassembly, ResultSource, build_messages
from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import Ack, AckStatus, ResultChunk, ResultManifest, sha256_hex
from protocol.reasons import RejectReason
from protocol.receiver import (
    Assemble,
    DropStaged,
    Effect,
    Ignore,
    Merge,
    Receiver,
    ReceiverLimits,
    SendAck,
    StageChunk,
    StagedChunk,
    StageManifest,
    TransferState,
    result_id_of,
)
from protocol.sender import AckOutcome, Sender

DEV = "dev-01"
AT = "2025-03-01T02:03:04+00:00"
WAITING = ("queued", "sent")


@dataclass(frozen=True)
class Chaos:
    """How badly the link and the two sides behave (probabilities per event)."""

    drop: float = 0.0
    dup: float = 0.0
    damage: float = 0.0
    worker_crash: float = 0.0
    device_crash: float = 0.0
    race: float = 0.0


CALM = Chaos()


@dataclass
class Row:
    """An outbox row: what the device persists of one result."""

    pdf: bytes
    state: str = "queued"


class Device:
    """The appliance: an outbox and a Sender rebuilt from it at every restart."""

    def __init__(self, rnd: random.Random, window: int, window_bytes: int) -> None:
        self.rnd = rnd
        self.window = window
        self.window_bytes = window_bytes
        self.outbox: dict[str, Row] = {}
        self.restarts = 0
        self.sender = self._rebuild()

    def _rebuild(self) -> Sender:
        # Settings may change between runs of the agent: geometry is per transmission.
        sender = Sender(
            window=self.window,
            window_bytes=self.window_bytes,
            chunk_size=self.rnd.choice([7, 16, 50]),
            whole_max=self.rnd.choice([0, 30, 100]),
            retransmit_after=5.0,
            max_retransmit_after=40.0,
        )
        for result_id, row in self.outbox.items():
            if row.state in WAITING:
                sender.offer(result_id, len(row.pdf), sent_before=row.state == "sent")
        return sender

    def restart(self) -> None:
        self.restarts += 1
        self.sender = self._rebuild()

    def add(self, pdf: bytes) -> None:
        result_id = sha256_hex(pdf)
        self.outbox[result_id] = Row(pdf)
        self.sender.offer(result_id, len(pdf))

    def poll(self, now: float, up: list[bytes], chaos: Chaos) -> None:
        for transmission in self.sender.poll(now):
            row = self.outbox[transmission.result_id]
            row.state = "sent"  # the outbox's mark_sent
            source = ResultSource(DEV, row.pdf, {"so_ky_hieu": "1/QĐ"}, AT)
            for message in build_messages(transmission, source):
                if self.rnd.random() < chaos.device_crash:
                    self.restart()  # power cut mid-publish: the rest never leaves
                    return
                up.append(encode(message))
            self.sender.published(transmission.result_id, now)
        assert self.sender.in_flight <= self.window
        assert self.sender.in_flight <= 1 or self.sender.bytes_in_flight <= self.window_bytes

    def receive(self, payload: bytes, now: float) -> None:
        ack = decode(payload)
        assert isinstance(ack, Ack)
        outcome = self.sender.on_ack(ack, now)  # the timeout learns from the link's delays
        rto = self.sender.retransmission_timeout
        assert self.sender.retransmit_after <= rto <= self.sender.max_retransmit_after
        if not ack.final:
            return
        row = self.outbox.get(ack.result_id)
        waiting = row is not None and row.state in WAITING
        # The first answer ends the result, and the sender says so exactly then.
        assert (outcome is AckOutcome.DONE) == waiting, (outcome, row)
        if row is not None and waiting:
            row.state = "rejected" if ack.status is AckStatus.REJECTED else "acked"


class _AbandonError(Exception):
    """The worker stops handling this message (it died, or the store changed under it)."""


@dataclass
class Server:
    """The ingest side: a store (records + staging) that survives restarts, and workers that
    run the Receiver's effects against it."""

    rnd: random.Random
    refuse: set[str]
    seen: Counter[str]
    receiver: Receiver = field(default_factory=lambda: Receiver(ReceiverLimits(max_chunk_bytes=64)))
    records: dict[str, str] = field(default_factory=dict)
    created: Counter[str] = field(default_factory=Counter)
    manifests: dict[str, ResultManifest] = field(default_factory=dict)
    chunks: dict[str, dict[int, ResultChunk]] = field(default_factory=dict)

    def state(self, result_id: str | None) -> TransferState:
        if result_id is None:
            return TransferState()
        return TransferState(
            record_id=self.records.get(result_id),
            manifest=self.manifests.get(result_id),
            chunks={i: StagedChunk.of(c) for i, c in self.chunks.get(result_id, {}).items()},
        )

    def decide(self, payload: bytes) -> list[Effect]:
        try:
            message = decode(payload)
        except DecodeError as e:  # pragma: no cover - the link damages chunk bodies only
            return self.receiver.on_undecodable(DEV, e)
        return self.receiver.on_message(DEV, message, self.state(result_id_of(message)))

    def handle(self, payloads: list[bytes], down: list[bytes], chaos: Chaos) -> bool:
        """Handle `payloads` (two: two workers read the store before either writes); False if
        a worker died midway."""
        decided = [self.decide(p) for p in payloads]
        done = True
        for effects in decided:
            done = self.run(effects, down, chaos) and done
        return done

    def records_of(self, result_id: str) -> int:
        """How many records hold `result_id`."""
        return self.created[result_id]

    def staged(self, result_id: str) -> bool:
        """Whether anything of `result_id` is staged."""
        return result_id in self.manifests or result_id in self.chunks

    def run(self, effects: list[Effect], down: list[bytes], chaos: Chaos) -> bool:
        """Carry out `effects` (and what they lead to); False if the worker died midway."""
        todo = list(effects)
        assembled: dict[str, bytes] = {}
        try:
            while todo:
                if self.rnd.random() < chaos.worker_crash:
                    self.seen["worker crash"] += 1
                    return False
                effect = todo.pop(0)
                self.seen[type(effect).__name__] += 1
                todo[:0] = self._apply(effect, down, assembled)
        except _AbandonError:
            self.seen["assembly abandoned"] += 1
        return True

    def _apply(
        self, effect: Effect, down: list[bytes], assembled: dict[str, bytes]
    ) -> list[Effect]:
        # Staging skips a result merged since the state was read (one transaction).
        if isinstance(effect, StageManifest):
            if effect.manifest.result_id not in self.records:
                self.manifests[effect.manifest.result_id] = effect.manifest
        elif isinstance(effect, StageChunk):
            chunk = effect.chunk
            assert chunk.intact
            if chunk.result_id not in self.records:
                self.chunks.setdefault(chunk.result_id, {})[chunk.index] = chunk
        elif isinstance(effect, DropStaged):
            if effect.indexes is None:
                self.manifests.pop(effect.result_id, None)
                self.chunks.pop(effect.result_id, None)
            else:
                for i in effect.indexes:
                    self.chunks.get(effect.result_id, {}).pop(i, None)
        elif isinstance(effect, Assemble):
            m = effect.manifest
            staged = self.chunks.get(m.result_id, {})
            check, parts = Reassembly(m), []
            for i in range(m.chunk_count):
                piece = staged.get(i)
                if piece is None or piece.geometry != m.geometry:
                    raise _AbandonError  # another worker changed the staging: the resume retries
                check.add(i, piece.data)
                parts.append(piece.data)
            assembled[m.result_id] = b"".join(parts)
            return self.receiver.on_assembled(m, check.sha256())
        elif isinstance(effect, Merge):
            request = effect.request
            pdf = request.pdf if request.pdf is not None else assembled[request.result_id]
            assert sha256_hex(pdf) == request.result_id  # never merge what is not the result
            if request.result_id in self.refuse:
                return self.receiver.on_refused(request, RejectReason.SIGNATURE, "bad signature")
            created = request.result_id not in self.records
            if created:  # the idempotent merge, one transaction
                self.records[request.result_id] = f"rec-{len(self.records) + 1}"
                self.created[request.result_id] += 1
            return self.receiver.on_merged(request, self.records[request.result_id], created)
        elif isinstance(effect, SendAck):
            assert effect.device_id == DEV
            self.seen[f"ack {effect.ack.status.value}"] += 1
            down.append(encode(effect.ack))
        else:
            assert isinstance(effect, Ignore)
        return []


class IngestSide(Protocol):
    """What the world needs of the server side (`Server`, or the real repository's)."""

    def handle(self, payloads: list[bytes], down: list[bytes], chaos: Chaos) -> bool:
        """Handle messages taken at once; False if a worker died midway."""

    def records_of(self, result_id: str) -> int:
        """How many records hold `result_id`."""

    def staged(self, result_id: str) -> bool:
        """Whether anything of `result_id` is staged."""


ServerFactory = Callable[[random.Random, set[str], Counter[str]], IngestSide]


class World:
    """A device, a server and the link between them."""

    def __init__(
        self,
        seed: int,
        n: int,
        window: int,
        window_bytes: int,
        refused: int,
        server: ServerFactory = Server,
    ) -> None:
        self.rnd = random.Random(seed)  # every choice, reproducible from the seed
        self.device = Device(self.rnd, window, window_bytes)
        self.pdfs = [  # distinct results: the index makes equal random bytes differ
            b"%%PDF-%d\n" % i + self.rnd.randbytes(self.rnd.randint(0, 160)) for i in range(n)
        ]
        self.refused = {sha256_hex(p) for p in self.pdfs[:refused]}
        self.seen: Counter[str] = Counter()
        self.server = server(self.rnd, self.refused, self.seen)
        self.up: list[bytes] = []
        self.down: list[bytes] = []
        self.now = 0.0
        self.to_add = list(self.pdfs)

    def _take(self, queue: list[bytes], chaos: Chaos) -> bytes | None:
        """One message leaves `queue` in any order; it may be lost, or stay to come again."""
        i = self.rnd.randrange(len(queue)) if chaos != CALM else 0
        payload = queue[i] if self.rnd.random() < chaos.dup else queue.pop(i)
        return None if self.rnd.random() < chaos.drop else payload

    def _damage(self, payload: bytes) -> bytes:
        head, _, body = payload.partition(b"\n")
        if b'"sohoa.chunk/1"' not in head or not body:
            return payload
        spoiled = bytearray(body)
        spoiled[self.rnd.randrange(len(spoiled))] ^= 0x5A
        self.seen["chunk damaged"] += 1
        return head + b"\n" + bytes(spoiled)

    def deliver_up(self, chaos: Chaos) -> None:
        payload = self._take(self.up, chaos)
        if payload is None:
            return
        if self.rnd.random() < chaos.damage:
            payload = self._damage(payload)
        if self.up and self.rnd.random() < chaos.race:
            # Two workers take messages at once (a shared subscription); most often two copies
            # of one result, the race that only an idempotent merge survives.
            mine = result_id_of(decode(payload))
            same = [i for i, p in enumerate(self.up) if result_id_of(decode(p)) == mine]
            pick = self.rnd.choice(same) if same and self.rnd.random() < 0.7 else None
            other = self.up.pop(pick if pick is not None else self.rnd.randrange(len(self.up)))
            self.seen["race"] += 1
            self.server.handle([payload, other], self.down, chaos)
            return
        done = self.server.handle([payload], self.down, chaos)
        if not done and self.rnd.random() < 0.5:
            self.up.append(payload)  # never PUBACKed: the broker delivers it again

    def deliver_down(self, chaos: Chaos) -> None:
        payload = self._take(self.down, chaos)
        if payload is not None:
            self.device.receive(payload, self.now)

    def step(self, chaos: Chaos) -> None:
        roll = self.rnd.random()
        if roll < 0.1 and self.to_add:
            self.device.add(self.to_add.pop(0))
        elif roll < 0.45 and self.up:
            self.deliver_up(chaos)
        elif roll < 0.7 and self.down:
            self.deliver_down(chaos)
        elif roll < 0.85:
            self.device.poll(self.now, self.up, chaos)
        elif roll < 0.86 and chaos.device_crash:
            self.device.restart()
        else:
            self.now += self.rnd.expovariate(1 / 3.0)

    def settle(self, max_rounds: int = 5000) -> None:
        """The link calms down: deliver everything, in order, until nothing is left to do."""
        while self.to_add:
            self.device.add(self.to_add.pop(0))
        for _ in range(max_rounds):
            while self.up or self.down:
                while self.up:
                    self.deliver_up(CALM)
                while self.down:
                    self.deliver_down(CALM)
            self.device.poll(self.now, self.up, CALM)
            if self.up:
                continue
            if self.device.sender.idle:
                return
            deadline = self.device.sender.next_deadline()
            assert deadline is not None
            self.now = max(self.now, deadline)
        raise AssertionError("the transfer never settled")

    def check(self) -> None:
        device, server = self.device, self.server
        for pdf in self.pdfs:
            result_id = sha256_hex(pdf)
            row = device.outbox[result_id]
            if result_id in self.refused:
                assert row.state == "rejected"
                assert server.records_of(result_id) == 0
            else:
                assert row.state == "acked", "a result was lost"
                assert server.records_of(result_id) == 1, "merged more than once"
                # Nothing of a merged result stays staged.
                assert not server.staged(result_id)
        assert device.sender.idle and device.sender.in_flight == 0


def run_world(
    seed: int,
    n: int,
    window: int,
    window_bytes: int,
    refused: int,
    chaos: Chaos,
    steps: int,
    server: ServerFactory = Server,
) -> World:
    world = World(seed, n, window, window_bytes, refused, server)
    for _ in range(steps):
        world.step(chaos)
    world.settle()
    world.check()
    return world


chaos_levels = st.builds(
    Chaos,
    drop=st.floats(min_value=0.0, max_value=0.5),
    dup=st.floats(min_value=0.0, max_value=0.4),
    damage=st.floats(min_value=0.0, max_value=0.3),
    worker_crash=st.floats(min_value=0.0, max_value=0.15),
    device_crash=st.floats(min_value=0.0, max_value=0.05),
    race=st.floats(min_value=0.0, max_value=0.3),
)


@settings(max_examples=400, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=1, max_value=10),
    window=st.integers(min_value=1, max_value=4),
    window_bytes=st.integers(min_value=1, max_value=400),
    refused=st.integers(min_value=0, max_value=2),
    chaos=chaos_levels,
)
def test_every_result_is_merged_exactly_once_over_a_lossy_link(
    seed: int, n: int, window: int, window_bytes: int, refused: int, chaos: Chaos
) -> None:
    run_world(seed, n, window, window_bytes, min(refused, n), chaos, steps=400)


@pytest.mark.slow
# 200 long storms (3,000 steps each) keep CI within its time; the short runs above do 400.
@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=10, max_value=60),
    window=st.integers(min_value=1, max_value=8),
    window_bytes=st.integers(min_value=1, max_value=2000),
    refused=st.integers(min_value=0, max_value=5),
    chaos=chaos_levels,
)
def test_many_results_through_a_long_storm(
    seed: int, n: int, window: int, window_bytes: int, refused: int, chaos: Chaos
) -> None:
    run_world(seed, n, window, window_bytes, refused, chaos, steps=3000)


def test_the_simulation_really_exercises_the_hard_paths() -> None:
    """A fixed stormy run in which chunks are resumed, damaged and raced, and both sides
    restart: a guard that the property above is not passing by never reaching them."""
    chaos = Chaos(drop=0.3, dup=0.3, damage=0.2, worker_crash=0.1, device_crash=0.03, race=0.2)
    world = run_world(7, 10, 3, 300, 2, chaos, steps=1500)
    assert world.device.restarts > 0
    seen = world.seen
    for event in (
        "worker crash",
        "race",
        "chunk damaged",
        "StageChunk",
        "Assemble",
        "Merge",
        "ack need_chunks",
        "ack duplicate",
        "ack rejected",
    ):
        assert seen[event] > 0, f"never saw {event}: {seen}"
