"""The server's side of sync protocol v1 for the edge's sync tests: a real MQTT client with the
server's identity that runs `protocol.receiver.Receiver` over an in-memory store (staged
manifests and chunks, merged records), publishes the application acks, reads heartbeats and
command replies, and sends commands. The server's own ingest (database staging, verification)
is tested with the server; this peer lets the agent be tested against the same protocol rules
while the server changes.

Also: `private_broker`, a Mosquitto of the test CA whose ACL lets devices publish command
replies (see the report: the generated ACL lacks the reply topic), restartable on its port.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from harness.broker import Broker
from protocol.chunking import Reassembly
from protocol.commands import Command, CommandName, CommandReply
from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import ResultChunk, ResultManifest, sha256_hex
from protocol.reasons import RejectReason
from protocol.receiver import (
    Assemble,
    DropStaged,
    Effect,
    Ignore,
    Merge,
    Receiver,
    ReceiverLimits,
    SendAck,
    StageChunk,
    StagedChunk,
    StageManifest,
    TransferState,
    result_id_of,
)
from protocol.status import Heartbeat
from protocol.topics import (
    PREFIX,
    Kind,
    ack_topic,
    cmd_topic,
    device_topic,
    parse,
)
from provisioning.broker import Mosquitto, acl_rules, prepare_broker
from provisioning.ca import CertificateAuthority

Verdict = Callable[[bytes], tuple[RejectReason, str] | None]
"""What the peer's "verification" says of a PDF: None to merge it, else why it is refused."""


def pdf_or_refuse(pdf: bytes) -> tuple[RejectReason, str] | None:
    """The default verdict: anything that is not a PDF is refused (reason signature)."""
    return None if pdf.startswith(b"%PDF") else (RejectReason.SIGNATURE, "not a signed PDF")


def reply_acl(server_identity: str) -> str:
    """The generated ACL plus the reply topic (devices write their own, the server reads all)."""
    return (
        acl_rules(server_identity)
        + f"pattern write {PREFIX}/%u/{Kind.REPLY.value}\n"
        + f"topic read {PREFIX}/+/{Kind.REPLY.value}\n"
    )


def private_broker(
    directory: Path,
    ca: CertificateAuthority,
    server_ca: CertificateAuthority,
    server_identity: str,
) -> Broker:
    """A started Mosquitto of `ca` (devices) and `server_ca` (the server) in `directory` with
    `reply_acl`, restartable on its ports."""
    files = prepare_broker(directory, ca, server_ca=server_ca, server_identity=server_identity)
    files.acl_file.write_text(reply_acl(server_identity))
    broker = Broker(files)
    broker.start()
    return broker


def mqtt_client(
    host: str, port: int, ca_file: Path, identity: tuple[Path, Path] | None, name: str
) -> paho.Client:
    """A paho MQTT v5 client over TLS with `identity` (or none)."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv5,
    )
    context = ssl.create_default_context(cafile=str(ca_file))
    if identity is not None:
        context.load_cert_chain(*identity)
    client.tls_set_context(context)
    return client


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Arrival:
    """One message the peer took from a result topic."""

    at: float
    device_id: str
    size: int
    """Payload plus topic bytes (what the agent counts against its cap, less MQTT's header)."""
    kind: str
    result_id: str | None = None
    index: int | None = None


@dataclass
class _Store:
    """What the server would keep in its database: records and staging."""

    records: dict[str, str] = field(default_factory=dict)
    merged: Counter[str] = field(default_factory=Counter)
    """Every merge of each result into the records, of a new result or of one already stored:
    a result merged more than once shows here, not only one never merged."""
    pdfs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, ResultManifest] = field(default_factory=dict)
    chunks: dict[str, dict[int, ResultChunk]] = field(default_factory=dict)


