"""The broker's generated configuration and ACL, and what the real Mosquitto then does with it."""

from __future__ import annotations

import os
import queue
import re
import threading
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from protocol import topics
from protocol.receiver import DEFAULT_MAX_CHUNK_BYTES
from protocol.sender import DEFAULT_WHOLE_MAX
from provisioning.broker import (
    MAX_PACKET_BYTES,
    MESSAGE_SIZE_LIMIT,
    Mosquitto,
    acl_rules,
    broker_config,
    new_ingest_group,
)
from provisioning.cli import app as provision_app
from server.config import SHARE_NAME_PATTERN
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity


def test_the_acl_follows_the_protocols_topic_kinds() -> None:
    rules = acl_rules("sohoa-server").splitlines()
    for kind in topics.DEVICE_WRITES:
        assert f"pattern write sohoa/v1/dev/%u/{kind.value}" in rules
        assert f"topic read sohoa/v1/dev/+/{kind.value}" in rules
    for kind in topics.DEVICE_READS:
        assert f"pattern read sohoa/v1/dev/%u/{kind.value}" in rules
        assert f"topic write sohoa/v1/dev/+/{kind.value}" in rules
    assert "pattern write sohoa/v1/dev/%u/reply" in rules
    assert rules.index("user sohoa-server") > max(i for i, r in enumerate(rules) if "pattern" in r)


def test_the_message_size_limit_fits_a_whole_result_and_a_chunk_with_headers(
    tmp_path: Path,
) -> None:
    text = broker_config(
        port=8883,
        server_port=8884,
        ca_file=tmp_path / "ca.pem",
        server_ca_file=tmp_path / "server-ca.pem",
        cert_file=tmp_path / "b.pem",
        key_file=tmp_path / "k.pem",
        acl_file=tmp_path / "acl",
        persistence_dir=tmp_path,
        log_file=tmp_path / "log",
    )
    assert f"max_packet_size {MAX_PACKET_BYTES}\n" in text
    assert max(DEFAULT_WHOLE_MAX, DEFAULT_MAX_CHUNK_BYTES) + 64 * 1024 <= MESSAGE_SIZE_LIMIT
    assert MESSAGE_SIZE_LIMIT < MAX_PACKET_BYTES


def test_ingest_groups_are_fresh_valid_share_names() -> None:
    first, second = new_ingest_group(), new_ingest_group()
    assert first != second and first != topics.INGEST_GROUP
    assert re.fullmatch(SHARE_NAME_PATTERN, first) and len(first) >= 32
    output = CliRunner().invoke(provision_app, ["ingest-group"]).output
    assert re.fullmatch(r'ingest_group = "ingest-[0-9a-f]{32}"\n', output)


def _client(broker: Mosquitto, identity: tuple[Path, Path], name: str) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}", protocol=paho.MQTTv5
    )
    client.tls_set(
        ca_certs=str(broker.ca_file), certfile=str(identity[0]), keyfile=str(identity[1])
    )
    return client


def test_the_real_broker_applies_the_reply_acl_and_the_packet_size_limit(
    broker: Mosquitto, mqtt_identity: MqttIdentity
) -> None:
    server = _client(broker, mqtt_identity(SERVER_IDENTITY), "acl-server")
    device = _client(broker, mqtt_identity("test-acl-01"), "acl-device")
    received: queue.Queue[str] = queue.Queue()
    outcomes: dict[int, ReasonCode] = {}
    subscribed: queue.Queue[int] = queue.Queue()
    connack: queue.Queue[Properties | None] = queue.Queue()
    dropped = threading.Event()
    server.on_message = lambda _c, _u, m: received.put(m.topic)
    server.on_subscribe = lambda _c, _u, mid, _rc, _p: subscribed.put(mid)
    device.on_connect = lambda _c, _u, _f, _rc, props: connack.put(props)
    device.on_publish = lambda _c, _u, mid, rc, _p: outcomes.__setitem__(mid, rc)
    device.on_disconnect = lambda *_: dropped.set()
    server.connect(broker.host, broker.server_port)
    device.connect(broker.host, broker.port)
    for client in (server, device):
        client.loop_start()
    try:
        props = connack.get(timeout=5)
        assert props is not None and getattr(props, "MaximumPacketSize", None) == MAX_PACKET_BYTES
        _, mid = server.subscribe(topics.all_devices_filter(topics.Kind.REPLY), qos=1)
        assert subscribed.get(timeout=5) == mid

        def publish(topic: str, payload: bytes) -> ReasonCode:
            info = device.publish(topic, payload, qos=1)
            info.wait_for_publish(10)
            return outcomes[info.mid]

        assert not publish(topics.reply_topic("test-acl-01"), b"{}").is_failure
        assert received.get(timeout=5) == topics.reply_topic("test-acl-01")
        assert publish(topics.reply_topic("test-acl-02"), b"{}").value == 0x87  # not its own
        # Larger than announced: the broker drops the connection rather than carry it.
        device.publish(topics.reply_topic("test-acl-01"), bytes(MAX_PACKET_BYTES), qos=1)
        assert dropped.wait(10)
        device.loop_stop()  # before paho reconnects and sends it again
        assert received.empty()
    finally:
        for client in (server, device):
            client.disconnect()
            client.loop_stop()


def test_a_devices_client_id_is_its_name_and_the_server_has_a_listener_of_its_own(
    tmp_path: Path,
) -> None:
    text = broker_config(
        port=8883,
        server_port=8884,
        ca_file=tmp_path / "ca.pem",
        server_ca_file=tmp_path / "server-ca.pem",
        cert_file=tmp_path / "b.pem",
        key_file=tmp_path / "k.pem",
        acl_file=tmp_path / "acl",
        persistence_dir=tmp_path,
        log_file=tmp_path / "log",
        crl_file=tmp_path / "crl.pem",
    )
    lines = text.splitlines()
    devices, server = (i for i, line in enumerate(lines) if line.startswith("listener "))
    # The options a listener takes are those between its line and the next blank one.
    devices_block = lines[devices : lines.index("", devices)]
    server_block = lines[server : lines.index("", server)]
    assert devices_block[0] == "listener 8883 127.0.0.1"
    assert f"cafile {tmp_path / 'ca.pem'}" in devices_block
    assert f"crlfile {tmp_path / 'crl.pem'}" in devices_block
    assert "use_username_as_clientid true" in devices_block
    assert server_block[0] == "listener 8884 127.0.0.1"
    assert f"cafile {tmp_path / 'server-ca.pem'}" in server_block
    assert "use_username_as_clientid false" in server_block
    for block in (devices_block, server_block):
        assert "require_certificate true" in block and "use_identity_as_username true" in block
    # Who may do what is set once, for both listeners.
    assert lines.index("per_listener_settings false") < devices
    assert lines.index(f"acl_file {tmp_path / 'acl'}") < devices
