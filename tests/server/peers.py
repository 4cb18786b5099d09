"""The device side of the wire for the server tests: a plain paho client with a device's own TLS
identity (as the broker's ACL sees it) that publishes results whole or in chunks, heartbeats and
command replies, and reads its acks and commands. Messages are built by `protocol`, never by
hand, except where a test breaks them on purpose.
"""

from __future__ import annotations

import itertools
import os
import queue
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from protocol import topics
from protocol.commands import Command
from protocol.encoding import decode, encode
from protocol.messages import Ack, ResultChunk, ResultManifest, ResultMessage, sha256_hex
from protocol.status import Heartbeat
from provisioning.broker import Mosquitto
from server.config import ServerSettings
from server.consumer import MqttConsumer
from server.passwords import HashingCost
from support.sockets import disable_nagle
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity

TIMEOUT_S = 15.0
CREATED = "2025-03-01T02:30:00+00:00"
FIELDS: Mapping[str, str | None] = {
    "so_ky_hieu": "05/QĐ-UBND",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "cccd": None,
}
_ids = itertools.count()
W = TypeVar("W", bound=MqttConsumer)


def server_settings(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_url: str, data_dir: Path, **overrides: Any
) -> ServerSettings:
    """Settings of a server on the test broker, with a share group and client ids of its own
    (the broker is shared by the whole session, and worker sessions are persistent)."""
    cert, key = mqtt_identity(SERVER_IDENTITY)
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "broker_host": broker.host,
        "broker_port": broker.server_port,
        "ca_file": broker.ca_file,
        "cert_file": cert,
        "key_file": key,
        "ingest_group": f"test-{tag}",
        "ingest_client_prefix": f"sohoa-test-ingest-{tag}",
        "ingest_session_expiry_s": 600,
        "ltv": False,
        "password_hashing": HashingCost.TESTS_ONLY,
        **overrides,
    }
    return ServerSettings(**values)


def api_settings_for(db_url: str, data_dir: Path, **overrides: Any) -> ServerSettings:
    """Settings of an API server (no broker) on `db_url`, hashing passwords at the tests-only
    cost."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "password_hashing": HashingCost.TESTS_ONLY,
        **overrides,
    }
    return ServerSettings(**values)


@contextmanager
def running(worker: W) -> Iterator[W]:
    """Start `worker`; at the end stop it and end its broker session (the broker is shared by
    the whole test session: a stopped worker's session would still be dealt results)."""
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(end_session=True)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def whole(device_id: str, pdf: bytes, fields: Mapping[str, str | None] = FIELDS) -> bytes:
    """A result sent whole, encoded."""
    return encode(ResultMessage.for_pdf(device_id, pdf, fields, CREATED))


def manifest(
    device_id: str,
    pdf: bytes,
    chunk_size: int,
    *,
    resume: bool = False,
    result_id: str | None = None,
) -> ResultManifest:
    """The manifest of `pdf` in chunks of `chunk_size`."""
    return ResultManifest(
        device_id=device_id,
        result_id=result_id or sha256_hex(pdf),
        size=len(pdf),
        chunk_size=chunk_size,
        fields=FIELDS,
        created_at=CREATED,
        resume=resume,
    )


def chunks(
    device_id: str,
    pdf: bytes,
    chunk_size: int,
    indexes: Iterable[int] | None = None,
    *,
    result_id: str | None = None,
) -> list[ResultChunk]:
    """Chunks of `pdf` (all, or `indexes`)."""
    count = -(-len(pdf) // chunk_size)
    rid = result_id or sha256_hex(pdf)
    return [
        ResultChunk.cut(device_id, rid, pdf, chunk_size, i)
        for i in (range(count) if indexes is None else indexes)
    ]


class DevicePeer:
    """A device's MQTT side: publishes on its own topics, reads its acks and commands.

    Args:
        broker: the test broker.
        device_id: the device (its certificate's commonName).
        identity: its TLS certificate and key.
        will: publish an OFFLINE heartbeat as the last will (MQTT v5 section 3.1.3.2).
    """

    def __init__(
        self,
        broker: Mosquitto,
        device_id: str,
        identity: tuple[Path, Path],
        *,
        will: bool = False,
        subscribe: bool = True,
    ) -> None:
        self.device_id = device_id
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.commands: queue.Queue[Command] = queue.Queue()
        self.other: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self._subscribed: queue.Queue[tuple[int, list[ReasonCode]]] = queue.Queue()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{device_id}-{os.getpid()}-{next(_ids)}",
            protocol=paho.MQTTv5,
        )
        self._client.tls_set(
            ca_certs=str(broker.ca_file), certfile=str(identity[0]), keyfile=str(identity[1])
        )
        if will:
            self._client.will_set(
                topics.status_topic(device_id),
                encode(Heartbeat.last_will(device_id)),
                qos=1,
                retain=True,
            )
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: disable_nagle(client.socket())
        self._client.on_subscribe = lambda _c, _u, mid, codes, _p: self._subscribed.put(
            (mid, codes)
        )
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if subscribe:
            for topic in topics.device_subscriptions(device_id):
                self.subscribe(topic)

    def subscribe(self, topic_filter: str) -> list[ReasonCode]:
        """Subscribe with QoS 1 and return the broker's reason codes."""
        _, mid = self._client.subscribe(topic_filter, qos=1)
        got, codes = self._subscribed.get(timeout=TIMEOUT_S)
        assert got == mid
        return codes

    def send(self, payload: bytes, topic: str | None = None, *, retain: bool = False) -> None:
        """Publish on this device's result topic (or `topic`) and wait for the broker's PUBACK."""
        info = self._client.publish(
            topic or topics.result_topic(self.device_id), payload, qos=1, retain=retain
        )
        info.wait_for_publish(TIMEOUT_S)
        assert info.is_published()

    def send_all(self, messages: Iterable[ResultMessage | ResultManifest | ResultChunk]) -> None:
        """Publish protocol messages in order."""
        for message in messages:
            self.send(encode(message))

    def send_chunked(self, pdf: bytes, chunk_size: int) -> None:
        """Publish a result as its manifest and every chunk."""
        self.send_all([manifest(self.device_id, pdf, chunk_size)])
        self.send_all(chunks(self.device_id, pdf, chunk_size))

    def heartbeat(self, heartbeat: Heartbeat) -> None:
        """Publish a retained heartbeat."""
        self.send(encode(heartbeat), topics.status_topic(self.device_id), retain=True)

    def next_ack(self, timeout: float = TIMEOUT_S) -> Ack:
        """The next application ack from the server."""
        return self.acks.get(timeout=timeout)

    def next_final_ack(self, timeout: float = TIMEOUT_S) -> Ack:
        """The next ack that ends a result (skipping need_chunks)."""
        deadline = time.monotonic() + timeout
        while True:
            ack = self.acks.get(timeout=max(0.01, deadline - time.monotonic()))
            if ack.final:
                return ack

    def close(self) -> None:
        """Disconnect cleanly (no last will)."""
        self._client.disconnect()
        self._client.loop_stop()

    def vanish(self) -> None:
        """Disconnect so that the broker publishes the last will (reason 0x04, MQTT v5 section
        3.14.2.1), as if the appliance had lost power."""
        self._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
        self._client.loop_stop()

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        kind = topics.parse(msg.topic).kind
        if kind is topics.Kind.ACK:
            ack = decode(bytes(msg.payload))
            assert isinstance(ack, Ack)
            self.acks.put(ack)
        elif kind is topics.Kind.CMD:
            command = decode(bytes(msg.payload))
            assert isinstance(command, Command)
            self.commands.put(command)
        else:
            self.other.put(msg)
