"""Ingest against the real services: Mosquitto with TLS and ACL, PDFs signed on SoftHSM, the
pyHanko verifier, and the repository on SQLite and PostgreSQL. The device side is a plain paho
client with the device's own TLS identity (`peers.DevicePeer`), publishing messages built by
`protocol`: results whole and in chunks, and broken ones."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol.encoding import encode
from protocol.messages import AckStatus, ResultChunk, ResultMessage, sha256_hex
from protocol.reasons import RejectReason
from provisioning.broker import Mosquitto
from provisioning.ca import publish_crl
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import make_engine, session_scope
from server.errors import IngestError
from server.ingest import IngestCounter, IngestStats, IngestWorker
from server.ltv import LtvAugmenter, LtvWorker
from server.models import DeviceStatus, LtvStatus
from server.repository import devices, records
from server.verify import Verifier
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.counts import staged_rows, stored_records
from tests.server.peers import (
    CREATED,
    FIELDS,
    DevicePeer,
    chunks,
    manifest,
    running,
    server_settings,
    wait_for,
    whole,
)

CHUNK = 64 * 1024


# --- counters ------------------------------------------------------------------------------------


def test_every_counter_names_a_field_of_the_stats() -> None:
    assert [c.value for c in IngestCounter] == [f.name for f in fields(IngestStats)]
    once = IngestStats().bumped(IngestCounter.CHUNKS_STAGED)
    assert once.chunks_staged == 1 and once.plus(once).chunks_staged == 2


# --- whole results -------------------------------------------------------------------------------


def test_a_signed_result_is_stored_then_acked_and_a_redelivery_is_a_duplicate(
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    settings: ServerSettings,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    device.send(whole(device.device_id, ingest_signer.small))
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert ack.record_id is not None
    with session_scope(db_engine) as s:
        record = records.get_record(s, ack.record_id)
        assert record is not None
        assert record.result_id == ack.result_id == sha256_hex(ingest_signer.small)
        assert record.signature_valid is True
        assert record.signer_common_name == ingest_signer.device_id
        assert record.so_ky_hieu == FIELDS["so_ky_hieu"] and record.cccd is None
        pdf_path = record.pdf_path
    assert BlobStore(settings.data_dir).resolve(pdf_path).read_bytes() == ingest_signer.small

    device.send(whole(device.device_id, ingest_signer.small))
    again = device.next_ack()
    assert again.status is AckStatus.DUPLICATE
    assert again.record_id == ack.record_id
    assert stored_records(db_engine) == 1
    # The worker counts an answer after publishing it: wait for the count, do not race it.
    wait_for(lambda: (worker.stats().accepted, worker.stats().duplicates) == (1, 1), "the counts")


def test_garbage_naming_no_result_is_dropped_and_the_worker_goes_on(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    # Nothing to answer: an ack must name a result the device can match (protocol.receiver).
    # The next ack the device sees is the one for the good result sent after the garbage.
    ingest_signer.register(db_engine)
    device.send(b"\xff not a message")
    device.send(b'{"schema": "sohoa.result/1"}')
    device.send(whole(device.device_id, ingest_signer.small))
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED
    assert ack.result_id == sha256_hex(ingest_signer.small)
    assert worker.stats().ignored == 2
    assert stored_records(db_engine) == 1


def test_unreadable_results_that_name_themselves_are_rejected_with_a_reason(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine)
    good = whole(device.device_id, ingest_signer.small)
    header, body = good.split(b"\n", 1)
    result_id = sha256_hex(ingest_signer.small)

    newer = json.loads(header)
    newer["schema"] = "sohoa.result/2"
    device.send(json.dumps(newer).encode() + b"\n" + body)
    ack = device.next_ack()
    assert (ack.result_id, ack.reason) == (result_id, RejectReason.VERSION)
    assert "sohoa.result/1" in ack.detail

    extra = json.loads(header)
    extra["colour"] = "blue"
    device.send(json.dumps(extra).encode() + b"\n" + body)
    ack = device.next_ack()
    assert (ack.result_id, ack.reason) == (result_id, RejectReason.SCHEMA)

    device.send(header + b"\n" + body[:-1] + b"X")  # one byte changed in transit
    ack = device.next_ack()
    assert (ack.result_id, ack.reason) == (result_id, RejectReason.HASH)
    assert stored_records(db_engine) == 0


def test_a_result_from_an_unknown_device_is_rejected(
    worker: IngestWorker, broker: Mosquitto, mqtt_identity: MqttIdentity, db_engine: Engine
) -> None:
    stranger = DevicePeer(broker, "test-unknown-07", mqtt_identity("test-unknown-07"))
    try:
        message = ResultMessage.for_pdf("test-unknown-07", b"%PDF-1.7 unsigned", {}, CREATED)
        stranger.send(encode(message))
        ack = stranger.next_ack()
    finally:
        stranger.close()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.UNKNOWN_DEVICE
    assert ack.result_id == message.result_id
    assert stored_records(db_engine) == 0


def test_a_message_naming_another_device_is_rejected(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine)
    device.send(whole("someone-else", ingest_signer.small))
    assert device.next_ack().reason is RejectReason.DEVICE_MISMATCH
    device.send_all([manifest("someone-else", ingest_signer.large, CHUNK)])
    assert device.next_ack().reason is RejectReason.DEVICE_MISMATCH
    assert stored_records(db_engine) == 0 and staged_rows(db_engine) == (0, 0)


def test_revoked_device_and_unregistered_signer_are_rejected(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine, cert_sha256="ab" * 32)
    device.send(whole(device.device_id, ingest_signer.small))
    assert device.next_ack().reason is RejectReason.SIGNER_NOT_REGISTERED

    with session_scope(db_engine) as s:
        devices.set_device_status(s, ingest_signer.device_id, DeviceStatus.REVOKED)
    device.send(whole(device.device_id, ingest_signer.small))
    assert device.next_ack().reason is RejectReason.REVOKED_DEVICE
    device.send_chunked(ingest_signer.large, CHUNK)
    ack = device.next_ack()
    assert ack.reason is RejectReason.REVOKED_DEVICE
    assert ack.result_id == sha256_hex(ingest_signer.large)
    wait_for(lambda: worker.stats().rejected >= 3 + 10, "every chunk to be answered")
    assert stored_records(db_engine) == 0 and staged_rows(db_engine) == (0, 0)


def test_a_tampered_pdf_is_rejected_for_its_signature(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine)
    tampered = bytearray(ingest_signer.small)
    tampered[len(tampered) // 3] ^= 0x01  # one bit, inside the signed byte range
    device.send(whole(device.device_id, bytes(tampered)))
    ack = device.next_ack()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.SIGNATURE
    assert stored_records(db_engine) == 0


def test_a_broker_that_is_not_there_is_named(
    tmp_path: Path, broker: Mosquitto, mqtt_identity: MqttIdentity, verifier: Verifier
) -> None:
    settings = server_settings(
        broker, mqtt_identity, f"sqlite:///{tmp_path / 'r.db'}", tmp_path, broker_port=1
    )
    engine = make_engine(settings.database_url)
    worker = IngestWorker(settings, engine, verifier)
    try:
        with pytest.raises(IngestError, match="broker_host/broker_port"):
            worker.start(timeout=3.0)
    finally:
        engine.dispose()


# --- chunked results -----------------------------------------------------------------------------


def test_a_chunked_result_is_staged_assembled_merged_and_acked_once(
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    settings: ServerSettings,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    pdf = ingest_signer.large
    assert len(pdf) > 500_000  # ~600 KB: 10 chunks of 64 KiB
    started = time.perf_counter()
    device.send_chunked(pdf, CHUNK)
    ack = device.next_ack()
    seconds = time.perf_counter() - started
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert ack.result_id == sha256_hex(pdf)
    print(f"\nchunked ingest of {len(pdf)} bytes in {CHUNK}-byte chunks: {seconds:.3f} s")
    with session_scope(db_engine) as s:
        record = records.get_record(s, ack.record_id or "")
        assert record is not None and record.pdf_size == len(pdf)
        assert record.signature_valid and record.so_ky_hieu == FIELDS["so_ky_hieu"]
        stored = BlobStore(settings.data_dir).resolve(record.pdf_path).read_bytes()
    assert stored == pdf
    assert staged_rows(db_engine) == (0, 0)  # dropped once answered
    assert worker.stats().chunks_staged == 10

    # The same result again, whole or in chunks: a duplicate, still one record.
    device.send_all([manifest(device.device_id, pdf, CHUNK)])
    assert device.next_ack().status is AckStatus.DUPLICATE
    device.send_all(chunks(device.device_id, pdf, CHUNK, [3]))  # a late chunk: no answer
    device.send(whole(device.device_id, pdf))
    again = device.next_ack()
    assert again.status is AckStatus.DUPLICATE and again.record_id == ack.record_id
    assert stored_records(db_engine) == 1 and staged_rows(db_engine) == (0, 0)


def test_chunks_before_their_manifest_and_a_resume_that_asks_for_the_missing(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    # Over a shared subscription chunks may reach the store before the manifest; a resume
    # (manifest with resume set) is answered with the chunks still missing.
    ingest_signer.register(db_engine)
    pdf = ingest_signer.large
    device.send_all(chunks(device.device_id, pdf, CHUNK, [0, 2, 4, 6, 8]))
    wait_for(lambda: staged_rows(db_engine) == (1, 5), "five chunks staged")
    device.send_all([manifest(device.device_id, pdf, CHUNK, resume=True)])
    need = device.next_ack()
    assert need.status is AckStatus.NEED_CHUNKS
    assert need.missing == (1, 3, 5, 7, 9) and need.chunk_size == CHUNK
    device.send_all(chunks(device.device_id, pdf, CHUNK, need.missing))
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert stored_records(db_engine) == 1 and staged_rows(db_engine) == (0, 0)


def test_a_chunk_damaged_in_transit_is_asked_for_again(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine)
    pdf = ingest_signer.large
    parts = chunks(device.device_id, pdf, CHUNK)
    good = parts[4]
    data = bytearray(good.data)
    data[100] ^= 0xFF
    damaged = ResultChunk(
        device_id=good.device_id,
        result_id=good.result_id,
        size=good.size,
        chunk_size=good.chunk_size,
        index=good.index,
        sha256=good.sha256,  # what the sender computed; the bytes no longer match it
        data=bytes(data),
    )
    device.send_all([manifest(device.device_id, pdf, CHUNK), *parts[:4], damaged, *parts[5:]])
    need = device.next_ack()
    assert need.status is AckStatus.NEED_CHUNKS and need.missing == (4,)
    assert "damaged" in need.detail
    assert stored_records(db_engine) == 0
    device.send_all([good])
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert stored_records(db_engine) == 1


def test_a_reassembled_file_that_is_not_its_result_is_rejected_for_its_hash(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, ingest_signer: IngestSigner
) -> None:
    ingest_signer.register(db_engine)
    claimed = sha256_hex(ingest_signer.large)
    other = bytes(reversed(ingest_signer.large))  # same size, intact chunks, another file
    device.send_all([manifest(device.device_id, other, CHUNK, result_id=claimed)])
    device.send_all(chunks(device.device_id, other, CHUNK, result_id=claimed))
    ack = device.next_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.HASH
    assert ack.result_id == claimed
    assert stored_records(db_engine) == 0 and staged_rows(db_engine) == (0, 0)


def test_a_result_over_the_size_limit_is_rejected_before_anything_is_staged(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: Verifier,
    device: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path, max_result_bytes=256 * 1024)
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        pdf = ingest_signer.large
        device.send_all([manifest(device.device_id, pdf, CHUNK)])
        ack = device.next_ack()
        assert ack.reason is RejectReason.SIZE and "262144" in ack.detail
        device.send_all(chunks(device.device_id, pdf, CHUNK, [0, 1]))
        for _ in range(2):
            assert device.next_ack().reason is RejectReason.SIZE
        device.send(whole(device.device_id, pdf))
        assert device.next_ack().reason is RejectReason.SIZE
        assert worker.stats().chunks_staged == 0
    assert staged_rows(db_engine) == (0, 0) and stored_records(db_engine) == 0


# --- sessions and back-pressure ------------------------------------------------------------------


def test_results_published_while_no_worker_is_connected_wait_at_the_broker(
    settings: ServerSettings,
    db_engine: Engine,
    verifier: Verifier,
    device: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    first = IngestWorker(settings, db_engine, verifier)
    first.start()
    first.stop()  # a redeploy: the session stays at the broker
    pdfs = ingest_signer.extra[:5]
    for pdf in pdfs:
        device.send(whole(device.device_id, pdf))
    device.send_chunked(ingest_signer.large, CHUNK)
    time.sleep(0.3)
    assert device.acks.empty()
    # The same client id takes its session back, with what the broker kept for it.
    with running(IngestWorker(settings, db_engine, verifier)):
        acks = [device.next_final_ack() for _ in range(6)]
    assert {a.status for a in acks} == {AckStatus.ACCEPTED}
    assert {a.result_id for a in acks} == {sha256_hex(p) for p in (*pdfs, ingest_signer.large)}
    assert stored_records(db_engine) == 6


def test_a_burst_waits_at_the_broker_and_loses_nothing(
    settings: ServerSettings,
    db_engine: Engine,
    verifier: Verifier,
    device: DevicePeer,
    ingest_signer: IngestSigner,
) -> None:
    # The worker announces a Receive Maximum of 1 (the default): it holds one message at a time
    # and the broker keeps the rest of the burst (see test_ingest_flow.py for the figures).
    ingest_signer.register(db_engine)
    pdfs = ingest_signer.extra
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        for pdf in pdfs:
            device.send(whole(device.device_id, pdf))
        device.send_chunked(ingest_signer.large, CHUNK)
        acks = [device.next_final_ack(timeout=60) for _ in range(len(pdfs) + 1)]
        assert worker.queue.high_water_messages == 1 and worker.queue.overshoots == 0
        assert worker.queue.high_water_bytes < 2 * CHUNK  # one chunk message at most
    assert [a.status for a in acks] == [AckStatus.ACCEPTED] * (len(pdfs) + 1)
    assert stored_records(db_engine) == len(pdfs) + 1


# --- revocation and long-term validation ---------------------------------------------------------


def test_an_accepted_result_gets_its_long_term_copy_after_the_ack(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    device: DevicePeer,
    ingest_signer: IngestSigner,
    ltv_verifier: Verifier,
    augmenter: LtvAugmenter,
) -> None:
    ingest_signer.register(db_engine)
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path)
    ltv = LtvWorker(db_engine, BlobStore(settings.data_dir), augmenter)
    with running(IngestWorker(settings, db_engine, ltv_verifier, ltv=ltv)):
        device.send_chunked(ingest_signer.large, CHUNK)
        ack = device.next_ack()
        assert ack.status is AckStatus.ACCEPTED, ack.detail
        assert ack.record_id is not None

        def copied() -> bool:
            with session_scope(db_engine) as s:
                record = records.get_record(s, ack.record_id or "")
                return record is not None and record.ltv_status is LtvStatus.B_LTA

        wait_for(copied, "the B-LTA copy", timeout=30)
    assert ltv.stats().made == 1
    with session_scope(db_engine) as s:
        record = records.get_record(s, ack.record_id)
        assert record is not None and record.ltv_pdf_path is not None
        blobs = BlobStore(settings.data_dir)
        assert blobs.resolve(record.pdf_path).read_bytes() == ingest_signer.large
        assert blobs.resolve(record.ltv_pdf_path).read_bytes().startswith(ingest_signer.large)


def test_without_a_current_crl_a_result_is_held_back_not_rejected(
    settings: ServerSettings,
    db_engine: Engine,
    device: DevicePeer,
    ingest_signer: IngestSigner,
    tmp_path: Path,
) -> None:
    ingest_signer.register(db_engine)
    crl_file = tmp_path / "crl" / "crl.pem"  # not published yet
    verifier = Verifier([ingest_signer.ca.cert], crl_path=crl_file)
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        device.send_chunked(ingest_signer.large, CHUNK)
        wait_for(lambda: worker.stats().failed == 1, "the worker to give up on the result")
        assert device.acks.empty()  # no answer: the device keeps the result and resumes later
        assert stored_records(db_engine) == 0
        assert staged_rows(db_engine) == (1, 10)  # kept for the resume

        ca_dir = tmp_path / "ca"
        ingest_signer.ca.save(ca_dir)
        publish_crl(ca_dir, crl_file)
        device.send_all([manifest(device.device_id, ingest_signer.large, CHUNK, resume=True)])
        assert device.next_ack().status is AckStatus.ACCEPTED
    assert staged_rows(db_engine) == (0, 0)
