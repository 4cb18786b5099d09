"""A broker connection whose messages are handled one at a time on a thread of its own: the shape
shared by the ingest workers (`server.ingest`) and the device watcher (`server.watcher`).

Rules of this module:
- paho's network thread only hands messages over: it appends to the queue and returns, and
  never waits for room. It is the thread that reads the socket and sends our PINGREQs; had it
  waited, the broker would hear nothing from us for one and a half Keep Alive intervals,
  close the connection (MQTT v5 section 3.1.2.10), and on our return send the unacknowledged
  messages again (section 4.4): a busy consumer would lose its connection and redo work.
- Back-pressure is the broker's: a message is PUBACKed only once handled, and the consumer
  announces a Receive Maximum (section 3.1.2.11.3) as large as its queue, so the broker has at
  most that many unacknowledged messages out to us and keeps the rest (sections 3.3.4, 4.9):
  under a flood they wait at the broker, within its own limits, not in our memory. The ingest
  workers announce 1, the one value Mosquitto 2.0.11 holds exactly (`server.mqtt`). A broker
  that sends more anyway is logged and its messages are still taken (never dropped, never
  blocked on).
- A member of a shared subscription (`$share/...`, section 4.8.2) leaves it while one message
  holds its handling thread for longer than `STALL_S`, and joins again when that message is
  done. Mosquitto 2.0.11 deals shared messages round robin, whether or not the member can take
  them (measured: a member stuck on one message gets every other message, and they wait for
  it); unsubscribed, it is dealt no new one (section 3.10.4), so a slow result holds one
  worker and delays only what was dealt to it before it left. The last member of a group in a
  process never leaves: with none left, the broker would drop new results ("no matching
  subscribers").
- The handling thread never waits for the network thread, so the queue always drains.
- A message is PUBACKed after it is handled, whatever the outcome, in the order received
  (section 4.6): a failure of ours is answered by the protocol (the device sends again when no
  application ack comes), not by the broker.
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
from support.mqtt_types import Incoming

log = logging.getLogger(__name__)

_POLL_S = 0.2
STALL_S = 0.5
"""How long one message may hold a consumer before it leaves its shared subscriptions. A
result is verified and merged in tens of milliseconds; one that takes longer than this is
left to its worker while the broker deals the next ones to the others."""
SHARE_PREFIX = "$share/"


class MessageQueue:
    """The FIFO between paho's network thread and the handling thread.

    Adding never blocks and never refuses: the broker bounds what it sends us (the Receive
    Maximum we announce). `max_messages` and `max_bytes` are what it should never exceed;
    beyond them a message is still taken, and counted as an overshoot.

    Args:
        max_messages: the most messages the broker should have us hold.
        max_bytes: the most payload bytes we expect to hold.
    """

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: collections.deque[Incoming] = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self.high_water_bytes = 0
        """The most bytes held at once so far (for measurements)."""
        self.high_water_messages = 0
        """The most messages held at once so far (for measurements)."""
        self.overshoots = 0
        """Messages taken beyond `max_messages` or `max_bytes` (the broker sent more than
        announced)."""

    def offer(self, message: Incoming) -> bool:
        """Add `message` at once; False if it went beyond the bounds (it is added anyway)."""
        size = len(message.payload)
        with self._cond:
            within = self._fits(size)
            if not within:
                self.overshoots += 1
            self._items.append(message)
            self._bytes += size
            self.high_water_bytes = max(self.high_water_bytes, self._bytes)
            self.high_water_messages = max(self.high_water_messages, len(self._items))
            self._cond.notify_all()
            return within

    def get(self, timeout: float) -> Incoming | None:
        """The oldest message, or None if none came within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            message = self._items.popleft()
            self._bytes -= len(message.payload)
            return message

    def clear(self) -> int:
        """Forget every queued message (they were never acknowledged); returns how many."""
        with self._cond:
            count = len(self._items)
            self._items.clear()
            self._bytes = 0
            return count

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _fits(self, size: int) -> bool:
        if not self._items:
            return True  # one message of any size the broker let through
        return len(self._items) < self.max_messages and self._bytes + size <= self.max_bytes


class _SharedGroups:
    """Which consumers of this process are members of each set of shared subscriptions, so
    that the last one of a set never leaves it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[tuple[str, ...], set[int]] = {}

    def joined(self, group: tuple[str, ...], member: int) -> None:
        with self._lock:
            self._members.setdefault(group, set()).add(member)

    def may_leave(self, group: tuple[str, ...], member: int) -> bool:
        """Take `member` out of `group` if another member stays; whether it may leave."""
        with self._lock:
            members = self._members.get(group, set())
            if member not in members or len(members) < 2:
                return False
            members.discard(member)
            return True

    def gone(self, group: tuple[str, ...], member: int) -> None:
        with self._lock:
            self._members.get(group, set()).discard(member)


_GROUPS = _SharedGroups()
"""The process's shared-subscription members (ingest workers are threads of one process)."""


