"""The sync agent: the appliance's one adapter to paho-mqtt. It carries the outbox's results to
the provincial broker, the server's application acks back into the outbox, publishes the
appliance's heartbeat and answers the server's commands.

Rules of this module:
- It is the only edge module that imports paho; paho's types and errors stop here (`SyncError`).
- What to publish and when is decided by `protocol.sender.Sender` (sans-IO): this module does
  the I/O. MQTT v5 over TLS 1.2+ with the appliance's transport certificate, QoS 1 for every
  message (`protocol.topics`).
- paho's network thread only turns callbacks into events on a queue; one thread (the caller's)
  runs the loop: reads the outbox, publishes one message at a time, applies acks and commands.
  So the outbox is used from one thread, and a stop request, a revoke or an ack is seen between
  any two messages, also on a slow link.
- A result is marked SENT in the outbox before its first message goes: after a crash mid-way
  the next run offers it as sent before, and the sender resumes it (only the missing chunks go).
- The session is persistent (clean start off, a session expiry interval: MQTT v5 section
  3.1.2.11.2), so acks and commands sent while the appliance is offline wait at the broker.
  paho's own reconnect is off: the agent reconnects with jittered exponential back-off, so that
  a province of appliances does not come back all at once after a broker restart.
- Publishing goes through a byte-rate cap (`max_bytes_per_s`), heartbeats and replies included.
- The heartbeat (retained, on `status`) goes at connect, every `heartbeat_s`, when the standing
  changes (the link, the last error, the revocation, the queue emptied or filled) and, less
  often, when only the queue's depth changed; the connection's last will is the OFFLINE heartbeat
  (MQTT v5 section 3.1.3.2). A clean stop publishes OFFLINE itself and then disconnects with
  reason 0, so the broker discards the will.
- Commands are answered by `edge.sync.commands`. A revoke is persisted in the outbox: the
  agent stops sending (then and after any restart), says why in its heartbeat (STOPPED) and in
  the outbox status the kiosk shows.
- A refused connection says which: nothing listening, TLS failure (the broker's certificate, or
  ours refused), or not authorised. paho's `connect()` does not raise when the broker refuses our
  certificate (TLS 1.3 reports it after the handshake): the agent watches the CONNACK and
  disconnect reason codes and paho's error log, and times out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import EdgeSettings
from edge.errors import OutboxError, SyncError
from edge.health import disk_free, token_present, versions
from edge.sync.commands import DeviceView, answer
from edge.sync.outbox import Outbox, OutboxItem, OutboxStatus, State
from edge.sync.ratelimit import ByteRateLimiter
from protocol.chunking import ResultSource, build_messages
from protocol.commands import Command, reply_to_undecodable
from protocol.encoding import Message, decode, encode
from protocol.errors import DecodeError, ProtocolError
from protocol.messages import Ack, AckStatus
from protocol.sender import AckOutcome, Sender, Transmission
from protocol.status import Heartbeat, LinkState
from protocol.topics import (
    QOS,
    ack_topic,
    cmd_topic,
    device_subscriptions,
    reply_topic,
    result_topic,
    status_topic,
)
from support.sockets import disable_nagle

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 10.0
RECONNECT_MIN_S = 1.0
REFRESH_S = 2.0
"""How often the agent lists the outbox's pending results in any case."""
CHANGE_CHECK_S = 0.1
"""How often it asks the outbox whether the kiosk added something (`Outbox.changed_elsewhere`,
~5 us): a result queued at the kiosk starts out within this time, not `REFRESH_S`. This wait
was half of the latency of an idle path (~35 ms of verification and merge at the server, a few
ms on the wire) at 0.2 s."""
PURGE_S = 3600.0
"""How often answered results past their retention are deleted."""
HEARTBEAT_MIN_GAP_S = 2.0
"""The shortest gap between two heartbeats sent because the standing changed: the link, the
last error, the revocation, or the queue emptied or filled."""
DEPTH_BEAT_GAP_S = 15.0
"""The shortest gap between two heartbeats sent only because the queue's depth changed. During
a flush it changes with every ack, and each heartbeat is a retained message at the broker and a
database write in every server process (their device watchers all record it): at 2 s, a
100-appliance flush sent about one heartbeat per result merged."""
STOP_GRACE_S = 5.0
"""How long a clean stop waits for the broker to acknowledge what was published."""
OUTBOX_PAUSE_S = 10.0
"""How long the agent pauses when the outbox cannot be read or written (disk full, locked)."""
MAX_WAIT_S = 0.25
"""The longest the loop sleeps: a stop request is seen within this."""
PUBLISH_SLICE_S = 0.05
"""The longest the loop publishes before it looks at incoming events again."""
NO_SUBSCRIBERS = 0x10
"""PUBACK reason "No matching subscribers" (MQTT v5 section 3.4.2.1): no ingest worker is
listening; the message is lost and the result goes again when its ack is overdue."""
_MQTT_OVERHEAD = 8
"""Bytes an MQTT v5 PUBLISH adds besides its topic and payload (header, packet id, properties),
counted against the byte-rate cap."""


