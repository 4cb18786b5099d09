"""A device cannot steal results from the ingest workers' shared subscription.

Mosquitto 2.0.11 with `acl_file` grants every SUBSCRIBE and checks read rights only when it
delivers. A device that joins the workers' share group takes its turn in the round robin, and
the results dealt to it are then dropped by the read ACL: lost at the broker. The workers' share
name is therefore a per-deployment secret (`ServerSettings.ingest_share_group`). Real broker,
real worker, real signed results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol import topics
from protocol.messages import AckStatus, sha256_hex
from provisioning.broker import Mosquitto
from server.ingest import IngestWorker
from server.verify import Verifier
from tests.fixtures.broker import MqttIdentity
from tests.server.conftest import IngestSigner
from tests.server.peers import DevicePeer, running, server_settings, whole

THIEF = "test-thief-01"


@pytest.fixture
def thief(broker: Mosquitto, mqtt_identity: MqttIdentity) -> Iterator[DevicePeer]:
    peer = DevicePeer(broker, THIEF, mqtt_identity(THIEF), subscribe=False)
    yield peer
    peer.close()


def _join_every_way(thief: DevicePeer, groups: tuple[str, ...]) -> None:
    for group in groups:
        for kind in (topics.Kind.RESULT, topics.Kind.REPLY):
            codes = thief.subscribe(topics.shared_filter(kind, group))
            assert not codes[0].is_failure  # the broker grants it: it never checks SUBSCRIBE
    thief.subscribe(topics.all_devices_filter(topics.Kind.RESULT))
    thief.subscribe("#")


def test_a_device_in_the_well_known_group_takes_nothing_from_the_workers(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    ingest_signer: IngestSigner,
    thief: DevicePeer,
) -> None:
    ingest_signer.register(db_engine)
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path)
    group = settings.ingest_share_group()
    assert group != topics.INGEST_GROUP
    _join_every_way(thief, (topics.INGEST_GROUP, "ingest-workers", "sohoa"))
    pdfs = ingest_signer.extra[:10]
    victim = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    try:
        with running(IngestWorker(settings, db_engine, Verifier([ingest_signer.ca.cert]))):
            for pdf in pdfs:
                victim.send(whole(victim.device_id, pdf))
            # Every result reaches the worker at its first delivery: no retransmission needed.
            acks = [victim.next_ack(timeout=10) for _ in pdfs]
    finally:
        victim.close()
    assert {a.status for a in acks} == {AckStatus.ACCEPTED}
    assert {a.result_id for a in acks} == {sha256_hex(p) for p in pdfs}
    assert thief.other.empty() and thief.acks.empty()


def test_the_group_name_defaults_to_a_secret_derived_from_the_server_key(
    broker: Mosquitto, mqtt_identity: MqttIdentity, tmp_path: Path
) -> None:
    settings = server_settings(broker, mqtt_identity, "sqlite://", tmp_path, ingest_group=None)
    group = settings.ingest_share_group()
    assert group.startswith("ingest-") and len(group) == len("ingest-") + 32
    assert group == settings.ingest_share_group()  # stable: every worker finds the same
    # A device holds no copy of the server's key, and the name is not the well-known one.
    assert group != topics.INGEST_GROUP


@pytest.mark.slow
def test_the_hole_itself_a_worker_in_a_guessable_group_loses_results(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    db_url: str,
    db_engine: Engine,
    tmp_path: Path,
    ingest_signer: IngestSigner,
    thief: DevicePeer,
) -> None:
    """Why the name must be secret, on this broker: with a name the device can guess, it takes
    its turn in the round robin and the results dealt to it are dropped (the device's own
    retransmission would bring them again later). If this starts failing, the broker now checks
    SUBSCRIBE against its ACL; the secret name stays harmless."""
    ingest_signer.register(db_engine)
    guessable = f"guessable-{tmp_path.name[-8:]}"
    settings = server_settings(broker, mqtt_identity, db_url, tmp_path, ingest_group=guessable)
    _join_every_way(thief, (guessable,))
    pdfs = ingest_signer.extra[10:20]
    victim = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    try:
        with running(IngestWorker(settings, db_engine, Verifier([ingest_signer.ca.cert]))):
            for pdf in pdfs:
                victim.send(whole(victim.device_id, pdf))
            time.sleep(3.0)
    finally:
        victim.close()
    assert 0 < victim.acks.qsize() < len(pdfs)
    assert thief.other.empty()  # the broker dropped what it dealt to the thief