class MqttConsumer(Service):
    """One MQTT connection with the server's identity and a thread that handles its messages.

    Subclasses implement `handle` (one message; exceptions are logged, never fatal) and may
    implement `tick` (called between messages and when idle, for periodic chores).

    Args:
        settings: broker address and TLS identity.
        name: for logs and the thread's name.
        client_id: the MQTT client id.
        subscriptions: the topic filters to subscribe to (QoS 1); the shared ones
            (`$share/...`) are left while a message stalls (see the module's rules).
        persistent: resume the broker session of `client_id` (and keep it for
            `settings.ingest_session_expiry_s` after disconnecting); else start clean.
        queue_messages: the Receive Maximum announced: unacknowledged messages the broker may
            have out to us at once (the one in hand included).
        queue_bytes: payload bytes we expect to hold at once; more is logged as the broker's
            overshoot.
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
        self._shared = tuple(f for f in subscriptions if f.startswith(SHARE_PREFIX))
        self._queue = MessageQueue(queue_messages, queue_bytes)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        # The message in hand, for the stall watcher: when it was taken, and a serial number.
        self._hand = threading.Condition()
        self._in_hand_since: float | None = None
        self._in_hand_serial = 0
        self._left = False
        self._overshoot_logged = False
        self.redeliveries = 0
        """Messages the broker sent again (DUP set) since this consumer was made."""
        self.stalls = 0
        """How many times a message held this consumer long enough for it to leave its
        shared subscriptions."""
        self._link = MqttLink(
            host=settings.broker_host,
            port=settings.broker_port,
            identity=settings.tls_identity(),
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

    @property
    def links_lost(self) -> int:
        """How many times the broker connection dropped while running (0 when all is well)."""
        return self._link.links_lost

    @property
    def in_group(self) -> bool:
        """Whether it is subscribed to its shared subscriptions now (False while it stalls)."""
        with self._hand:
            return not self._left

    # --- life cycle ---

    def start(self, timeout: float = 10.0) -> None:
        """Start the handling thread, connect and subscribe.

        Raises:
            IngestError: the broker could not be reached or refused us; says what to check.
        """
        self._stopping.clear()
        self._left = False  # subscribing below joins every group again
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        try:
            self._link.connect(timeout)
            for topic_filter in self.subscriptions:
                self._link.subscribe(topic_filter, qos=1, timeout=timeout)
        except IngestError:
            self.stop()
            raise
        if self._shared:
            _GROUPS.joined(self._shared, id(self))
            self._watcher = threading.Thread(
                target=self._watch_stalls, name=f"{self.name}-stalls", daemon=True
            )
            self._watcher.start()
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
        with self._hand:
            self._hand.notify_all()
        for thread in (self._thread, self._watcher):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._watcher = None
        if self._shared:
            _GROUPS.gone(self._shared, id(self))
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
        # paho's network thread: hand over and return at once, whatever the queue holds.
        if not self._queue.offer(message) and not self._overshoot_logged:
            self._overshoot_logged = True
            log.warning(
                "%s: the broker sent more than the %d unacknowledged messages (%d bytes) we "
                "announced; they are held in memory. Check the broker honours the Receive "
                "Maximum (MQTT v5 section 3.1.2.11.3)",
                self.name,
                self._queue.max_messages,
                self._queue.max_bytes,
            )

    def _run(self) -> None:
        while not self._stopping.is_set():
            message = self._queue.get(_POLL_S)
            if message is not None:
                if message.redelivered:
                    self.redeliveries += 1
                self._take(message)
                try:
                    self.handle(message)
                except Exception:
                    log.exception(
                        "%s: unexpected error on a message on %s", self.name, message.topic
                    )
                finally:
                    self._done()
                self._link.ack(message)
            elif self._left:
                self._done()  # a join that failed: try again
            try:
                self.tick()
            except Exception:
                log.exception("%s: a periodic chore failed", self.name)

    def _take(self, message: Incoming) -> None:
        with self._hand:
            self._in_hand_since = time.monotonic()
            self._in_hand_serial += 1
            self._hand.notify_all()

    def _done(self) -> None:
        """The message in hand is done: join the shared subscriptions again if it stalled."""
        with self._hand:
            self._in_hand_since = None
            self._hand.notify_all()
            if not self._left or self._stopping.is_set():
                return
            try:
                self._link.join(self._shared)
            except IngestError as e:
                log.error("%s: cannot join the ingest group again: %s", self.name, e)
                return
            self._left = False
            _GROUPS.joined(self._shared, id(self))
        log.info("%s is free again and back in its shared subscriptions", self.name)

    def _watch_stalls(self) -> None:
        """Leave the shared subscriptions while one message holds the handling thread."""
        with self._hand:
            while not self._stopping.is_set():
                since, serial = self._in_hand_since, self._in_hand_serial
                if since is None or self._left:
                    self._hand.wait(_POLL_S)
                    continue
                remaining = since + STALL_S - time.monotonic()
                if remaining > 0:
                    self._hand.wait(remaining)
                    continue
                if not _GROUPS.may_leave(self._shared, id(self)):
                    # The last member stays; look again, another may be free by then.
                    self._hand.wait(_POLL_S)
                    continue
                try:
                    self._link.leave(self._shared)
                except IngestError as e:
                    _GROUPS.joined(self._shared, id(self))
                    log.error("%s: cannot leave the ingest group: %s", self.name, e)
                else:
                    self._left = True
                    self.stalls += 1
                    log.info(
                        "%s is held by one message for over %.1f s: it leaves its shared "
                        "subscriptions until done, and the broker deals to the others",
                        self.name,
                        STALL_S,
                    )
                # Once per message: wait for the next one.
                while (
                    self._in_hand_serial == serial
                    and self._in_hand_since is not None
                    and not self._stopping.is_set()
                ):
                    self._hand.wait(_POLL_S)
