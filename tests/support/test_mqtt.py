"""The shared MQTT adapter against the real broker (TLS, client certificates, the Sohoa ACL)."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from protocol.topics import ack_topic, device_subscriptions, result_topic
from provisioning.broker import Mosquitto
from support.mqtt import MqttClient, tls_context
from support.mqtt_types import (
    Incoming,
    MqttError,
    MqttFailure,
    Puback,
    TlsIdentity,
)
from support.sockets import free_port
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity


def client(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    name: str,
    messages: queue.Queue[Incoming],
    pubacks: queue.Queue[Puback] | None = None,
) -> MqttClient:
    cert, key = mqtt_identity(name)
    return MqttClient(
        host=broker.host,
        # The server's identity is taken only on the server's listener.
        port=broker.server_port if name == SERVER_IDENTITY else broker.port,
        identity=TlsIdentity(broker.ca_file, cert, key),
        client_id=name,
        on_message=messages.put,
        on_puback=pubacks.put if pubacks is not None else None,
    )


def test_an_identity_that_cannot_be_loaded_is_an_identity_failure(tmp_path: Path) -> None:
    missing = TlsIdentity(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    with pytest.raises(MqttError) as caught:
        tls_context(missing)
    assert caught.value.failure is MqttFailure.IDENTITY


def test_a_port_where_nothing_listens_says_so(
    broker: Mosquitto, mqtt_identity: MqttIdentity
) -> None:
    cert, key = mqtt_identity("mqtt-adapter-nobody")
    lonely = MqttClient(
        host=broker.host,
        port=free_port(),
        identity=TlsIdentity(broker.ca_file, cert, key),
        client_id="mqtt-adapter-nobody",
        on_message=lambda _message: None,
    )
    with pytest.raises(MqttError) as caught:
        lonely.connect(timeout=5.0)
    assert caught.value.failure is MqttFailure.NOTHING_LISTENS


def test_messages_go_both_ways_and_the_acl_refusal_comes_back_as_a_puback(
    broker: Mosquitto, mqtt_identity: MqttIdentity
) -> None:
    device_id = "mqtt-adapter-dev"
    to_device: queue.Queue[Incoming] = queue.Queue()
    pubacks: queue.Queue[Puback] = queue.Queue()
    device = client(broker, mqtt_identity, device_id, to_device, pubacks)
    server = client(broker, mqtt_identity, SERVER_IDENTITY, queue.Queue())
    device.connect(timeout=5.0)
    server.connect(timeout=5.0)
    try:
        assert device.connected and device.session_present is False
        device.subscribe(device_subscriptions(device_id), timeout=5.0)
        server.publish_and_wait(ack_topic(device_id), b"an ack", timeout=5.0)
        message = to_device.get(timeout=5.0)
        assert (message.topic, message.payload, message.qos) == (
            ack_topic(device_id),
            b"an ack",
            1,
        )

        queued = device.publish(result_topic(device_id), b"a result")
        answer = pubacks.get(timeout=5.0)
        assert answer.mid == queued.mid and not answer.refused  # 0 or "no subscribers"

        # The ACL lets a device write only its own topics.
        queued = device.publish(result_topic("another-device"), b"not mine")
        answer = pubacks.get(timeout=5.0)
        assert answer.mid == queued.mid and answer.refused
    finally:
        device.disconnect()
        server.disconnect()
    assert not device.connected
