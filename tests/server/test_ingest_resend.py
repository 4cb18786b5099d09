"""What a device's resend costs the server: a copy of a result the repository already holds is
answered DUPLICATE from its identity (the SHA-256 the message claims, checked against the bytes
when the message is decoded) before any signature verification, whole or in chunks, also when
the copy was queued behind the original. Real services: Mosquitto with TLS and ACL, a PDF signed
on SoftHSM, the pyHanko verifier, the repository on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine

from protocol.messages import AckStatus
from provisioning.broker import Mosquitto
from server.config import ServerSettings
from server.ingest import IngestWorker
from server.verdict import Verdict
from server.verify import Verifier
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.peers import DevicePeer, manifest, running, server_settings, wait_for, whole

CHUNK = 64 * 1024


class CountingVerifier(Verifier):
    """The real verifier, counting the PDFs it is asked to verify."""

    def __init__(self, trust_roots: Sequence[x509.Certificate]) -> None:
        super().__init__(trust_roots)
        self.calls = 0

    def verify(self, pdf: bytes, *, device_id: str) -> Verdict:
        self.calls += 1
        return super().verify(pdf, device_id=device_id)


@pytest.fixture
def verifier(ingest_signer: IngestSigner) -> CountingVerifier:
    return CountingVerifier([ingest_signer.ca.cert])


@pytest.fixture
def worker(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    verifier: CountingVerifier,
    ingest_signer: IngestSigner,
) -> Iterator[IngestWorker]:
    ingest_signer.register(db_engine)
    settings: ServerSettings = server_settings(broker, mqtt_identity, db_url, tmp_path / "data")
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        yield worker


def test_copies_queued_behind_the_original_are_answered_without_verifying_again(
    worker: IngestWorker,
    device: DevicePeer,
    verifier: CountingVerifier,
    ingest_signer: IngestSigner,
) -> None:
    # An overdue ack: the device sent the result again while the first copy still waited in
    # the worker's queue. Both are answered; the signature is verified once.
    pdf = ingest_signer.extra[0]
    for _ in range(3):
        device.send(whole(device.device_id, pdf))
    first = device.next_ack()
    assert first.status is AckStatus.ACCEPTED, first.detail
    again = [device.next_ack() for _ in range(2)]
    assert [a.status for a in again] == [AckStatus.DUPLICATE] * 2
    assert {a.record_id for a in again} == {first.record_id}
    assert verifier.calls == 1
    # The worker counts an answer after publishing it: wait for the count, do not race it.
    wait_for(lambda: (worker.stats().accepted, worker.stats().duplicates) == (1, 2), "the counts")


def test_a_resend_of_a_stored_result_costs_no_verification_whole_or_chunked(
    worker: IngestWorker,
    device: DevicePeer,
    verifier: CountingVerifier,
    ingest_signer: IngestSigner,
) -> None:
    pdf = ingest_signer.large
    device.send(whole(device.device_id, pdf))
    assert device.next_ack().status is AckStatus.ACCEPTED
    assert verifier.calls == 1
    device.send(whole(device.device_id, pdf))  # sent again whole
    assert device.next_ack().status is AckStatus.DUPLICATE
    # A chunked resend after a restart starts with a resume: answered at the manifest.
    device.send_all([manifest(device.device_id, pdf, CHUNK, resume=True)])
    assert device.next_ack().status is AckStatus.DUPLICATE
    assert verifier.calls == 1
