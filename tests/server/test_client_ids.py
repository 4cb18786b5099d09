"""No appliance can take over a server client's or another appliance's broker session: the
broker makes a device's MQTT client id its certificate's commonName, and the server's clients,
which pick their own ids, connect on a listener a device's certificate does not get into
(`provisioning.broker`). Against the real broker, a real ingest worker and a real device
watcher."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol import topics
from protocol.encoding import decode
from protocol.messages import Ack, sha256_hex
from provisioning.broker import Mosquitto
from provisioning.ca import CertificateAuthority
from server.config import ServerSettings
from server.errors import IngestError
from server.ingest import IngestWorker
from server.verify import Verifier
from server.watcher import DeviceWatcher
from support.mqtt import MqttClient
from support.mqtt_types import Incoming, LinkLost, MqttError, MqttFailure, TlsIdentity
from tests.fixtures.broker import SERVER_IDENTITY, MqttIdentity
from tests.server.peers import running, server_settings, whole

TIMEOUT_S = 10.0


class Client:
    """A support.mqtt client that records every message and every lost link."""

    def __init__(
        self,
        broker: Mosquitto,
        identity: tuple[Path, Path],
        client_id: str,
        *,
        port: int,
        clean_start: bool = False,
    ) -> None:
        self.messages: queue.Queue[Incoming] = queue.Queue()
        self.lost: list[LinkLost] = []
        self._lock = threading.Lock()
        self.mqtt = MqttClient(
            host=broker.host,
            port=port,
            identity=TlsIdentity(broker.ca_file, *identity),
            client_id=client_id,
            on_message=self.messages.put,
            on_link_lost=self._on_lost,
            clean_start=clean_start,
            session_expiry_s=600,
        )

    def _on_lost(self, lost: LinkLost) -> None:
        with self._lock:
            self.lost.append(lost)


@pytest.fixture
def names() -> tuple[str, str]:
    """A victim device and an intruder device of this test only (the broker is shared)."""
    tag = uuid.uuid4().hex[:8]
    return f"test-victim-{tag}", f"test-intruder-{tag}"


# The repository plays no part in who holds which session: SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_device_certificate_takes_over_no_server_client_and_no_other_device(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    mqtt_ca: CertificateAuthority,
    settings: ServerSettings,
    db_engine: Engine,
    names: tuple[str, str],
) -> None:
    victim_id, intruder_id = names
    intruder = mqtt_identity(intruder_id)
    victim = Client(broker, mqtt_identity(victim_id), victim_id, port=broker.port)
    server = Client(
        broker, mqtt_identity(SERVER_IDENTITY), f"sohoa-test-{victim_id}", port=broker.server_port
    )
    worker = IngestWorker(settings, db_engine, Verifier([mqtt_ca.cert]))
    watcher = DeviceWatcher(settings, db_engine)
    with running(worker), running(watcher):
        victim.mqtt.connect(TIMEOUT_S)
        victim.mqtt.subscribe(topics.device_subscriptions(victim_id), timeout=TIMEOUT_S)
        server.mqtt.connect(TIMEOUT_S)
        log_start = broker.files.log_file.stat().st_size

        # The intruder, with its own valid transport certificate, names each victim's client
        # id in turn, with a clean start (which would drop the victim's session).
        for stolen in (worker.client_id, watcher.client_id, victim_id):
            attempt = Client(broker, intruder, stolen, port=broker.port, clean_start=True)
            attempt.mqtt.connect(TIMEOUT_S)  # accepted: under its own name
            attempt.mqtt.disconnect(end_session=True)
        # On the server's listener, where client ids are free, its certificate gets nowhere.
        for stolen in (worker.client_id, watcher.client_id):
            attempt = Client(broker, intruder, stolen, port=broker.server_port)
            with pytest.raises(MqttError) as refused:
                attempt.mqtt.connect(TIMEOUT_S)
            assert refused.value.failure in (MqttFailure.CLOSED, MqttFailure.TLS)

        # A takeover is done at the CONNECT, before its CONNACK: the victims' network threads
        # have had their DISCONNECT (reason 0x8E) well within this.
        time.sleep(0.5)
        assert (worker.links_lost, watcher.links_lost) == (0, 0), "a server client taken over"
        assert victim.lost == [] and victim.mqtt.connected, "the victim device taken over"
        # Every attempt did get in, under the intruder's own device id.
        log = broker.files.log_file.read_bytes()[log_start:].decode(errors="replace")
        assert log.count(f" as {intruder_id} (") == 3, log

        # The ingest worker still takes the victim's results and answers on its ack topic.
        pdf = b"not a signed PDF"
        victim.mqtt.publish_and_wait(topics.result_topic(victim_id), whole(victim_id, pdf))
        assert _next_ack(victim).result_id == sha256_hex(pdf)

        # The victim's persistent session, with a message queued while it is away: the
        # intruder asks for it by its id without a clean start (which would inherit it).
        victim.mqtt.disconnect()
        server.mqtt.publish_and_wait(topics.ack_topic(victim_id), b"kept for the victim")
        thief = Client(broker, intruder, victim_id, port=broker.port)
        thief.mqtt.connect(TIMEOUT_S)
        assert thief.mqtt.session_present is False  # its own session, never the victim's
        thief.mqtt.disconnect(end_session=True)
        victim.mqtt.connect(TIMEOUT_S)
        try:
            assert victim.mqtt.session_present is True
            kept = victim.messages.get(timeout=TIMEOUT_S)
            assert kept.topic == topics.ack_topic(victim_id)
            assert kept.payload == b"kept for the victim"
        finally:
            victim.mqtt.disconnect(end_session=True)
            server.mqtt.disconnect(end_session=True)
    assert worker.links_lost == 0 and watcher.links_lost == 0


def _next_ack(client: Client) -> Ack:
    """The next final application ack `client` received."""
    while True:
        message = client.messages.get(timeout=TIMEOUT_S)
        if topics.parse(message.topic).kind is topics.Kind.ACK:
            answer = decode(message.payload)
            if isinstance(answer, Ack) and answer.final:
                return answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_server_pointed_at_the_devices_port_is_told_to_use_the_server_listener(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    settings = server_settings(
        broker, mqtt_identity, db_url, tmp_path / "data", broker_port=broker.port
    )
    with pytest.raises(IngestError, match="broker_port is the broker's server listener"):
        DeviceWatcher(settings, db_engine).start(timeout=TIMEOUT_S)
