"""The lossy-link world of `tests/protocol/test_lossy_link.py` against the real repository: the
staging and the merge are `server.repository.staging` and `server.repository.records` on
SQLite, run as the ingest worker runs them (a message's store writes in one transaction under
the per-result lock; each merge after that commit, in its own transaction, under the lock
again). Two workers that take messages at once both stage before either merges, so both may
reach the merge: only the repository's existing-record lookup and unique key keep one record.
"Merged more than once" is counted in the database, so a duplicate shows, not only a loss.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from protocol.encoding import decode, encode
from protocol.messages import ResultChunk, sha256_hex
from protocol.reasons import RejectReason
from protocol.receiver import (
    Assemble,
    DropStaged,
    Effect,
    Ignore,
    Merge,
    MergeRequest,
    Receiver,
    ReceiverLimits,
    SendAck,
    StageChunk,
    StageManifest,
    result_id_of,
)
from server.db import make_engine, migrate, session_scope
from server.models import Record, Transfer, TransferChunk
from server.repository import devices, records, staging
from tests.protocol.test_lossy_link import DEV, Chaos, chaos_levels, run_world

_engine: Engine | None = None


def _repository() -> Engine:
    """One in-memory repository for the module, emptied for each world (hypothesis calls the
    test many times; migrating for each would cost more than the world)."""
    global _engine  # a module-wide cache: hypothesis calls the test many times
    if _engine is None:
        _engine = make_engine("sqlite://")
        migrate(_engine)
        with Session(_engine) as session:
            devices.register_device(session, DEV, "UBND xã Vạn Thắng", sha256_hex(b"cert"))
            session.commit()
    with Session(_engine) as session:
        for table in (TransferChunk, Transfer, Record):
            session.execute(delete(table))
        session.commit()
    return _engine


@dataclass(frozen=True)
class _Valid:
    """The verdict the merge stores (the world's "verifier" refuses by result id)."""

    valid: bool = True
    signer_common_name: str | None = DEV
    signing_time: dt.datetime | None = None


class RepositoryServer:
    """The ingest side on the real repository; workers die between any two of its steps."""

    def __init__(self, rnd: random.Random, refuse: set[str], seen: Counter[str]) -> None:
        self.rnd = rnd
        self.refuse = refuse
        self.seen = seen
        self.engine = _repository()
        self.receiver = Receiver(ReceiverLimits(max_chunk_bytes=64))

    def handle(self, payloads: list[bytes], down: list[bytes], chaos: Chaos) -> bool:
        """Stage each message (its own transaction), then carry out the merges they led to."""
        done = True
        merges: list[tuple[MergeRequest, bytes]] = []
        for payload in payloads:
            staged = self._stage(payload, down, chaos)
            if staged is None:
                done = False
            else:
                merges += staged
        for request, pdf in merges:
            done = self._merge(request, pdf, down, chaos) and done
        return done

    def records_of(self, result_id: str) -> int:
        """Records holding `result_id`, counted in the database."""
        with session_scope(self.engine) as session:
            query = select(func.count()).where(col(Record.result_id) == result_id)
            return int(session.execute(query).scalar_one())

    def staged(self, result_id: str) -> bool:
        """Whether a manifest or a chunk of `result_id` is staged."""
        with session_scope(self.engine) as session:
            for table in (Transfer, TransferChunk):
                query = select(func.count()).where(col(table.result_id) == result_id)
                if session.execute(query).scalar_one():
                    return True
        return False

    def _died(self, chaos: Chaos) -> bool:
        if self.rnd.random() < chaos.worker_crash:
            self.seen["worker crash"] += 1
            return True
        return False

    def _stage(
        self, payload: bytes, down: list[bytes], chaos: Chaos
    ) -> list[tuple[MergeRequest, bytes]] | None:
        """One message's store effects in one transaction; None if the worker died (rolled
        back: nothing of it stays)."""
        message = decode(payload)
        result_id = result_id_of(message)
        assert result_id is not None
        merges: list[tuple[MergeRequest, bytes]] = []
        acks: list[SendAck] = []
        with session_scope(self.engine) as session:
            staging.lock(session, DEV, result_id)
            state = staging.load_state(
                session, DEV, result_id, with_quota=isinstance(message, ResultChunk)
            )
            todo: collections.deque[Effect] = collections.deque(
                self.receiver.on_message(DEV, message, state)
            )
            assembled: bytes | None = None
            while todo:
                if self._died(chaos):
                    session.rollback()
                    return None
                effect = todo.popleft()
                self.seen[type(effect).__name__] += 1
                match effect:
                    case StageManifest(manifest=manifest):
                        staging.stage_manifest(session, manifest)
                    case StageChunk(chunk=chunk):
                        staging.stage_chunk(session, chunk)
                    case DropStaged(result_id=rid, indexes=indexes):
                        staging.drop(session, DEV, rid, indexes)
                    case Assemble(manifest=manifest):
                        whole = staging.assemble(session, manifest)
                        if whole is None:
                            self.seen["assembly abandoned"] += 1
                            break
                        assembled, sha256 = whole
                        todo.extendleft(reversed(self.receiver.on_assembled(manifest, sha256)))
                    case Merge(request=request):
                        pdf = request.pdf if request.pdf is not None else assembled
                        assert pdf is not None
                        merges.append((request, pdf))
                    case SendAck():
                        acks.append(effect)
                    case Ignore():
                        pass
            session.commit()
        self._send(acks, down)
        return merges

    def _merge(self, request: MergeRequest, pdf: bytes, down: list[bytes], chaos: Chaos) -> bool:
        """Verify (by the world's list) and merge, as `IngestWorker._merge` does."""
        assert sha256_hex(pdf) == request.result_id  # never merge what is not the result
        if self._died(chaos):
            return False
        if request.result_id in self.refuse:
            effects = self.receiver.on_refused(request, RejectReason.SIGNATURE, "bad signature")
        else:
            with session_scope(self.engine) as session:
                staging.lock(session, DEV, request.result_id)
                outcome = records.merge_result(
                    session,
                    result_id=request.result_id,
                    device_id=DEV,
                    fields=request.fields,
                    verdict=_Valid(),
                    pdf_path=f"blobs/{request.result_id}.pdf",
                    pdf_size=len(pdf),
                )
            self.seen["merged" if outcome.created else "merged again"] += 1
            effects = self.receiver.on_merged(request, outcome.record_id, outcome.created)
        for effect in effects:
            if self._died(chaos):
                return False
            if isinstance(effect, DropStaged):
                with session_scope(self.engine) as session:
                    staging.lock(session, DEV, effect.result_id)
                    staging.drop(session, DEV, effect.result_id, effect.indexes)
                    session.commit()
            elif isinstance(effect, SendAck):
                self._send([effect], down)
        return True

    def _send(self, acks: list[SendAck], down: list[bytes]) -> None:
        for effect in acks:
            assert effect.device_id == DEV
            self.seen[f"ack {effect.ack.status.value}"] += 1
            down.append(encode(effect.ack))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=1, max_value=8),
    window=st.integers(min_value=1, max_value=4),
    window_bytes=st.integers(min_value=1, max_value=400),
    refused=st.integers(min_value=0, max_value=2),
    chaos=chaos_levels,
)
def test_every_result_is_stored_once_in_the_repository_over_a_lossy_link(
    seed: int, n: int, window: int, window_bytes: int, refused: int, chaos: Chaos
) -> None:
    run_world(seed, n, window, window_bytes, min(refused, n), chaos, 300, RepositoryServer)


