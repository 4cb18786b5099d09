"""The staging store of chunked results (`server.repository.staging`) on SQLite and PostgreSQL:
what the receiver's `TransferState` is loaded from, the per-result lock, assembly, and expiry."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

from sqlalchemy import Engine

from protocol.messages import sha256_hex
from protocol.receiver import STAGED_MANIFEST_BYTES, DeviceStanding, StagedChunk
from server.db import session_scope
from server.models import DeviceStatus
from server.repository import devices, records, staging
from tests.server.peers import chunks, manifest

DEVICE = "test-stage-01"
PDF = b"%PDF-1.7\n" + os.urandom(1000)
SIZE = 300


def _register(engine: Engine) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, DEVICE, "UBND xã Vạn Thắng", sha256_hex(b"cert"))


def _stage(engine: Engine, indexes: list[int], *, with_manifest: bool = True) -> None:
    with session_scope(engine) as s:
        staging.lock(s, DEVICE, sha256_hex(PDF))
        if with_manifest:
            assert staging.stage_manifest(s, manifest(DEVICE, PDF, SIZE))
        for chunk in chunks(DEVICE, PDF, SIZE, indexes):
            assert staging.stage_chunk(s, chunk)
        s.commit()


def test_the_state_of_a_transfer_as_the_receiver_sees_it(db_engine: Engine) -> None:
    rid = sha256_hex(PDF)
    with session_scope(db_engine) as s:
        state = staging.load_state(s, DEVICE, rid)
        assert state.device is DeviceStanding.UNKNOWN and not state.staged
    _register(db_engine)
    _stage(db_engine, [0, 2])
    with session_scope(db_engine) as s:
        state = staging.load_state(s, DEVICE, rid, with_quota=True)
    assert state.device is DeviceStanding.ACTIVE and not state.merged
    assert state.manifest == manifest(DEVICE, PDF, SIZE)
    assert state.chunks == {
        i: StagedChunk.of(c) for i, c in zip((0, 2), chunks(DEVICE, PDF, SIZE, [0, 2]), strict=True)
    }
    # Two chunks, and the manifest counted as the most a manifest can weigh.
    assert state.device_staged_bytes == 2 * SIZE + STAGED_MANIFEST_BYTES
    assert state.staged_bytes_total == state.device_staged_bytes

    with session_scope(db_engine) as s:
        staging.drop(s, DEVICE, rid, (2,))
        s.commit()
        assert set(staging.load_state(s, DEVICE, rid).chunks) == {0}
        staging.drop(s, DEVICE, rid)
        s.commit()
        assert not staging.load_state(s, DEVICE, rid).staged
        devices.set_device_status(s, DEVICE, DeviceStatus.REVOKED)
        assert staging.load_state(s, DEVICE, rid).device is DeviceStanding.REVOKED


def test_assembly_reads_the_chunks_back_and_stops_at_a_missing_one(db_engine: Engine) -> None:
    _register(db_engine)
    _stage(db_engine, [0, 1, 3])
    m = manifest(DEVICE, PDF, SIZE)
    with session_scope(db_engine) as s:
        assert staging.assemble(s, m) is None
    _stage(db_engine, [2], with_manifest=False)
    with session_scope(db_engine) as s:
        assert staging.assemble(s, m) == (PDF, sha256_hex(PDF))


def test_nothing_is_staged_for_a_result_merged_meanwhile(db_engine: Engine) -> None:
    _register(db_engine)
    rid = sha256_hex(PDF)
    with session_scope(db_engine) as s:
        records.merge_result(
            s,
            result_id=rid,
            device_id=DEVICE,
            fields={},
            verdict=_Verdict(),
            pdf_path=f"blobs/{rid[:2]}/{rid}.pdf",
            pdf_size=len(PDF),
        )
    with session_scope(db_engine) as s:
        staging.lock(s, DEVICE, rid)
        assert not staging.stage_manifest(s, manifest(DEVICE, PDF, SIZE))
        assert not staging.stage_chunk(s, chunks(DEVICE, PDF, SIZE, [0])[0])
        s.commit()
        state = staging.load_state(s, DEVICE, rid)
    assert state.merged and not state.staged


def test_a_result_stored_from_another_device_is_not_merged_for_this_one(
    db_engine: Engine,
) -> None:
    _register(db_engine)
    with session_scope(db_engine) as s:
        devices.register_device(s, "test-stage-02", "UBND xã Vạn Hưng", sha256_hex(b"its cert"))
        records.merge_result(
            s,
            result_id=sha256_hex(PDF),
            device_id="test-stage-02",
            fields={},
            verdict=_Verdict(),
            pdf_path="blobs/x.pdf",
            pdf_size=len(PDF),
        )
    with session_scope(db_engine) as s:
        assert staging.load_state(s, "test-stage-02", sha256_hex(PDF)).merged
        state = staging.load_state(s, DEVICE, sha256_hex(PDF))
    assert not state.merged and state.record_id is None  # nothing told of the other's record
    _stage(db_engine, [0])  # its own transfer of the same id goes on (and fails verification)


def test_staged_bytes_count_chunks_and_manifests_per_device_and_in_all(db_engine: Engine) -> None:
    _register(db_engine)
    with session_scope(db_engine) as s:
        devices.register_device(s, "test-stage-02", "UBND xã Vạn Hưng", sha256_hex(b"its cert"))
    _stage(db_engine, [0, 1])
    other = b"%PDF-1.7\n another"
    with session_scope(db_engine) as s:
        staging.lock(s, "test-stage-02", sha256_hex(other))
        staging.stage_manifest(s, manifest("test-stage-02", other, 8))
        s.commit()
        assert staging.staged_bytes_of(s, DEVICE) == 2 * SIZE + STAGED_MANIFEST_BYTES
        assert staging.staged_bytes_of(s, "test-stage-02") == STAGED_MANIFEST_BYTES
        assert staging.staged_bytes_of(s) == 2 * SIZE + 2 * STAGED_MANIFEST_BYTES


def test_abandoned_transfers_expire_and_recent_ones_stay(db_engine: Engine) -> None:
    _register(db_engine)
    _stage(db_engine, [0, 1])
    other = b"%PDF-1.7\n another"
    with session_scope(db_engine) as s:
        staging.lock(s, DEVICE, sha256_hex(other))
        staging.stage_chunk(s, chunks(DEVICE, other, 8, [0])[0])  # a chunk, no manifest
        s.commit()
    now = dt.datetime.now(dt.UTC)
    with session_scope(db_engine) as s:
        assert staging.expire(s, now - dt.timedelta(hours=1)) == 0
        assert staging.expire(s, now + dt.timedelta(seconds=1)) == 2
        assert not staging.load_state(s, DEVICE, sha256_hex(PDF)).staged
        assert staging.staged_bytes_of(s, DEVICE) == 0


def test_the_lock_makes_two_writers_of_one_result_take_turns(db_engine: Engine) -> None:
    _register(db_engine)
    rid = sha256_hex(PDF)
    held = threading.Event()
    waited: list[float] = []

    def first() -> None:
        with session_scope(db_engine) as s:
            staging.lock(s, DEVICE, rid)
            held.set()
            time.sleep(0.4)
            staging.stage_chunk(s, chunks(DEVICE, PDF, SIZE, [0])[0])
            s.commit()

    def second() -> None:
        held.wait(5)
        started = time.monotonic()
        with session_scope(db_engine) as s:
            staging.lock(s, DEVICE, rid)
            waited.append(time.monotonic() - started)
            state = staging.load_state(s, DEVICE, rid)
            assert 0 in state.chunks  # it sees what the first committed
            s.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert waited and waited[0] > 0.3


class _Verdict:
    valid = True
    signer_common_name = DEVICE
    signing_time = None
