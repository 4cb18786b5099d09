"""Figures of the ingest path on this machine (real broker, real verifier, SQLite and
PostgreSQL), printed as one JSON line per database; the assertions are loose sanity bounds,
not targets (the bench-sync load tool measures those).

    .venv/bin/pytest -q -s -m slow tests/server/test_ingest_figures.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol.messages import AckStatus
from provisioning.broker import Mosquitto
from server.ingest import IngestWorker
from server.verify import Verifier
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.peers import DevicePeer, running, server_settings, whole

pytestmark = pytest.mark.slow


def test_ingest_figures(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path / "data")
    verifier = Verifier([ingest_signer.ca.cert])
    started = time.perf_counter()
    verifier.verify(ingest_signer.large_extra[0], device_id=ingest_signer.device_id)
    verify_s = time.perf_counter() - started
    figures: dict[str, object] = {
        "db": db_url.split(":")[0],
        "verify_500kb_s": round(verify_s, 3),
    }
    device = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    try:
        with running(IngestWorker(settings, db_engine, verifier)) as worker:
            # One ~500 KB result at a time in 64 KiB and 256 KiB chunks: publish to ack.
            for chunk_size, pdf in ((64 * 1024, 0), (256 * 1024, 1)):
                data = ingest_signer.large_extra[pdf]
                started = time.perf_counter()
                device.send_chunked(data, chunk_size)
                ack = device.next_ack()
                assert ack.status is AckStatus.ACCEPTED, ack.detail
                figures[f"chunked_{len(data) // 1000}kb_in_{chunk_size // 1024}k_s"] = round(
                    time.perf_counter() - started, 3
                )
            # A burst of small results sent whole, back to back.
            smalls = ingest_signer.extra
            started = time.perf_counter()
            for data in smalls:
                device.send(whole(device.device_id, data))
            acks = [device.next_ack() for _ in smalls]
            elapsed = time.perf_counter() - started
            assert {a.status for a in acks} == {AckStatus.ACCEPTED}
            figures["whole_small_results_per_s"] = round(len(smalls) / elapsed, 1)
            # A burst of ~500 KB results in 256 KiB chunks.
            bigs = ingest_signer.large_extra[2:]
            started = time.perf_counter()
            for data in bigs:
                device.send_chunked(data, 256 * 1024)
            acks = [device.next_final_ack(timeout=60) for _ in bigs]
            elapsed = time.perf_counter() - started
            assert {a.status for a in acks} == {AckStatus.ACCEPTED}
            figures["chunked_500kb_results_per_s"] = round(len(bigs) / elapsed, 2)
            figures["queue_high_water_bytes"] = worker.queue.high_water_bytes
    finally:
        device.close()
    print("\n" + json.dumps(figures))
    assert verify_s < 5