@pytest.mark.slow
# 30 long storms into a real database keep CI within its time; the short runs above do 60.
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=10, max_value=40),
    window=st.integers(min_value=1, max_value=8),
    window_bytes=st.integers(min_value=1, max_value=2000),
    refused=st.integers(min_value=0, max_value=5),
    chaos=chaos_levels,
)
def test_many_results_through_a_long_storm_into_the_repository(
    seed: int, n: int, window: int, window_bytes: int, refused: int, chaos: Chaos
) -> None:
    run_world(seed, n, window, window_bytes, refused, chaos, 2000, RepositoryServer)


def test_the_repository_world_reaches_the_race_on_the_merge() -> None:
    """A fixed stormy run in which two workers both reach the merge of one result, the case
    only the repository's lookup and unique key answer: a guard that the property above is not
    passing by never reaching it."""
    chaos = Chaos(drop=0.3, dup=0.3, damage=0.2, worker_crash=0.1, device_crash=0.03, race=0.3)
    world = run_world(0, 10, 3, 300, 2, chaos, 1500, RepositoryServer)
    seen = world.seen
    for event in (
        "worker crash",
        "race",
        "chunk damaged",
        "StageChunk",
        "Assemble",
        "merged",
        "merged again",
        "ack need_chunks",
        "ack duplicate",
        "ack rejected",
    ):
        assert seen[event] > 0, f"never saw {event}: {seen}"
