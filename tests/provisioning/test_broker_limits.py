"""The broker's memory under a flood, with the real Mosquitto: one device holding its transport
key publishes 60 messages of 5 MB while the ingest side reads nothing more (a worker busy with
one result). With the generated limits the broker's queue for the stalled subscriber stops at
`max_queued_bytes`, and its memory (VmRSS in /proc) stays far under `memory_limit`; and
`memory_limit` alone, with the queues unbounded, holds the broker's heap to it.

Each test starts a broker of its own (from the same `prepare_broker` and `Mosquitto` the
session's fixture uses) so that its memory is this flood's alone, and stops it by its PID.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import topics
from provisioning.broker import (
    MAX_INFLIGHT_BYTES,
    MAX_QUEUED_BYTES,
    MEMORY_LIMIT,
    BrokerLimits,
    Mosquitto,
    prepare_broker,
)
from provisioning.ca import CertificateAuthority
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity

FLOOD = 60
MESSAGE = 5_000_000
"""Under the broker's packet limit (5 MiB and a header), so the broker takes every one."""
DEVICE = "test-flood-01"
MIB = 1024 * 1024
ALLOCATOR_SLACK = 16 * MIB


def _memory(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident at its peak) of process `pid`, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024  # reported in kB
    return found


@contextmanager
def _broker(
    tmp_path: Path, ca: CertificateAuthority, server_ca: CertificateAuthority, limits: BrokerLimits
) -> Iterator[Mosquitto]:
    files = prepare_broker(
        tmp_path / "broker", ca, server_ca=server_ca, server_identity=SERVER_IDENTITY, limits=limits
    )
    with Mosquitto(files) as running:
        yield running


def _client(broker: Mosquitto, identity: tuple[Path, Path], name: str, **kw: Any) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{os.getpid()}",
        protocol=paho.MQTTv5,
        **kw,
    )
    client.tls_set(
        ca_certs=str(broker.ca_file), certfile=str(identity[0]), keyfile=str(identity[1])
    )
    return client


@contextmanager
def _stalled_ingest(broker: Mosquitto, mqtt_identity: MqttIdentity) -> Iterator[list[int]]:
    """The server's identity subscribed to every result, taking what the broker sends in flight
    and acknowledging none of it: a worker stuck on one result. Yields the sizes received."""
    received: list[int] = []
    subscribed: queue.Queue[int] = queue.Queue()
    client = _client(broker, mqtt_identity(SERVER_IDENTITY), "stalled-ingest", manual_ack=True)
    client.on_message = lambda _c, _u, m: received.append(len(m.payload))
    client.on_subscribe = lambda _c, _u, mid, _rc, _p: subscribed.put(mid)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.ReceiveMaximum = 16  # an ingest worker's default
    client.connect(broker.host, broker.server_port, properties=props)
    client.loop_start()
    try:
        _, mid = client.subscribe(topics.all_devices_filter(topics.Kind.RESULT), qos=1)
        assert subscribed.get(timeout=10) == mid
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def _flood(broker: Mosquitto, identity: tuple[Path, Path], deadline_s: float = 90.0) -> int:
    """Publish up to FLOOD messages of MESSAGE bytes on DEVICE's result topic, QoS 1, each after
    the broker acknowledged the one before; stop at the first the broker does not take (it
    dropped the connection). Returns how many it took."""
    dropped = threading.Event()
    client = _client(broker, identity, "flood")
    client.on_disconnect = lambda *_: dropped.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    payload = os.urandom(MESSAGE)
    taken = 0
    deadline = time.monotonic() + deadline_s
    try:
        for _ in range(FLOOD):
            info = client.publish(topics.result_topic(DEVICE), payload, qos=1)
            while not info.is_published() and not dropped.is_set():
                if time.monotonic() > deadline:
                    return taken
                time.sleep(0.005)
            if dropped.is_set():
                return taken
            taken += 1
        return taken
    finally:
        client.loop_stop()  # before paho reconnects and sends the rest again
        client.disconnect()


