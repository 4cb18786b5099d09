"""Ingest against the real services: Mosquitto with TLS and ACL, a PDF signed on SoftHSM, the
pyHanko verifier, and the repository on SQLite and PostgreSQL. The device side is a plain paho
client with the device's own TLS identity, as the broker's ACL sees it."""

from __future__ import annotations

import itertools
import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives import hashes
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from protocol import topics
from protocol.encoding import decode, encode
from protocol.messages import Ack, AckStatus, RejectReason, ResultMessage
from provisioning.broker import Mosquitto
from provisioning.ca import publish_crl
from server import repository
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import make_engine, session_scope
from server.errors import IngestError
from server.ingest import IngestWorker
from server.ltv import LtvAugmenter, LtvWorker
from server.models import DeviceStatus, LtvStatus
from server.verify import Verifier
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity
from tests.fixtures.token import SignedSample

FIELDS = {"so_ky_hieu": "05/QĐ-UBND", "loai_van_ban": "QUYẾT ĐỊNH", "cccd": None}
TIMEOUT_S = 10.0
_client_ids = itertools.count()


class Device:
    """A device's MQTT side: publishes results on its topic, reads acks on its own."""

    def __init__(self, broker: Mosquitto, device_id: str, identity: tuple[Path, Path]) -> None:
        self.device_id = device_id
        self.acks: queue.Queue[Ack] = queue.Queue()
        self._subscribed: queue.Queue[int] = queue.Queue()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{device_id}-{os.getpid()}-{next(_client_ids)}",
            protocol=paho.MQTTv5,
        )
        self._client.tls_set(
            ca_certs=str(broker.ca_file), certfile=str(identity[0]), keyfile=str(identity[1])
        )
        self._client.on_message = lambda _c, _u, m: self.acks.put(decode(m.payload))  # type: ignore[arg-type]
        self._client.on_subscribe = lambda _c, _u, mid, _rc, _p: self._subscribed.put(mid)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        _, mid = self._client.subscribe(topics.ack_topic(device_id), qos=1)
        assert self._subscribed.get(timeout=TIMEOUT_S) == mid

    def send(self, payload: bytes) -> None:
        """Publish `payload` on this device's result topic and wait for the broker's PUBACK."""
        info = self._client.publish(topics.result_topic(self.device_id), payload, qos=1)
        info.wait_for_publish(TIMEOUT_S)
        assert info.is_published()

    def next_ack(self) -> Ack:
        """The next application ack from the server."""
        return self.acks.get(timeout=TIMEOUT_S)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def settings(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_url: str, tmp_path: Path
) -> ServerSettings:
    cert, key = mqtt_identity(SERVER_IDENTITY)
    return ServerSettings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        broker_host=broker.host,
        broker_port=broker.port,
        ca_file=broker.ca_file,
        cert_file=cert,
        key_file=key,
    )


@pytest.fixture
def worker(
    settings: ServerSettings, db_engine: Engine, signed_sample: SignedSample
) -> Iterator[IngestWorker]:
    with IngestWorker(settings, db_engine, Verifier([signed_sample.ca.cert])) as running:
        yield running


@pytest.fixture
def device(
    broker: Mosquitto, mqtt_identity: MqttIdentity, signed_sample: SignedSample
) -> Iterator[Device]:
    client = Device(broker, signed_sample.device_id, mqtt_identity(signed_sample.device_id))
    yield client
    client.close()


def _register(engine: Engine, sample: SignedSample, *, cert_sha256: str | None = None) -> None:
    with session_scope(engine) as s:
        repository.register_device(
            s,
            sample.device_id,
            sample.unit,
            cert_sha256 or sample.certificate.fingerprint(hashes.SHA256()).hex(),
        )


def _result(sample: SignedSample, device_id: str | None = None) -> bytes:
    return encode(
        ResultMessage.for_pdf(
            device_id or sample.device_id, sample.signed, FIELDS, "2025-03-01T02:30:00+00:00"
        )
    )


def _records(engine: Engine) -> int:
    with session_scope(engine) as s:
        return repository.count_records(s)


def test_a_signed_result_is_stored_then_acked_and_a_redelivery_is_a_duplicate(
    worker: IngestWorker,
    device: Device,
    db_engine: Engine,
    settings: ServerSettings,
    signed_sample: SignedSample,
) -> None:
    _register(db_engine, signed_sample)
    device.send(_result(signed_sample))
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert ack.record_id is not None
    with session_scope(db_engine) as s:
        record = repository.get_record(s, ack.record_id)
        assert record is not None
        assert record.result_id == ack.result_id
        assert record.signature_valid is True
        assert record.signer_common_name == signed_sample.device_id
        assert record.so_ky_hieu == FIELDS["so_ky_hieu"] and record.cccd is None
        pdf_path = record.pdf_path
    assert BlobStore(settings.data_dir).resolve(pdf_path).read_bytes() == signed_sample.signed

    device.send(_result(signed_sample))
    again = device.next_ack()
    assert again.status is AckStatus.DUPLICATE
    assert again.record_id == ack.record_id
    assert _records(db_engine) == 1
    assert worker.stats().accepted == 1 and worker.stats().duplicates == 1


def test_garbage_is_rejected_and_the_worker_goes_on(
    worker: IngestWorker, device: Device, db_engine: Engine, signed_sample: SignedSample
) -> None:
    _register(db_engine, signed_sample)
    device.send(b"\xff not a message")
    ack = device.next_ack()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.SCHEMA
    assert "JSON" in ack.detail
    device.send(_result(signed_sample))
    assert device.next_ack().status is AckStatus.ACCEPTED
    assert _records(db_engine) == 1