class IngestPeer:
    """The server side of the protocol, in the test process.

    Args:
        host, port, ca_file: the broker.
        identity: the server's TLS client certificate and key.
        verdict: what "verification" says of each PDF.
        receiver_limits: the Receiver's limits.

    Attributes (read them under `lock`, or through the helpers):
        store: records and staging.
        arrivals: every message taken from a result topic, in order.
        heartbeats: (device_id, retained flag, heartbeat) as they came.
        replies: command replies by command id.
        acks_sent: acks published, by status.
        hold: while True, acks are kept back (the server is slow); `release` sends them.
        double_acks: publish every final ack twice (a duplicate ack).
    """

    def __init__(
        self,
        host: str,
        port: int,
        ca_file: Path,
        identity: tuple[Path, Path],
        *,
        verdict: Verdict = pdf_or_refuse,
        receiver_limits: ReceiverLimits | None = None,
    ) -> None:
        self.verdict = verdict
        self.receiver = Receiver(receiver_limits)
        self.store = _Store()
        self.lock = threading.RLock()
        self.arrivals: list[Arrival] = []
        self.heartbeats: list[tuple[str, bool, Heartbeat]] = []
        self.replies: dict[str, CommandReply] = {}
        self.acks_sent: Counter[str] = Counter()
        self.hold = False
        self.double_acks = False
        self._held: list[SendAck] = []
        self._devices: set[str] = set()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt_client(host, port, ca_file, identity, "test-ingest")
        # A persistent session, reconnecting by itself, as an ingest worker does.
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_disconnect = lambda *_: self._connected.clear()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(host, port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self._connected.wait(5), "the test's ingest peer could not connect"

    # --- the test's handles ---

    @classmethod
    def on(cls, broker: Mosquitto, identity: tuple[Path, Path]) -> IngestPeer:
        """A peer on `broker`'s server listener, with the server's `identity`."""
        return cls(broker.host, broker.server_port, broker.ca_file, identity)

    def watch(self, device_id: str) -> None:
        """Read the result, status and reply topics of `device_id`."""
        with self.lock:
            self._devices.add(device_id)
        self._subscribe([device_id])

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def release(self) -> None:
        """Stop holding acks back and send those held."""
        with self.lock:
            self.hold, held, self._held = False, self._held, []
        for effect in held:
            self._publish_ack(effect)

    def command(self, device_id: str, name: CommandName, **args: Any) -> str:
        """Send `name` to `device_id`; returns its command id."""
        command_id = f"cmd-{uuid.uuid4().hex[:12]}"
        command = Command(
            device_id=device_id,
            command_id=command_id,
            name=name,
            issued_at="2025-05-02T01:02:03+00:00",
            args=args,
        )
        self.client.publish(cmd_topic(device_id), encode(command), qos=1)
        return command_id

    def reply(self, command_id: str, timeout: float = 10.0) -> CommandReply:
        """The device's reply to `command_id`, waiting for it."""
        wait_until(lambda: command_id in self.replies, timeout, f"the reply to {command_id}")
        return self.replies[command_id]

    def last_heartbeat(self, device_id: str) -> Heartbeat | None:
        """The last heartbeat of `device_id` the peer saw."""
        with self.lock:
            beats = [h for d, _, h in self.heartbeats if d == device_id]
        return beats[-1] if beats else None

    def received_for(self, device_id: str) -> list[Arrival]:
        """What arrived on the result topic of `device_id`."""
        with self.lock:
            return [a for a in self.arrivals if a.device_id == device_id]

    def merged(self, result_id: str) -> bool:
        """Whether the result is in the peer's repository."""
        with self.lock:
            return result_id in self.store.records

    # --- MQTT ---

    def _subscribe(self, devices: list[str]) -> None:
        topics = [
            (device_topic(d, kind), 1) for d in devices for kind in (Kind.RESULT, Kind.STATUS)
        ]
        topics += [(device_topic(d, Kind.REPLY), 1) for d in devices]
        if not topics:
            return
        self._subscribed.clear()
        self.client.subscribe(topics)
        assert self._subscribed.wait(5), "the ingest peer's subscription was not answered"

    def _on_connect(self, *_: Any) -> None:
        self._connected.set()
        # After a broker crash the session may be gone: subscribe again (from another thread,
        # since a callback may not wait for its own SUBACK).
        with self.lock:
            devices = sorted(self._devices)
        if devices:
            threading.Thread(target=self._subscribe, args=(devices,), daemon=True).start()

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        topic = parse(msg.topic)
        payload = bytes(msg.payload)
        with self.lock:
            if topic.kind is Kind.STATUS:
                beat = decode(payload)
                assert isinstance(beat, Heartbeat)
                self.heartbeats.append((topic.device_id, bool(msg.retain), beat))
            elif topic.kind is Kind.REPLY:
                reply = decode(payload)
                assert isinstance(reply, CommandReply)
                self.replies[reply.command_id] = reply
            elif topic.kind is Kind.RESULT:
                self._on_result(topic.device_id, payload, len(payload) + len(msg.topic))

    # --- the receiver's effects over the in-memory store ---

    def _on_result(self, device_id: str, payload: bytes, size: int) -> None:
        try:
            message = decode(payload)
        except DecodeError as e:
            self.arrivals.append(Arrival(time.monotonic(), device_id, size, "undecodable"))
            self._run(self.receiver.on_undecodable(device_id, e))
            return
        result_id = result_id_of(message)
        index = message.index if isinstance(message, ResultChunk) else None
        kind = message.schema.split("/")[0].removeprefix("sohoa.")
        self.arrivals.append(Arrival(time.monotonic(), device_id, size, kind, result_id, index))
        self._run(self.receiver.on_message(device_id, message, self._state(result_id)))

    def _state(self, result_id: str | None) -> TransferState:
        if result_id is None:
            return TransferState()
        s = self.store
        return TransferState(
            record_id=s.records.get(result_id),
            manifest=s.manifests.get(result_id),
            chunks={i: StagedChunk.of(c) for i, c in s.chunks.get(result_id, {}).items()},
        )

    def _run(self, effects: list[Effect]) -> None:
        todo = list(effects)
        assembled: dict[str, bytes] = {}
        while todo:
            todo[:0] = self._apply(todo.pop(0), assembled)

    def _apply(self, effect: Effect, assembled: dict[str, bytes]) -> list[Effect]:
        s = self.store
        if isinstance(effect, StageManifest):
            if effect.manifest.result_id not in s.records:
                s.manifests[effect.manifest.result_id] = effect.manifest
        elif isinstance(effect, StageChunk):
            chunk = effect.chunk
            if chunk.result_id not in s.records:
                s.chunks.setdefault(chunk.result_id, {})[chunk.index] = chunk
        elif isinstance(effect, DropStaged):
            if effect.indexes is None:
                s.manifests.pop(effect.result_id, None)
                s.chunks.pop(effect.result_id, None)
            else:
                for i in effect.indexes:
                    s.chunks.get(effect.result_id, {}).pop(i, None)
        elif isinstance(effect, Assemble):
            m = effect.manifest
            staged = s.chunks.get(m.result_id, {})
            check, parts = Reassembly(m), []
            for i in range(m.chunk_count):
                piece = staged.get(i)
                if piece is None or piece.geometry != m.geometry:
                    return []  # the sender's resume comes back for it
                check.add(i, piece.data)
                parts.append(piece.data)
            assembled[m.result_id] = b"".join(parts)
            return self.receiver.on_assembled(m, check.sha256())
        elif isinstance(effect, Merge):
            request = effect.request
            pdf = request.pdf if request.pdf is not None else assembled[request.result_id]
            assert sha256_hex(pdf) == request.result_id
            refused = self.verdict(pdf)
            if refused is not None:
                return self.receiver.on_refused(request, *refused)
            s.merged[request.result_id] += 1
            created = request.result_id not in s.records
            if created:
                s.records[request.result_id] = f"rec-{len(s.records) + 1}"
                s.pdfs[request.result_id] = pdf
            return self.receiver.on_merged(request, s.records[request.result_id], created)
        elif isinstance(effect, SendAck):
            if self.hold and effect.ack.final:
                self._held.append(effect)
            else:
                self._publish_ack(effect)
        else:
            assert isinstance(effect, Ignore)
        return []

    def _publish_ack(self, effect: SendAck) -> None:
        payload = encode(effect.ack)
        copies = 2 if self.double_acks and effect.ack.final else 1
        for _ in range(copies):
            self.client.publish(ack_topic(effect.device_id), payload, qos=1)
        with self.lock:
            self.acks_sent[effect.ack.status.value] += copies


def retained_status(
    host: str, port: int, ca_file: Path, identity: tuple[Path, Path], device_id: str
) -> Heartbeat | None:
    """The retained heartbeat of `device_id`, as a new subscriber gets it (None if none)."""
    client = mqtt_client(host, port, ca_file, identity, "test-status")
    got: list[Heartbeat] = []
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            beat = decode(bytes(msg.payload))
            assert isinstance(beat, Heartbeat)
            got.append(beat)
        done.set()

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(device_topic(device_id, Kind.STATUS), qos=1)
    client.connect(host, port)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        done.wait(1.0)  # a retained message comes right after the SUBACK, if there is one
    finally:
        client.disconnect()
        client.loop_stop()
    return got[-1] if got else None