def _still_serves(broker: Mosquitto, mqtt_identity: MqttIdentity) -> bool:
    """Whether the broker is alive and takes a new connection and a small publish."""
    if broker.pid is None or not Path(f"/proc/{broker.pid}").exists():
        return False
    client = _client(broker, mqtt_identity(DEVICE), "after-flood")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(topics.status_topic(DEVICE), b"{}", qos=1)
        info.wait_for_publish(10)
        return info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_flood_of_5_mb_messages_stops_at_the_queue_limit_far_under_memory_limit(
    tmp_path: Path,
    mqtt_ca: CertificateAuthority,
    mqtt_server_ca: CertificateAuthority,
    mqtt_identity: MqttIdentity,
) -> None:
    with _broker(tmp_path, mqtt_ca, mqtt_server_ca, BrokerLimits()) as broker:
        assert broker.pid is not None
        with _stalled_ingest(broker, mqtt_identity) as received:
            before = _memory(broker.pid)["VmRSS"]
            taken = _flood(broker, mqtt_identity(DEVICE))
            after = _memory(broker.pid)
        assert _still_serves(broker, mqtt_identity)
        log = broker.files.log_file.read_text()
    # The broker took every message (and acknowledged it: the sender's application ack, not
    # the broker, is what makes it send again), kept what fits its queue and dropped the rest.
    assert taken == FLOOD
    growth = after["VmHWM"] - before
    # Queued and in flight, plus copies on their way: the packet being read, those being
    # written to the subscriber (measured: 148 MiB over 10 before; without the byte limits,
    # 291 MiB).
    bound = MAX_QUEUED_BYTES + MAX_INFLIGHT_BYTES + 6 * MESSAGE
    print(
        f"broker memory: {before / MIB:.0f} MiB before, peak {after['VmHWM'] / MIB:.0f} MiB, "
        f"{after['VmRSS'] / MIB:.0f} MiB after {taken} x {MESSAGE / 1e6:.0f} MB "
        f"(memory_limit {MEMORY_LIMIT / MIB:.0f} MiB)"
    )
    assert after["VmHWM"] < MEMORY_LIMIT
    assert growth < bound, f"the broker grew by {growth / MIB:.0f} MiB, over {bound / MIB:.0f}"
    assert "Outgoing messages are being dropped" in log
    assert len(received) < FLOOD


@pytest.mark.parametrize("memory_limit", [64 * MIB])
def test_memory_limit_alone_holds_the_broker_when_its_queues_are_unbounded(
    tmp_path: Path,
    mqtt_ca: CertificateAuthority,
    mqtt_server_ca: CertificateAuthority,
    mqtt_identity: MqttIdentity,
    memory_limit: int,
) -> None:
    # Queues without a byte limit (0), as before: only memory_limit stands between the flood
    # and the host's memory. Mosquitto refuses an allocation past it and drops the connection
    # of the client it was for; the broker itself stays up.
    unbounded = BrokerLimits(
        max_queued_messages=0, max_queued_bytes=0, max_inflight_bytes=0, memory_limit=memory_limit
    )
    with _broker(tmp_path, mqtt_ca, mqtt_server_ca, unbounded) as broker:
        assert broker.pid is not None
        with _stalled_ingest(broker, mqtt_identity):
            before = _memory(broker.pid)["VmRSS"]
            taken = _flood(broker, mqtt_identity(DEVICE), deadline_s=30.0)
            after = _memory(broker.pid)
        assert _still_serves(broker, mqtt_identity)
        log = broker.files.log_file.read_text()
    print(
        f"broker memory, queues unbounded: {before / MIB:.0f} MiB before, peak "
        f"{after['VmHWM'] / MIB:.0f} MiB after {taken} x {MESSAGE / 1e6:.0f} MB "
        f"(memory_limit {memory_limit / MIB:.0f} MiB)"
    )
    # The heap is what memory_limit counts; the resident size adds the program and its
    # libraries (in `before`), and what OpenSSL and the allocator keep beside the heap
    # (measured: a peak of 72 MiB over 10 before, with a 64 MiB limit).
    assert after["VmHWM"] < before + memory_limit + ALLOCATOR_SLACK
    # memory_limit is what stopped it: the broker refused an allocation and dropped a client.
    assert "disconnected due to out of memory" in log
