"""A broker connection whose messages are handled one at a time on a thread of its own: the shape
shared by the ingest workers (`server.ingest`) and the device watcher (`server.watcher`).

Rules of this module:
- paho's network thread only hands messages over, into a queue bounded in messages and in
  bytes. When the queue is full it waits for room, for as long as it takes: paho then stops
  reading the socket and TCP pushes back on the broker (Mosquitto 2.0.11 ignores the Receive
  Maximum we announce). A message is never dropped; one that cannot be queued because the
  consumer stops is left unacknowledged, so the broker delivers it again (to us after a
  reconnection under the same session, or, if the session ends, the device sends it again).
- The handling thread never waits for the network thread, so the queue always drains.
- A message is PUBACKed after it is handled, whatever the outcome: a failure of ours is
  answered by the protocol (the device sends again when no application ack comes), not by the
  broker.
- A consumer never dies on a message.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from server.config import ServerSettings
from server.errors import IngestError
from server.mqtt import MqttLink
from support.lifecycle import Service
from support.mqtt import Incoming, TlsIdentity

log = logging.getLogger(__name__)

_POLL_S = 0.2
_PUT_WAIT_S = 0.5


class MessageQueue:
    """A FIFO of messages bounded in count and in payload bytes.

    A message larger than `max_bytes` is taken only when the queue is empty, so one message of
    any size can always pass, and the queue never holds more than `max(max_bytes, largest)`.

    Args:
        max_messages: the most messages held.
        max_bytes: the most payload bytes held.
    """

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: collections.deque[Incoming] = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self.high_water_bytes = 0
        """The most bytes held at once so far (for measurements)."""
        self.full_waits = 0
        """How many times a message found the queue full and waited (back-pressure)."""

    def put(self, message: Incoming, timeout: float) -> bool:
        """Add `message` when there is room; False if there was none within `timeout`."""
        size = len(message.payload)
        with self._cond:
            if not self._fits(size):
                self.full_waits += 1
                if not self._cond.wait_for(lambda: self._fits(size), timeout):
                    return False
            self._items.append(message)
            self._bytes += size
            self.high_water_bytes = max(self.high_water_bytes, self._bytes)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Incoming | None:
        """The oldest message, or None if none came within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            message = self._items.popleft()
            self._bytes -= len(message.payload)
            self._cond.notify_all()
            return message

    def clear(self) -> int:
        """Forget every queued message (they were never acknowledged); returns how many."""
        with self._cond:
            count = len(self._items)
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
            return count

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _fits(self, size: int) -> bool:
        if not self._items:
            return True
        return len(self._items) < self.max_messages and self._bytes + size <= self.max_bytes


class MqttConsumer(Service):
    """One MQTT connection with the server's identity and a thread that handles its messages.

    Subclasses implement `handle` (one message; exceptions are logged, never fatal) and may
    implement `tick` (called between messages and when idle, for periodic chores).

    Args:
        settings: broker address and TLS identity.
        name: for logs and the thread's name.
        client_id: the MQTT client id.
        subscriptions: the topic filters to subscribe to (QoS 1).
        persistent: resume the broker session of `client_id` (and keep it for
            `settings.ingest_session_expiry_s` after disconnecting); else start clean.
        queue_messages: messages held at once (and the Receive Maximum announced).
        queue_bytes: payload bytes held at once.
        max_packet_bytes: the largest packet accepted from the broker, if limited.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        name: str,
        client_id: str,
        subscriptions: tuple[str, ...],
        persistent: bool,
        queue_messages: int,
        queue_bytes: int,
        max_packet_bytes: int | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.subscriptions = subscriptions
        self._queue = MessageQueue(queue_messages, queue_bytes)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        ca_file, cert_file, key_file = settings.mqtt_identity_files()
        self._link = MqttLink(
            host=settings.broker_host,
            port=settings.broker_port,
            identity=TlsIdentity(ca_file, cert_file, key_file),
            client_id=client_id,
            on_message=self._enqueue,
            receive_maximum=queue_messages,
            clean_start=not persistent,
            session_expiry_s=settings.ingest_session_expiry_s if persistent else 0,
            max_packet_bytes=max_packet_bytes,
        )

    @property
    def client_id(self) -> str:
        """The MQTT client id."""
        return self._link.client_id

    @property
    def queue(self) -> MessageQueue:
        """The queue between paho's network thread and the handling thread."""
        return self._queue

    # --- life cycle ---

    def start(self, timeout: float = 10.0) -> None:
        """Start the handling thread, connect and subscribe.

        Raises:
            IngestError: the broker could not be reached or refused us; says what to check.
        """
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        try:
            self._link.connect(timeout)
            for topic_filter in self.subscriptions:
                self._link.subscribe(topic_filter, qos=1, timeout=timeout)
        except IngestError:
            self.stop()
            raise
        log.info(
            "%s connected to %s:%s as %s (%s)",
            self.name,
            self.settings.broker_host,
            self.settings.broker_port,
            self.client_id,
            "session resumed" if self._link.session_present else "new session",
        )

    def stop(self, timeout: float = 10.0, *, end_session: bool = False) -> None:
        """Finish the message in hand, then disconnect. Safe to call twice.

        Queued messages are not acknowledged: the broker delivers them again when this client
        id reconnects (its session keeps them), or the devices send them again.

        Args:
            end_session: also end the broker session (a worker retired for good: the shared
                subscription stops dealing results to it).
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        # Emptying the queue also frees a network thread waiting for room.
        self._queue.clear()
        self._link.close(end_session=end_session)

    # --- for subclasses ---

    def handle(self, message: Incoming) -> None:
        """Handle one message (on the handling thread)."""
        raise NotImplementedError

    def tick(self) -> None:
        """Periodic chores, between messages and when idle (on the handling thread)."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1 without waiting for the broker."""
        self._link.publish(topic, payload, qos=1)

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK.

        Raises:
            IngestError: the broker did not take it.
        """
        self._link.publish_and_wait(topic, payload, timeout)

    # --- threads ---

    def _enqueue(self, message: Incoming) -> None:
        # paho's network thread: wait for room as long as it takes (back-pressure), never drop.
        waited_since = time.monotonic()
        warned = False
        while not self._stopping.is_set():
            if self._queue.put(message, _PUT_WAIT_S):
                return
            if not warned and time.monotonic() - waited_since > 10 * _PUT_WAIT_S:
                warned = True
                log.info("%s is busy: reading from the broker waits for room", self.name)
        # Stopping: not acknowledged, so the broker keeps it for this session.

    def _run(self) -> None:
        while not self._stopping.is_set():
            message = self._queue.get(_POLL_S)
            if message is not None:
                try:
                    self.handle(message)
                except Exception:
                    log.exception(
                        "%s: unexpected error on a message on %s", self.name, message.topic
                    )
                self._link.ack(message)
            try:
                self.tick()
            except Exception:
                log.exception("%s: a periodic chore failed", self.name)
