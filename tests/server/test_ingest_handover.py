"""Any ingest worker finishes a transfer another started: the chunks are staged in the database,
never in a worker. Against the real broker and both databases; one test hands over to a
`sohoa server ingest` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, func, select
from sqlmodel import col

from protocol.messages import AckStatus, sha256_hex
from provisioning.broker import Mosquitto
from provisioning.ca import CertificateAuthority
from server.db import session_scope
from server.ingest import IngestWorker
from server.models import Record
from server.verify import Verifier
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.counts import staged_rows
from tests.server.peers import (
    DevicePeer,
    chunks,
    manifest,
    running,
    server_settings,
    wait_for,
    whole,
)

CHUNK = 64 * 1024


def _records_by_result(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        rows = s.execute(
            select(col(Record.result_id), func.count()).group_by(col(Record.result_id))
        ).all()
    return {result_id: count for result_id, count in rows}


def test_a_transfer_started_by_one_worker_is_finished_by_another(
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
    pdf = ingest_signer.large
    device = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    try:
        with running(IngestWorker(settings, db_engine, verifier, index=0)) as first:
            device.send_all([manifest(device.device_id, pdf, CHUNK)])
            device.send_all(chunks(device.device_id, pdf, CHUNK, range(5)))
            wait_for(lambda: staged_rows(db_engine) == (1, 5), "the first half staged")
        assert first.stats().chunks_staged == 5 and first.stats().answered == 0

        with running(IngestWorker(settings, db_engine, verifier, index=1)) as second:
            device.send_all(chunks(device.device_id, pdf, CHUNK, range(5, 10)))
            ack = device.next_ack()
        assert ack.status is AckStatus.ACCEPTED, ack.detail
        assert second.stats().chunks_staged == 5 and second.stats().accepted == 1
    finally:
        device.close()
    assert _records_by_result(db_engine) == {sha256_hex(pdf): 1}
    assert staged_rows(db_engine) == (0, 0)


def test_two_workers_share_transfers_and_each_result_is_stored_once(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    ingest_signer: IngestSigner,
) -> None:
    # The broker deals the manifest and chunks of one transfer to both workers in turn: each
    # stages some, and whichever stages the last one under the lock assembles the result.
    ingest_signer.register(db_engine)
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path / "data")
    verifier = Verifier([ingest_signer.ca.cert])
    device = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    smalls = ingest_signer.extra[:6]
    try:
        with (
            running(IngestWorker(settings, db_engine, verifier, index=0)) as a,
            running(IngestWorker(settings, db_engine, verifier, index=1)) as b,
        ):
            device.send_chunked(ingest_signer.large, CHUNK)
            for pdf in smalls:
                device.send(whole(device.device_id, pdf))
                device.send(whole(device.device_id, pdf))  # and each small one twice
            acks = [device.next_final_ack() for _ in range(1 + 2 * len(smalls))]
            device.send_chunked(ingest_signer.large, 48 * 1024)  # again, in another geometry
            acks.append(device.next_final_ack())
        stats = a.stats().plus(b.stats())
    finally:
        device.close()
    assert a.stats().chunks_staged > 0 and b.stats().chunks_staged > 0
    assert stats.accepted == 1 + len(smalls) and stats.duplicates == 1 + len(smalls)
    assert [ack.status for ack in acks].count(AckStatus.ACCEPTED) == 1 + len(smalls)
    expected = {sha256_hex(p): 1 for p in (ingest_signer.large, *smalls)}
    assert _records_by_result(db_engine) == expected
    wait_for(lambda: staged_rows(db_engine) == (0, 0), "the staging to be emptied")


@pytest.mark.slow
def test_a_sohoa_server_ingest_process_finishes_what_a_worker_started(
    broker: Mosquitto,
    mqtt_ca: CertificateAuthority,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    # One file with both roots: the broker's (TLS) and the signers' (documents). In production
    # the provincial CA is both.
    roots = tmp_path / "roots.pem"
    roots.write_bytes(
        b"".join(
            ca.cert.public_bytes(serialization.Encoding.PEM) for ca in (mqtt_ca, ingest_signer.ca)
        )
    )
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path / "data", ca_file=roots)
    pdf = ingest_signer.large
    device = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    try:
        verifier = Verifier([ingest_signer.ca.cert])
        with running(IngestWorker(settings, db_engine, verifier)):
            device.send_all([manifest(device.device_id, pdf, CHUNK)])
            device.send_all(chunks(device.device_id, pdf, CHUNK, range(0, 10, 2)))
            wait_for(lambda: staged_rows(db_engine) == (1, 5), "half the chunks staged")

        cert, key = mqtt_identity(SERVER_IDENTITY)
        config = tmp_path / "server.toml"
        config.write_text(
            "".join(
                f'{k} = "{v}"\n'
                for k, v in {
                    "database_url": db_url,
                    "data_dir": settings.data_dir,
                    "broker_host": broker.host,
                    "ca_file": roots,
                    "cert_file": cert,
                    "key_file": key,
                    "ingest_group": settings.ingest_group,
                    "ingest_client_prefix": "sohoa-test-ingest-process",
                }.items()
            )
            + f"broker_port = {broker.server_port}\n"
        )
        log_file = tmp_path / "ingest.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "server", "ingest", "--retire", "--config", config],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SOHOA_SERVER_LTV": "false"},
            )
        try:
            wait_for(
                lambda: "ingest-0 connected" in log_file.read_text(),
                "the ingest process to connect",
                timeout=60,
            )
            device.send_all(chunks(device.device_id, pdf, CHUNK, range(1, 10, 2)))
            ack = device.next_ack(timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log_file.read_text()[-2000:]
    finally:
        device.close()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert _records_by_result(db_engine) == {sha256_hex(pdf): 1}
    assert staged_rows(db_engine) == (0, 0)