def test_a_result_from_an_unknown_device_is_rejected(
    worker: IngestWorker, broker: Mosquitto, mqtt_identity: MqttIdentity, db_engine: Engine
) -> None:
    stranger = Device(broker, "test-unknown-07", mqtt_identity("test-unknown-07"))
    try:
        message = ResultMessage.for_pdf("test-unknown-07", b"%PDF-1.7 unsigned", {}, "2025-03-01")
        stranger.send(encode(message))
        ack = stranger.next_ack()
    finally:
        stranger.close()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.UNKNOWN_DEVICE
    assert ack.result_id == message.result_id
    assert _records(db_engine) == 0


def test_a_message_naming_another_device_is_rejected(
    worker: IngestWorker, device: Device, db_engine: Engine, signed_sample: SignedSample
) -> None:
    _register(db_engine, signed_sample)
    device.send(_result(signed_sample, device_id="someone-else"))
    ack = device.next_ack()
    assert ack.reason is RejectReason.DEVICE_MISMATCH
    assert _records(db_engine) == 0


def test_revoked_device_and_unregistered_signer_are_rejected(
    worker: IngestWorker, device: Device, db_engine: Engine, signed_sample: SignedSample
) -> None:
    _register(db_engine, signed_sample, cert_sha256="ab" * 32)
    device.send(_result(signed_sample))
    assert device.next_ack().reason is RejectReason.SIGNER_NOT_REGISTERED

    with session_scope(db_engine) as s:
        repository.set_device_status(s, signed_sample.device_id, DeviceStatus.REVOKED)
    device.send(_result(signed_sample))
    assert device.next_ack().reason is RejectReason.REVOKED_DEVICE
    assert _records(db_engine) == 0


def test_a_tampered_pdf_is_rejected_for_its_signature(
    worker: IngestWorker, device: Device, db_engine: Engine, signed_sample: SignedSample
) -> None:
    _register(db_engine, signed_sample)
    tampered = bytearray(signed_sample.signed)
    tampered[len(tampered) // 3] ^= 0x01  # one bit, inside the signed byte range
    message = ResultMessage.for_pdf(signed_sample.device_id, bytes(tampered), FIELDS, "2025-03-01")
    device.send(encode(message))
    ack = device.next_ack()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.SIGNATURE
    assert _records(db_engine) == 0


def test_a_broker_that_is_not_there_is_named(
    tmp_path: Path, broker: Mosquitto, mqtt_identity: MqttIdentity, signed_sample: SignedSample
) -> None:
    cert, key = mqtt_identity(SERVER_IDENTITY)
    settings = ServerSettings(
        data_dir=tmp_path,
        broker_port=1,
        ca_file=broker.ca_file,
        cert_file=cert,
        key_file=key,
    )
    engine = make_engine(settings.database_url)
    worker = IngestWorker(settings, engine, Verifier([signed_sample.ca.cert]))
    try:
        with pytest.raises(IngestError, match="broker_host/broker_port"):
            worker.start(timeout=3.0)
    finally:
        engine.dispose()


# --- revocation and long-term validation ---------------------------------------------------------


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_an_accepted_result_gets_its_long_term_copy_after_the_ack(
    settings: ServerSettings,
    db_engine: Engine,
    device: Device,
    signed_sample: SignedSample,
    ltv_verifier: Verifier,
    augmenter: LtvAugmenter,
) -> None:
    _register(db_engine, signed_sample)
    ltv = LtvWorker(db_engine, BlobStore(settings.data_dir), augmenter)
    with IngestWorker(settings, db_engine, ltv_verifier, ltv=ltv):
        device.send(_result(signed_sample))
        ack = device.next_ack()
        assert ack.status is AckStatus.ACCEPTED, ack.detail
        assert ack.record_id is not None

        def copied() -> bool:
            with session_scope(db_engine) as s:
                record = repository.get_record(s, ack.record_id or "")
                return record is not None and record.ltv_status is LtvStatus.B_LTA

        _wait_for(copied, "the B-LTA copy")
    assert ltv.stats().made == 1
    with session_scope(db_engine) as s:
        record = repository.get_record(s, ack.record_id)
        assert record is not None and record.ltv_pdf_path is not None
        blobs = BlobStore(settings.data_dir)
        assert blobs.resolve(record.pdf_path).read_bytes() == signed_sample.signed
        assert blobs.resolve(record.ltv_pdf_path).read_bytes().startswith(signed_sample.signed)


def test_without_a_current_crl_a_result_is_held_back_not_rejected(
    settings: ServerSettings,
    db_engine: Engine,
    device: Device,
    signed_sample: SignedSample,
    tmp_path: Path,
) -> None:
    _register(db_engine, signed_sample)
    crl_file = tmp_path / "crl" / "crl.pem"  # not published yet
    worker = IngestWorker(settings, db_engine, Verifier([signed_sample.ca.cert], crl_path=crl_file))
    with worker:
        device.send(_result(signed_sample))
        _wait_for(lambda: worker.stats().failed == 1, "the worker to give up on the message")
        assert device.acks.empty()  # no answer: the device keeps the result and retries
        assert _records(db_engine) == 0

        ca_dir = tmp_path / "ca"
        signed_sample.ca.save(ca_dir)
        publish_crl(ca_dir, crl_file)
        device.send(_result(signed_sample))
        assert device.next_ack().status is AckStatus.ACCEPTED