@dataclass(frozen=True)
class SyncReport:
    """What one run of the agent did.

    Attributes:
        sent: results published for the first time in this run.
        resent: further transmissions of results (their ack was late, or chunks were asked for).
        accepted: results the server stored.
        duplicates: results the server already had.
        rejected: results the server refused (their reason is in the outbox).
        failed: results that could not be sent (their PDF is damaged; see the outbox).
        seconds: wall time.
        waiting: results still waiting for the server's answer at the end.
        revoked: why the appliance is revoked (nothing was sent), or None.
        duplicate_acks: acks for results already answered (ignored).
        bytes_sent: bytes published (payloads and topics).
    """

    sent: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    waiting: int = 0
    revoked: str | None = None
    duplicate_acks: int = 0
    bytes_sent: int = 0

    def summary(self) -> str:
        """One line for the officer's terminal."""
        line = (
            f"sent {self.sent}, accepted {self.accepted}, duplicates {self.duplicates}, "
            f"rejected {self.rejected}, failed {self.failed}, resent {self.resent}, "
            f"still waiting {self.waiting} in {self.seconds:.1f} s"
        )
        return f"{line}; revoked: {self.revoked}" if self.revoked else line


@dataclass(frozen=True)
class StatusSignature:
    """What of the outbox status a heartbeat is sent for when it changes.

    Attributes:
        link: the link state the heartbeat says.
        depth: how many results wait.
        last_error: the last problem syncing.
        revoked: why the appliance is revoked.
    """

    link: LinkState
    depth: int
    last_error: str | None
    revoked: str | None

    @classmethod
    def of(cls, link: LinkState, status: OutboxStatus) -> StatusSignature:
        """The signature of `status` under link state `link`."""
        return cls(link, status.queue_depth, status.last_error, status.revoked)

    def standing(self) -> tuple[object, ...]:
        """All but the depth's exact value: the link, the error, the revocation and whether
        anything waits at all."""
        return (self.link, self.depth == 0, self.last_error, self.revoked)

    def calls_for_beat(self, last: StatusSignature | None, since_last_beat: float) -> bool:
        """Whether this status, `since_last_beat` seconds after the heartbeat that said `last`,
        calls for a heartbeat now: a change of standing after `HEARTBEAT_MIN_GAP_S`, a change
        of the depth alone after `DEPTH_BEAT_GAP_S`."""
        if self == last:
            return False
        if last is not None and self.standing() == last.standing():
            return since_last_beat >= DEPTH_BEAT_GAP_S
        return since_last_beat >= HEARTBEAT_MIN_GAP_S


# --- events from paho's network thread ---


@dataclass(frozen=True)
class _Connected:
    reason: str
    failure: bool
    session_present: bool


@dataclass(frozen=True)
class _Disconnected:
    reason: str


@dataclass(frozen=True)
class _Subscribed:
    mid: int
    refused: str | None


@dataclass(frozen=True)
class _Published:
    mid: int
    code: int
    reason: str


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes


_Event = _Connected | _Disconnected | _Subscribed | _Published | _Message


@dataclass
class _Outgoing:
    """A transmission being published, one message per turn of the loop."""

    transmission: Transmission
    messages: Iterator[Message]
    payload: bytes | None = None
    """The next message, encoded, waiting for the byte-rate cap."""


@dataclass
class _Counts:
    """Mutable tallies behind a SyncReport."""

    sent: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    duplicate_acks: int = 0
    bytes_sent: int = 0
    started: float = field(default_factory=time.monotonic)


