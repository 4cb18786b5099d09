"""Ingest under a device that holds its transport key and abuses it, against the real services
(Mosquitto with TLS and ACL, PDFs signed on SoftHSM, the repository on SQLite and PostgreSQL):
staged manifests count in the device's quota, a global cap protects the disk, a manifest of
unknown fields is refused, two workers racing for one device's quota never pass it, and the
DUPLICATE answer tells a device nothing about another device's results."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from protocol import topics
from protocol.encoding import encode
from protocol.messages import Ack, AckStatus, ResultChunk, ResultManifest, sha256_hex
from protocol.reasons import RejectReason
from protocol.receiver import STAGED_MANIFEST_BYTES
from provisioning.broker import Mosquitto
from server.db import session_scope
from server.ingest import IngestWorker
from server.models import Transfer
from server.repository import devices, records, staging
from server.verify import Verifier
from support.mqtt_types import Incoming
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.peers import (
    CREATED,
    FIELDS,
    DevicePeer,
    manifest,
    running,
    server_settings,
    wait_for,
    whole,
)

QUOTA = 1024 * 1024
"""The smallest quota the settings allow; 20 staged manifests fill it."""
CHUNK = 64 * 1024
OTHER_DEVICE = "test-bounds-other"


def _manifests(device_id: str, count: int, tag: str) -> list[ResultManifest]:
    """`count` manifests of results that never come, each a new result id (the attack)."""
    return [
        ResultManifest(
            device_id=device_id,
            result_id=sha256_hex(f"{tag}-{i}".encode()),
            size=10 * CHUNK,
            chunk_size=CHUNK,
            fields=FIELDS,
            created_at=CREATED,
        )
        for i in range(count)
    ]


def _staged_manifests(engine: Engine, device_id: str | None = None) -> int:
    with session_scope(engine) as s:
        query = select(func.count()).select_from(Transfer).where(col(Transfer.size).is_not(None))
        if device_id is not None:
            query = query.where(col(Transfer.device_id) == device_id)
        return int(s.execute(query).scalar_one())


@pytest.fixture
def other(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_engine: Engine
) -> Iterator[DevicePeer]:
    """A second registered appliance, with a signing certificate of its own."""
    with session_scope(db_engine) as s:
        devices.register_device(s, OTHER_DEVICE, "UBND xã Vạn Hưng", sha256_hex(b"its own cert"))
    peer = DevicePeer(broker, OTHER_DEVICE, mqtt_identity(OTHER_DEVICE))
    yield peer
    peer.close()


def test_manifests_beyond_the_device_quota_are_not_staged(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
    device: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    # The attack: manifests of new result ids, each kept for days, counted in no quota.
    ingest_signer.register(db_engine)
    settings = server_settings(
        broker, mqtt_identity, db_url, tmp_path / "data", max_staged_bytes_per_device=QUOTA
    )
    fits = QUOTA // STAGED_MANIFEST_BYTES
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        device.send_all(_manifests(device.device_id, fits + 10, "quota"))
        wait_for(lambda: worker.stats().ignored == 10, "the manifests beyond the quota")
        # A manifest of 1,200 unknown fields of 4 KB (4.8 MB) is refused, naming its result.
        bloated = replace(_manifests(device.device_id, 1, "bloated")[0], fields={})
        unknown = b",".join(b'"f%04d":"%s"' % (i, b"x" * 4000) for i in range(1200))
        device.send(encode(bloated).replace(b'"fields":{}', b'"fields":{' + unknown + b"}"))
        ack = device.next_ack(timeout=120)
        # The staged transfers' resume is still answered: what is staged counts already.
        first = _manifests(device.device_id, 1, "quota")[0]
        device.send(encode(replace(first, resume=True)))
        need = device.next_ack(timeout=120)
    assert ack.result_id == bloated.result_id and ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.SCHEMA and "at most 12 fields, this one 1200" in ack.detail
    assert need.status is AckStatus.NEED_CHUNKS and need.result_id == first.result_id
    assert _staged_manifests(db_engine) == fits
    with session_scope(db_engine) as s:
        assert staging.staged_bytes_of(s, device.device_id) <= QUOTA


def test_the_global_staging_cap_refuses_every_device_once_full(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
    device: DevicePeer,
    other: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    settings = server_settings(
        broker, mqtt_identity, db_url, tmp_path / "data", max_staged_bytes_total=QUOTA
    )
    fits = QUOTA // STAGED_MANIFEST_BYTES
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        device.send_all(_manifests(device.device_id, fits - 5, "first"))
        wait_for(lambda: _staged_manifests(db_engine) == fits - 5, "the first device's staging")
        other.send_all(_manifests(other.device_id, 12, "second"))  # within its own quota
        wait_for(lambda: worker.stats().ignored == 7, "the manifests beyond the global cap")
    assert _staged_manifests(db_engine, other.device_id) == 5
    assert _staged_manifests(db_engine) == fits
    with session_scope(db_engine) as s:
        assert staging.staged_bytes_of(s) <= QUOTA


def test_a_device_learns_nothing_of_another_devices_stored_result(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
    device: DevicePeer,
    other: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    # Device A stores a result; device B asks about it by its id (a manifest) and by its bytes
    # (the PDF whole), and about a result stored nowhere: B's answers must be the same.
    ingest_signer.register(db_engine)
    stored, never = ingest_signer.small, b"%PDF-1.7\n a result stored nowhere"
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path / "data")
    with running(IngestWorker(settings, db_engine, verifier)):
        device.send(whole(device.device_id, stored))
        accepted = device.next_ack()
        assert accepted.status is AckStatus.ACCEPTED and accepted.record_id is not None

        def ask(message: ResultManifest | bytes) -> Ack:
            other.send(encode(message) if isinstance(message, ResultManifest) else message)
            return other.next_ack()

        size = len(stored)
        by_id = ask(manifest(OTHER_DEVICE, stored, CHUNK, resume=True))
        by_id_never = ask(
            manifest(OTHER_DEVICE, stored, CHUNK, resume=True, result_id=sha256_hex(never))
        )
        by_bytes = ask(whole(OTHER_DEVICE, stored))
        by_bytes_unstored = ask(whole(OTHER_DEVICE, ingest_signer.extra[0]))
        # The device that stored it is still told so.
        device.send(whole(device.device_id, stored))
        duplicate = device.next_ack()
    assert by_id.status is AckStatus.NEED_CHUNKS and by_id.record_id is None
    assert _answer(by_id) == _answer(by_id_never)
    assert by_id.missing == tuple(range(-(-size // CHUNK)))
    assert by_bytes.reason is RejectReason.SIGNER_NOT_REGISTERED and by_bytes.record_id is None
    assert _answer(by_bytes) == _answer(by_bytes_unstored)
    assert duplicate.status is AckStatus.DUPLICATE
    assert duplicate.record_id == accepted.record_id
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 1


def _answer(ack: Ack) -> tuple[object, ...]:
    """What an ack tells, but for the result it names."""
    return (ack.status, ack.reason, ack.detail, ack.record_id, ack.missing, ack.chunk_size)


ROUNDS = 30


def test_two_workers_racing_for_one_devices_quota_never_pass_it(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
    ingest_signer: IngestSigner,
) -> None:
    # Two ingest workers (in one process here; in production as likely in two) handle one
    # chunk each of two different results of one device at the same moment, when the device
    # has room for one chunk more. The per-result lock does not order them (two results): only
    # the per-device lock around the quota's sum does. Round after round, exactly one chunk
    # gets in. The workers are driven through `handle`, as their consumer thread drives them.
    ingest_signer.register(db_engine)
    device_id = ingest_signer.device_id
    settings = server_settings(
        broker, mqtt_identity, db_url, tmp_path / "data", max_staged_bytes_per_device=QUOTA
    )
    workers = [IngestWorker(settings, db_engine, verifier, index=i) for i in range(2)]
    topic = topics.result_topic(device_id)

    def chunk(tag: str) -> ResultChunk:
        data = os.urandom(CHUNK)
        rid = sha256_hex(tag.encode())
        return ResultChunk(device_id, rid, 2 * CHUNK, CHUNK, 0, sha256_hex(data), data)

    for i in range(QUOTA // CHUNK - 1):  # all but one chunk's room, taken beforehand
        workers[0].handle(Incoming(topic, encode(chunk(f"base-{i}")), 0, 1))
    with session_scope(db_engine) as s:
        assert staging.staged_bytes_of(s, device_id) == QUOTA - CHUNK

    overshoots = []
    for round_ in range(ROUNDS):
        pair = [chunk(f"round-{round_}-{w}") for w in range(2)]
        start = threading.Barrier(2)

        def race(w: int, pair: list[ResultChunk] = pair, start: threading.Barrier = start) -> None:
            start.wait(5)
            workers[w].handle(Incoming(topic, encode(pair[w]), 0, 1))

        threads = [threading.Thread(target=race, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        with session_scope(db_engine) as s:
            staged = staging.staged_bytes_of(s, device_id)
            if staged > QUOTA:
                overshoots.append(round_)
            assert staged >= QUOTA  # one of the two got in
            for c in pair:
                staging.drop(s, device_id, c.result_id)
            s.commit()
    assert not overshoots, f"both chunks staged past the quota in rounds {overshoots}"
    assert sum(w.stats().ignored for w in workers) == ROUNDS


RACERS = 4


def test_workers_racing_for_the_global_cap_from_several_devices_never_pass_it(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
) -> None:
    # Four ingest workers handle one chunk each, of four different devices, at the same moment,
    # when the server's staging has room for one chunk more. Neither the per-result lock nor
    # the per-device one orders them (four devices): only the lock around the global sum does
    # (an advisory lock on PostgreSQL, the write transaction on SQLite). Round after round,
    # exactly one chunk gets in. Driven through `handle`, as the consumer threads drive them.
    ids = [f"test-cap-race-{w}" for w in range(RACERS)]
    with session_scope(db_engine) as s:
        for device_id in ids:
            devices.register_device(
                s, device_id, "UBND xã Vạn Thắng", sha256_hex(device_id.encode())
            )
    settings = server_settings(
        broker, mqtt_identity, db_url, tmp_path / "data", max_staged_bytes_total=QUOTA
    )
    workers = [IngestWorker(settings, db_engine, verifier, index=i) for i in range(RACERS)]

    def chunk(device_id: str, tag: str) -> ResultChunk:
        data = os.urandom(CHUNK)
        rid = sha256_hex(tag.encode())
        return ResultChunk(device_id, rid, 2 * CHUNK, CHUNK, 0, sha256_hex(data), data)

    def handle(worker: IngestWorker, c: ResultChunk) -> None:
        worker.handle(Incoming(topics.result_topic(c.device_id), encode(c), 0, 1))

    for i in range(QUOTA // CHUNK - 1):  # all but one chunk's room, taken beforehand
        handle(workers[0], chunk(ids[i % RACERS], f"cap-base-{i}"))
    with session_scope(db_engine) as s:
        assert staging.staged_bytes_of(s) == QUOTA - CHUNK

    overshoots = []
    for round_ in range(ROUNDS):
        racing = [chunk(ids[w], f"cap-round-{round_}-{w}") for w in range(RACERS)]
        start = threading.Barrier(RACERS)

        def race(
            w: int, racing: list[ResultChunk] = racing, start: threading.Barrier = start
        ) -> None:
            start.wait(5)
            handle(workers[w], racing[w])

        threads = [threading.Thread(target=race, args=(w,)) for w in range(RACERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        with session_scope(db_engine) as s:
            staged = staging.staged_bytes_of(s)
            if staged > QUOTA:
                overshoots.append((round_, (staged - QUOTA) // CHUNK + 1))
            assert staged >= QUOTA  # one of them got in
            for c in racing:
                staging.drop(s, c.device_id, c.result_id)
            s.commit()
    assert not overshoots, f"(round, chunks staged at once past the global cap): {overshoots}"
    assert sum(w.stats().ignored for w in workers) == ROUNDS * (RACERS - 1)
    assert sum(w.stats().failed for w in workers) == 0  # no lock error either