class SyncAgent:
    """Sends the outbox's pending results to the broker, applies the server's acks, publishes
    the heartbeat and answers commands.

    Args:
        settings: the appliance's settings (device_id, broker, transport identity, sync).
        outbox: the outbox to drain.
        connect_timeout: seconds to wait for the broker's CONNACK.
        token_probe: says whether the signing token is present (default: looks it up through
            the configured PKCS#11 module); None in the heartbeat means "not known".

    Raises:
        ConfigError: the transport identity is not configured.
        SyncError: its files cannot be loaded.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        token_probe: Callable[[], bool | None] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.connect_timeout = connect_timeout
        device = settings.device_id
        self._where = f"the broker at {settings.broker_host}:{settings.broker_port}"
        self._result_topic = result_topic(device)
        self._ack_topic = ack_topic(device)
        self._cmd_topic = cmd_topic(device)
        self._status_topic = status_topic(device)
        self._reply_topic = reply_topic(device)
        self._versions = versions()
        self._token_probe = token_probe or (lambda: token_present(settings))
        self._token: tuple[float, bool | None] | None = None
        self._sender = Sender(
            window=settings.sync_window,
            window_bytes=settings.sync_window_bytes,
            chunk_size=settings.chunk_size,
            whole_max=settings.whole_max_bytes,
            retransmit_after=settings.ack_timeout_s,
            max_retransmit_after=settings.ack_timeout_max_s,
        )
        self._rate_limit = ByteRateLimiter(settings.max_bytes_per_s, now=time.monotonic())
        self._items: dict[str, OutboxItem] = {}
        self._outgoing: deque[_Outgoing] = deque()
        self._mids: dict[int, tuple[str, str | None]] = {}
        """Publishes waiting for their PUBACK: mid -> (topic, result_id or None)."""
        self._events: queue.Queue[_Event] = queue.Queue()
        self._connected = False
        self._connack: _Connected | None = None
        self._link_lost: str | None = None
        self._subacks: dict[int, str | None] = {}
        self._paho_error: str | None = None
        self._link_error = False
        """Whether the outbox's last error is ours: the broker could not be reached."""
        self._failures = 0
        self._next_attempt = 0.0
        self._revoked = outbox.revoked()
        self._strict = False
        self._poll_now = False
        self._status_dirty = True
        self._next_status_look = 0.0
        self._last_heartbeat = -1e9
        self._last_signature: StatusSignature | None = None
        self._counts = _Counts()
        self._client = self._make_client(self._tls_context())

    # --- public ---

    def run_until_drained(self, timeout: float) -> SyncReport:
        """Connect, send everything pending, wait for every application ack, disconnect.

        A connection lost midway is made again (with back-off) until `timeout`; what is still
        unanswered then stays in the outbox for the next sync (`SyncReport.waiting`).

        Args:
            timeout: seconds for the whole run.

        Returns:
            What was sent and how the server answered.

        Raises:
            SyncError: the broker could not be reached at first, or refused this appliance or
                its results (a configuration to fix, not a passing fault).
        """
        self._counts = _Counts()
        self._strict = True
        self._purge()
        self._offer_pending()
        if self._revoked is not None or self._sender.idle:
            return self._report()
        deadline = time.monotonic() + timeout
        self._connect(min(self.connect_timeout, timeout))
        self._loop(threading.Event(), deadline=deadline)
        return self._report()

    def run_forever(self, stop: threading.Event) -> SyncReport:
        """Keep syncing until `stop` is set: connect (again, with jittered back-off), send what
        the outbox holds as it arrives, apply acks, publish heartbeats, answer commands. Errors
        are logged and shown in the outbox status, never raised (a transport identity that
        cannot be loaded is raised by the constructor, before this).

        Returns:
            What was done, once stopped.
        """
        self._counts = _Counts()
        self._strict = False
        self._purge()
        self._offer_pending()
        self._loop(stop, deadline=None)
        return self._report()

    # --- the loop ---

    def _loop(self, stop: threading.Event, *, deadline: float | None) -> None:
        next_refresh = time.monotonic() + REFRESH_S
        next_check = time.monotonic() + CHANGE_CHECK_S
        next_purge = time.monotonic() + PURGE_S
        try:
            while not stop.is_set():
                now = time.monotonic()
                if deadline is not None and (
                    now >= deadline
                    or self._revoked is not None
                    or (self._sender.idle and not self._outgoing)
                ):
                    break
                try:
                    if not self._connected and now >= self._next_attempt:
                        self._try_connect(stop)
                        continue
                    if now >= next_check:
                        next_check = now + CHANGE_CHECK_S
                        if self.outbox.changed_elsewhere():
                            next_refresh = now
                    if now >= next_refresh:
                        self._offer_pending()
                        next_refresh = now + REFRESH_S
                    if now >= next_purge:
                        self._purge()
                        next_purge = now + PURGE_S
                    wait = MAX_WAIT_S
                    if self._connected:
                        if self._revoked is None:
                            if not self._outgoing:
                                # Only once the last transmissions are out: on a capped link
                                # a result's ack timer must not run while it waits its turn.
                                self._poll(now)
                            wait = self._publish(now)
                        self._maybe_heartbeat(now)
                    self._handle_events(
                        self._wait_time(now, wait, min(next_refresh, next_check), deadline)
                    )
                except OutboxError as e:
                    if self._strict:
                        raise
                    # The outbox's disk failed or is held by another process: say so, go on.
                    log.error("sync paused for %.0f s: %s", OUTBOX_PAUSE_S, e)
                    stop.wait(OUTBOX_PAUSE_S)
        finally:
            self._shutdown()

    def _wait_time(
        self, now: float, publish_wait: float, next_refresh: float, deadline: float | None
    ) -> float:
        if self._poll_now:
            self._poll_now = False
            return 0.0
        wake = [now + publish_wait, next_refresh]
        if self._connected:
            wake.append(self._last_heartbeat + self.settings.heartbeat_s)
            overdue = self._sender.next_deadline()
            if overdue is not None and self._revoked is None:
                wake.append(overdue)
        else:
            wake.append(self._next_attempt)
        if deadline is not None:
            wake.append(deadline)
        return max(0.0, min(min(wake) - now, MAX_WAIT_S))

    def _report(self) -> SyncReport:
        c = self._counts
        try:
            waiting = self.outbox.status().queue_depth
        except OutboxError:
            waiting = -1
        return SyncReport(
            sent=c.sent,
            resent=c.resent,
            accepted=c.accepted,
            duplicates=c.duplicates,
            rejected=c.rejected,
            failed=c.failed,
            seconds=time.monotonic() - c.started,
            waiting=waiting,
            revoked=self._revoked,
            duplicate_acks=c.duplicate_acks,
            bytes_sent=c.bytes_sent,
        )

    # --- results ---

    def _offer_pending(self) -> None:
        for item in self.outbox.pending():
            if item.result_id not in self._items:
                self._items[item.result_id] = item
                self._sender.offer(item.result_id, item.size, sent_before=item.state is State.SENT)
                self._status_dirty = True

    def _purge(self) -> None:
        try:
            purged = self.outbox.purge()
        except OutboxError as e:
            log.error("%s", e)
            return
        if purged:
            log.info("deleted %d answered result(s) past their retention", purged)

    def _poll(self, now: float) -> None:
        for transmission in self._sender.poll(now):
            self._start(transmission)

    def _start(self, transmission: Transmission) -> None:
        """Load the result, mark it SENT, queue its messages for publishing."""
        result_id = transmission.result_id
        item = self._items.get(result_id)
        try:
            if item is None:
                raise OutboxError(f"result {result_id[:12]}… is no longer in the outbox")
            pdf = self.outbox.load_pdf(result_id)
            source = ResultSource(
                self.settings.device_id, pdf, item.fields, item.created_at, item.metadata
            )
            messages = build_messages(transmission, source)
            self.outbox.mark_sent(result_id)
        except (OutboxError, ProtocolError) as e:
            log.error("cannot send result %s…: %s", result_id[:12], e)
            try:
                self.outbox.note_error(result_id, str(e))
            except OutboxError as again:
                log.error("%s", again)
            # Kept in _items, so that the next refresh does not offer it again in this run.
            self._sender.give_up(result_id)
            self._counts.failed += 1
            self._status_dirty = True
            return
        if transmission.retransmission:
            self._counts.resent += 1
        else:
            self._counts.sent += 1
        parts = transmission.parts
        log.debug(
            "sending result %s… (%s)",
            result_id[:12],
            ", ".join(p.kind.value if p.index is None else str(p.index) for p in parts),
        )
        self._outgoing.append(_Outgoing(transmission, messages))

    def _publish(self, now: float) -> float:
        """Publish queued messages while the byte-rate cap allows, for at most a short slice.

        Returns:
            Seconds until the loop should come back: until the cap lets the next message go,
            0 when it published (more may be due), MAX_WAIT_S when nothing waits.
        """
        until = now + PUBLISH_SLICE_S
        published = False
        while self._outgoing and self._connected:
            out = self._outgoing[0]
            if out.payload is None:
                message = next(out.messages, None)
                if message is None:
                    self._outgoing.popleft()
                    self._sender.published(out.transmission.result_id, now)
                    continue
                out.payload = encode(message)
            wait = self._rate_limit.wait(now)
            if wait > 0:
                return wait
            self._send(self._result_topic, out.payload, result_id=out.transmission.result_id)
            out.payload = None
            published = True
            now = time.monotonic()
            if now >= until:
                break
        return 0.0 if published else MAX_WAIT_S

    def _send(
        self, topic: str, payload: bytes, *, result_id: str | None = None, retain: bool = False
    ) -> int | None:
        """Publish one message at QoS 1 and account for it in the cap.

        Returns:
            Its packet id, or None if paho could not take it.
        """
        try:
            info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        except (ValueError, RuntimeError) as e:
            log.error("cannot publish on %s: %s", topic, e)
            return None
        size = len(payload) + len(topic) + _MQTT_OVERHEAD
        self._rate_limit.take(size, time.monotonic())
        self._counts.bytes_sent += size
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("paho could not publish on %s: %s", topic, paho.error_string(info.rc))
            return None
        self._mids[info.mid] = (topic, result_id)
        return info.mid

    def _drop_outgoing(self, result_id: str | None = None) -> None:
        """Stop publishing the messages of `result_id` (None: of every result)."""
        if result_id is None:
            self._outgoing.clear()
        else:
            self._outgoing = deque(
                o for o in self._outgoing if o.transmission.result_id != result_id
            )

    # --- incoming ---

    def _handle_events(self, wait: float) -> None:
        """Handle the events that arrive within `wait` seconds (all that are there)."""
        try:
            event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, event: _Event) -> None:
        if isinstance(event, _Message):
            if event.topic == self._ack_topic:
                self._handle_ack(event.payload)
            elif event.topic == self._cmd_topic:
                self._handle_command(event.payload)
            else:
                log.warning("ignoring a message on %s", event.topic)
        elif isinstance(event, _Published):
            self._handle_puback(event)
        elif isinstance(event, _Connected):
            self._connack = event
        elif isinstance(event, _Subscribed):
            self._subacks[event.mid] = event.refused
        else:
            self._on_link_lost(event.reason)

    def _handle_ack(self, payload: bytes) -> None:
        try:
            ack = decode(payload)
        except DecodeError as e:
            log.warning("ignoring an unreadable ack (%s): %s", e.reason, e)
            return
        if not isinstance(ack, Ack):
            log.warning("ignoring a %s message on the ack topic", ack.schema)
            return
        outcome = self._sender.on_ack(ack, time.monotonic())
        if not ack.final:
            log.info(
                "result %s…: the server lacks %d chunk(s); sending them (%s)",
                ack.result_id[:12],
                len(ack.missing),
                outcome.value,
            )
            if outcome is AckOutcome.RESUME:
                self._poll_now = True
            return
        state, answered = self.outbox.answer(ack)
        if not answered:
            # Already answered (the ack or the result travelled twice), or not ours.
            self._counts.duplicate_acks += 1
            log.debug("result %s…: a further %s ack", ack.result_id[:12], ack.status.value)
            return
        self._drop_outgoing(ack.result_id)
        self._items.pop(ack.result_id, None)
        self._status_dirty = True
        if ack.status is AckStatus.ACCEPTED:
            self._counts.accepted += 1
        elif ack.status is AckStatus.DUPLICATE:
            self._counts.duplicates += 1
        else:
            self._counts.rejected += 1
            reason = ack.reason.value if ack.reason else "rejected"
            self.outbox.set_last_error(
                f"result {ack.result_id[:12]}… rejected ({reason}): {ack.detail}"
            )
        log.info(
            "result %s…: %s (%s)%s",
            ack.result_id[:12],
            ack.status.value,
            state.value if state else "not in the outbox",
            f": {ack.reason.value} {ack.detail}" if ack.reason else "",
        )

    def _handle_puback(self, event: _Published) -> None:
        sent = self._mids.pop(event.mid, None)
        if sent is None:
            return
        topic, result_id = sent
        if event.code >= 0x80:
            if result_id is not None:
                message = (
                    f"{self._where} refused result {result_id[:12]}… on {topic}: "
                    f"{event.reason}; the transport certificate must name device "
                    f"{self.settings.device_id} and the broker's ACL must let it publish there"
                )
                self.outbox.note_error(result_id, message)
                if self._strict:
                    raise SyncError(message)
            else:
                message = (
                    f"{self._where} refused a message on {topic}: {event.reason}; the broker's "
                    f"ACL must let device {self.settings.device_id} publish there"
                )
            log.error("%s", message)
        elif event.code == NO_SUBSCRIBERS and result_id is not None:
            log.info(
                "no ingest worker listens yet; result %s… goes again when its ack is overdue",
                result_id[:12],
            )

    # --- commands ---

    def _handle_command(self, payload: bytes) -> None:
        try:
            command = decode(payload)
        except DecodeError as e:
            log.warning("unreadable command (%s): %s", e.reason, e)
            reply = reply_to_undecodable(self.settings.device_id, e, _now_iso())
            if reply is not None:
                self._send(self._reply_topic, encode(reply))
            return
        if not isinstance(command, Command):
            log.warning("ignoring a %s message on the command topic", command.schema)
            return
        log.info("command %s (%s)", command.name.value, command.command_id)
        view = DeviceView(
            self.settings,
            self.outbox,
            self._versions,
            self._link_state(),
            self._sender.in_flight,
        )
        self._send(self._reply_topic, encode(answer(command, view, self._revoke)))

    def _revoke(self, reason: str) -> None:
        """Stop sending for good (persisted), and say why in the heartbeat."""
        self.outbox.set_revoked(reason)
        self._revoked = reason
        self._drop_outgoing()
        log.warning("revoked by the server: %s; sending stopped", reason)
        self._heartbeat(time.monotonic())

    # --- heartbeat ---

    def _link_state(self) -> LinkState:
        return LinkState.STOPPED if self._revoked is not None else LinkState.ONLINE

    def _token_present(self, now: float) -> bool | None:
        # Looked up at most once per heartbeat period: a PKCS#11 slot scan is not free.
        if self._token is None or now - self._token[0] >= self.settings.heartbeat_s:
            try:
                self._token = (now, self._token_probe())
            except Exception as e:  # a failing probe must not stop the sync
                log.debug("token probe failed: %s", e)
                self._token = (now, None)
        return self._token[1]

    def _beat(self, state: LinkState, status: OutboxStatus, now: float) -> Heartbeat:
        error = f"revoked: {self._revoked}" if self._revoked is not None else status.last_error
        return Heartbeat(
            device_id=self.settings.device_id,
            state=state,
            at=_now_iso(),
            queue_depth=status.queue_depth,
            oldest_pending_age_s=status.oldest_pending_age_s,
            disk_free_bytes=disk_free(self.outbox.directory),
            token_present=self._token_present(now),
            versions=self._versions,
            last_error=error,
        )

    def _maybe_heartbeat(self, now: float) -> None:
        if now - self._last_heartbeat < self.settings.heartbeat_s:
            if not self._status_dirty or now < self._next_status_look:
                return
            self._next_status_look = now + HEARTBEAT_MIN_GAP_S
            signature = self._signature(self.outbox.status())
            if signature == self._last_signature:
                self._status_dirty = False
                return
            if not signature.calls_for_beat(self._last_signature, now - self._last_heartbeat):
                return  # only the depth changed, and lately: looked at again later
        self._heartbeat(now)

    def _signature(self, status: OutboxStatus) -> StatusSignature:
        return StatusSignature.of(self._link_state(), status)

    def _heartbeat(self, now: float, state: LinkState | None = None) -> int | None:
        status = self.outbox.status()
        beat = self._beat(state or self._link_state(), status, now)
        self._last_heartbeat = now
        self._last_signature = self._signature(status)
        self._status_dirty = False
        self._next_status_look = now + HEARTBEAT_MIN_GAP_S
        return self._send(self._status_topic, encode(beat), retain=True)

    # --- connection ---

    def _tls_context(self) -> ssl.SSLContext:
        ca_file, cert_file, key_file = self.settings.transport_identity()
        try:
            # PROTOCOL_TLS_CLIENT verifies the broker's certificate and its host name or IP.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_verify_locations(cafile=str(ca_file))
            context.load_cert_chain(str(cert_file), str(key_file))
        except (OSError, ssl.SSLError) as e:
            raise SyncError(
                f"cannot load the transport identity (cert_file {cert_file}, key_file "
                f"{key_file}, ca_file {ca_file}): {e}; enroll the appliance again"
            ) from e
        return context

    def _make_client(self, context: ssl.SSLContext) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.device_id,
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,  # the agent reconnects, with jitter
        )
        client.tls_set_context(context)
        will = Heartbeat.last_will(self.settings.device_id, self._versions)
        client.will_set(self._status_topic, encode(will), qos=QOS, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._on_log
        return client

    def _try_connect(self, stop: threading.Event) -> None:
        """One attempt to (re)connect; on failure, the next is scheduled with back-off."""
        try:
            self._connect(self.connect_timeout, stop)
        except SyncError as e:
            delay = self._backoff()
            log.warning("%s; trying again in %.1f s", e, delay)
            self._next_attempt = time.monotonic() + delay
            try:
                self.outbox.set_last_error(str(e))
                self._link_error = True
            except OutboxError as again:
                log.error("%s", again)
            self._status_dirty = True

    def _backoff(self) -> float:
        """Exponential back-off with jitter: half the doubled delay, plus up to as much again
        at random."""
        ceiling = min(self.settings.reconnect_max_s, RECONNECT_MIN_S * 2.0**self._failures)
        self._failures = min(self._failures + 1, 30)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    def _connect(self, timeout: float, stop: threading.Event | None = None) -> None:
        """Connect, wait for the CONNACK, subscribe to our ack and command topics, publish the
        heartbeat.

        Raises:
            SyncError: says which: unreachable, TLS, refused, or no answer.
        """
        self._client.loop_stop()  # the network thread of a lost connection has ended
        self._drain_stale_events()
        self._connack = None
        self._link_lost = None
        self._paho_error = None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        with contextlib.suppress(RuntimeError):
            # paho refuses while the socket of a lost connection is still open; connect()
            # closes that socket, and the timeout set before stays.
            self._client.connect_timeout = timeout
        try:
            self._client.connect(
                self.settings.broker_host,
                self.settings.broker_port,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                properties=props,
            )
        except ssl.SSLCertVerificationError as e:
            raise SyncError(
                f"TLS with {self._where} failed: its certificate is not trusted "
                f"({e.verify_message}); check that ca_file is the provincial CA and that "
                "broker_host is a name or address the broker's certificate carries"
            ) from e
        except ssl.SSLError as e:
            raise SyncError(
                f"TLS with {self._where} failed ({e.reason or e}): check that broker_port is "
                "the broker's TLS port and that cert_file/key_file are this appliance's"
            ) from e
        except ConnectionRefusedError as e:
            raise SyncError(
                f"{self._where} refused the connection (nothing listens there): check "
                "broker_host/broker_port and that the broker runs"
            ) from e
        except OSError as e:
            raise SyncError(
                f"cannot reach {self._where}: {e}; check the network and broker_host"
            ) from e
        self._client.loop_start()
        try:
            self._await_connack(timeout, stop)
            self._subscribe(timeout, stop)
        except SyncError:
            self._client.disconnect()
            self._client.loop_stop()
            self._connected = False
            raise
        self._failures = 0
        if self._link_error:
            # The connection problem is over; other problems (a rejection) stay on show.
            self.outbox.set_last_error(None)
            self._link_error = False
        self._heartbeat(time.monotonic())

    def _await(
        self, done: Callable[[], bool], timeout: float, stop: threading.Event | None
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            self._handle_events(min(remaining, MAX_WAIT_S))
        return True

    def _await_connack(self, timeout: float, stop: threading.Event | None) -> None:
        if not self._await(
            lambda: self._connack is not None or self._link_lost is not None, timeout, stop
        ):
            raise SyncError(f"{self._where} did not answer within {timeout:.0f} s")
        if self._connack is None:
            detail = self._paho_error or self._link_lost
            raise SyncError(
                f"{self._where} closed the connection before accepting it ({detail}): "
                "during TLS it refused this appliance's certificate (missing, not issued "
                "by the provincial CA, expired or revoked); check cert_file/key_file"
            )
        if self._connack.failure:
            raise SyncError(
                f"{self._where} refused this appliance: {self._connack.reason}; the broker "
                f"does not authorise the identity in cert_file (device "
                f"{self.settings.device_id}): check that it is enrolled and not revoked"
            )
        self._connected = True
        log.info(
            "connected to %s (session present: %s)", self._where, self._connack.session_present
        )

    def _subscribe(self, timeout: float, stop: threading.Event | None) -> None:
        topics = [
            (t, SubscribeOptions(qos=QOS)) for t in device_subscriptions(self.settings.device_id)
        ]
        result, mid = self._client.subscribe(topics)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise SyncError(f"cannot subscribe to {self._ack_topic}: {paho.error_string(result)}")
        if not self._await(lambda: mid in self._subacks or not self._connected, timeout, stop):
            raise SyncError(f"{self._where} did not answer the subscription to {self._ack_topic}")
        if not self._connected:
            raise SyncError(f"{self._where} dropped the connection: {self._link_lost}")
        refused = self._subacks.pop(mid)
        if refused:
            raise SyncError(
                f"{self._where} refused the subscription to {self._ack_topic}: {refused}; the "
                f"broker's ACL must let device {self.settings.device_id} read its ack and "
                "command topics"
            )

    def _drain_stale_events(self) -> None:
        """Handle what the last connection left in the queue: acks and commands still count;
        its connection events no longer do."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, _Message | _Published):
                self._handle(event)

    def _on_link_lost(self, reason: str) -> None:
        self._link_lost = self._paho_error or reason
        if not self._connected:
            return
        self._connected = False
        # What was being published goes again when its ack is overdue (the sender's timers);
        # a PUBACK of the lost connection will not come.
        self._drop_outgoing()
        self._mids.clear()
        delay = self._backoff()
        self._next_attempt = time.monotonic() + delay
        log.warning("lost %s (%s); reconnecting in %.1f s", self._where, self._link_lost, delay)

    def _shutdown(self) -> None:
        """A clean stop: let the broker acknowledge what was published, publish OFFLINE
        (retained) and disconnect with reason 0, so that the broker discards the last will."""
        if self._connected:
            self._await(lambda: not self._mids or not self._connected, STOP_GRACE_S, None)
        if self._connected:
            mid = self._heartbeat(time.monotonic(), LinkState.OFFLINE)
            self._await(lambda: mid not in self._mids or not self._connected, STOP_GRACE_S, None)
            self._client.disconnect()
        self._client.loop_stop()
        self._connected = False
        self._drop_outgoing()

    # --- paho callbacks (network thread): hand over, never block ---

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        disable_nagle(client.socket())  # chunks and acks are small packets: no 40 ms waits
        self._events.put(
            _Connected(
                reason=str(reason_code),
                failure=reason_code.is_failure,
                session_present=bool(getattr(flags, "session_present", False)),
            )
        )

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._events.put(_Disconnected(reason=str(reason_code)))

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [str(c) for c in reason_codes if c.is_failure]
        self._events.put(_Subscribed(mid=mid, refused=refused[0] if refused else None))

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._events.put(_Published(mid=mid, code=reason_code.value, reason=str(reason_code)))

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._events.put(_Message(topic=msg.topic, payload=bytes(msg.payload)))

    def _on_log(self, _client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        # paho reports why a socket failed (e.g. the broker's TLS alert) only in its log.
        if level == paho.MQTT_LOG_ERR:
            self._paho_error = text
            log.debug("paho: %s", text)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
