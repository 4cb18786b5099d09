"""The sync agent: the appliance's one adapter to paho-mqtt. It carries the outbox's results to
the provincial broker and the server's application acks back into the outbox.

Rules of this module:
- It is the only edge module that imports paho; paho's types and errors stop here (`SyncError`).
- What to publish and when is decided by `protocol.sender.Sender` (sans-IO); this module only
  does the I/O: MQTT v5 over TLS 1.2+, QoS 1, one message per result (`protocol.encoding`).
- paho's network thread only turns callbacks into events on a queue; the caller's thread reads
  the outbox, publishes and applies acks, so the outbox is used from one thread here.
- The session is persistent (clean start off, a session expiry interval: MQTT v5 section
  3.1.2.11.2), so acks the server sends while the appliance is offline wait at the broker.
- A refused connection says which: nothing listening, TLS failure (the broker's certificate, or
  ours refused), or not authorised. paho's `connect()` does not raise when the broker refuses our
  certificate (TLS 1.3 reports it after the handshake): the agent watches the CONNACK and
  disconnect reason codes and paho's error log, and times out.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import EdgeSettings
from edge.errors import OutboxError, SyncError
from edge.outbox import Outbox, OutboxItem
from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import Ack, AckStatus, ResultMessage
from protocol.sender import AckOutcome, Sender
from protocol.topics import ack_topic, result_topic

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 10.0
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
REFRESH_S = 5.0
"""How often `run_forever` looks for new results in the outbox."""
NO_SUBSCRIBERS = 0x10
"""PUBACK reason "No matching subscribers" (MQTT v5 section 3.4.2.1): no ingest worker is
listening; the message is lost and the result goes again when its ack is overdue."""


@dataclass(frozen=True)
class SyncReport:
    """What one `run_until_drained` did.

    Attributes:
        sent: results published (each counted once).
        resent: extra publishes of results whose ack was late.
        accepted: results the server stored.
        duplicates: results the server already had.
        rejected: results the server refused (their reason is in the outbox).
        failed: results that could not be sent (their PDF is damaged; see the outbox).
        seconds: wall time.
    """

    sent: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0


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


class _Counts:
    """Mutable tallies behind a SyncReport."""

    def __init__(self) -> None:
        self.sent = self.resent = self.accepted = self.duplicates = 0
        self.rejected = self.failed = 0
        self.published: set[str] = set()
        """Results published in this run and not answered yet (to count resends)."""

    def report(self, seconds: float) -> SyncReport:
        return SyncReport(
            sent=self.sent,
            resent=self.resent,
            accepted=self.accepted,
            duplicates=self.duplicates,
            rejected=self.rejected,
            failed=self.failed,
            seconds=seconds,
        )


class SyncAgent:
    """Sends the outbox's pending results to the broker and applies the server's acks.

    Args:
        settings: the appliance's settings (device_id, broker, transport identity).
        outbox: the outbox to drain.
        window: the most results in flight at once.
        connect_timeout: seconds to wait for the broker's CONNACK.

    Raises:
        ConfigError: the transport identity is not configured.
        SyncError: its files cannot be loaded.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        *,
        window: int = 8,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.connect_timeout = connect_timeout
        self._where = f"the broker at {settings.broker_host}:{settings.broker_port}"
        self._result_topic = result_topic(settings.device_id)
        self._ack_topic = ack_topic(settings.device_id)
        self._sender = Sender(window=window, retransmit_after=settings.ack_timeout_s)
        self._items: dict[str, OutboxItem] = {}
        self._mids: dict[int, str] = {}
        self._events: queue.Queue[_Event] = queue.Queue()
        self._held: list[_Event] = []
        self._connected = False
        self._last_error: str | None = None
        self._client = self._make_client(self._tls_context())

    # --- public ---

    def run_until_drained(self, timeout: float) -> SyncReport:
        """Connect, send everything pending, wait for every application ack, disconnect.

        Args:
            timeout: seconds for the whole run.

        Returns:
            What was sent and how the server answered.

        Raises:
            SyncError: the broker could not be reached or refused this appliance or its results,
                or some answers did not come within `timeout` (those results stay in the
                outbox and go with the next sync).
        """
        start = time.monotonic()
        deadline = start + timeout
        counts = _Counts()
        self._offer_pending()
        if self._sender.idle:
            return counts.report(time.monotonic() - start)
        self._connect(min(self.connect_timeout, timeout))
        try:
            while not self._sender.idle:
                now = time.monotonic()
                if now >= deadline:
                    waiting = self._sender.pending + self._sender.in_flight
                    raise SyncError(
                        f"{waiting} result(s) still wait for the server's answer after "
                        f"{timeout:.0f} s (is the server's ingest running?); they stay in the "
                        "outbox and go with the next sync"
                    )
                if self._connected:
                    self._send_due(now, counts)
                self._handle_events(self._wait_time(now, deadline), counts, strict=True)
        finally:
            self._disconnect()
        return counts.report(time.monotonic() - start)

    def run_forever(self, stop: threading.Event) -> None:
        """Keep syncing until `stop` is set: connect (again, with back-off), send what the
        outbox holds as it arrives, apply acks. Errors are logged, never raised (a transport
        identity that cannot be loaded is raised by the constructor, before this)."""
        delay = float(RECONNECT_MIN_S)
        while not stop.is_set():
            try:
                self._connect(self.connect_timeout)
            except SyncError as e:
                log.warning("%s; trying again in %.0f s", e, delay)
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            delay = float(RECONNECT_MIN_S)
            try:
                self._serve(stop)
            except OutboxError as e:
                # The outbox's disk failed under us: say so and try again later, never crash.
                log.error("sync paused: %s", e)
                stop.wait(RECONNECT_MAX_S)
            finally:
                self._disconnect()

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
        )
        client.tls_set_context(context)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._on_log
        return client

    def _connect(self, timeout: float) -> None:
        """Connect, wait for the CONNACK, subscribe to our ack topic.

        Raises:
            SyncError: says which: unreachable, TLS, refused, or no answer.
        """
        self._drain_stale_events()
        self._last_error = None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
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
            self._await_connack(timeout)
            self._subscribe_acks(timeout)
        except SyncError:
            self._disconnect()
            raise

    def _await_connack(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SyncError(f"{self._where} did not answer within {timeout:.0f} s")
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(event, _Connected):
                if event.failure:
                    raise SyncError(
                        f"{self._where} refused this appliance: {event.reason}; the broker "
                        f"does not authorise the identity in cert_file (device "
                        f"{self.settings.device_id}): check that it is enrolled and not revoked"
                    )
                self._connected = True
                log.info(
                    "connected to %s (session present: %s)", self._where, event.session_present
                )
                return
            if isinstance(event, _Disconnected):
                detail = self._last_error or event.reason
                raise SyncError(
                    f"{self._where} closed the connection before accepting it ({detail}): "
                    "during TLS it refused this appliance's certificate (missing, not issued "
                    "by the provincial CA, expired or revoked); check cert_file/key_file"
                )
            self._hold(event)

    def _subscribe_acks(self, timeout: float) -> None:
        result, mid = self._client.subscribe(self._ack_topic, options=SubscribeOptions(qos=1))
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise SyncError(f"cannot subscribe to {self._ack_topic}: {paho.error_string(result)}")
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(event, _Subscribed) and event.mid == mid:
                if event.refused:
                    raise SyncError(
                        f"{self._where} refused the subscription to {self._ack_topic}: "
                        f"{event.refused}; the broker's ACL must let device "
                        f"{self.settings.device_id} read its ack topic"
                    )
                return
            if isinstance(event, _Disconnected):
                raise SyncError(f"{self._where} dropped the connection: {event.reason}")
            self._hold(event)
        raise SyncError(f"{self._where} did not answer the subscription to {self._ack_topic}")

    def _disconnect(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._connected = False

    # --- the work ---

    def _serve(self, stop: threading.Event) -> None:
        counts = _Counts()
        next_refresh = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_refresh:
                self._offer_pending()
                next_refresh = now + REFRESH_S
            if self._connected:
                self._send_due(now, counts)
            self._handle_events(min(self._wait_time(now, next_refresh), 0.5), counts, strict=False)

    def _offer_pending(self) -> None:
        for item in self.outbox.pending():
            self._items[item.result_id] = item
            self._sender.offer(item.result_id)

    def _send_due(self, now: float, counts: _Counts) -> None:
        for result_id in self._sender.next_to_send(now):
            item = self._items[result_id]
            try:
                pdf = self.outbox.load_pdf(result_id)
            except OutboxError as e:
                log.error("cannot send result %s…: %s", result_id[:12], e)
                self.outbox.note_error(result_id, str(e))
                self._sender.give_up(result_id)
                self._items.pop(result_id, None)
                counts.failed += 1
                continue
            message = ResultMessage.for_pdf(
                self.settings.device_id, pdf, item.fields, item.created_at
            )
            info = self._client.publish(self._result_topic, encode(message), qos=1)
            self._mids[info.mid] = result_id
            self.outbox.mark_sent(result_id)
            if result_id in counts.published:
                counts.resent += 1
            else:
                counts.published.add(result_id)
                counts.sent += 1
            log.debug("published result %s… (mid %s)", result_id[:12], info.mid)

    def _wait_time(self, now: float, until: float) -> float:
        wake = until
        overdue = self._sender.next_deadline()
        if overdue is not None:
            wake = min(wake, overdue)
        return max(0.01, min(wake - now, 1.0))

    def _handle_events(self, wait: float, counts: _Counts, *, strict: bool) -> None:
        """Handle the events held back while connecting, then those that arrive within
        `wait` seconds."""
        while self._held:
            self._handle(self._held.pop(0), counts, strict=strict)
        try:
            event = self._events.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            self._handle(event, counts, strict=strict)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, event: _Event, counts: _Counts, *, strict: bool) -> None:
        if isinstance(event, _Message):
            self._handle_ack(event, counts)
        elif isinstance(event, _Published):
            self._handle_puback(event, strict=strict)
        elif isinstance(event, _Connected):
            self._connected = not event.failure
            if event.failure:
                log.warning("%s refused the reconnection: %s", self._where, event.reason)
            else:
                log.info("reconnected to %s", self._where)
                if not event.session_present:
                    self._client.subscribe(self._ack_topic, options=SubscribeOptions(qos=1))
        elif isinstance(event, _Disconnected):
            self._connected = False
            log.warning(
                "lost %s (%s); paho reconnects", self._where, self._last_error or event.reason
            )
        elif isinstance(event, _Subscribed) and event.refused:
            log.error("%s refused the subscription to our acks: %s", self._where, event.refused)

    def _handle_ack(self, event: _Message, counts: _Counts) -> None:
        if event.topic != self._ack_topic:
            log.warning("ignoring a message on %s", event.topic)
            return
        try:
            ack = decode(event.payload)
        except DecodeError as e:
            log.warning("ignoring an unreadable ack (%s): %s", e.reason, e)
            return
        if not isinstance(ack, Ack):
            log.warning("ignoring a %s message on the ack topic", ack.schema)
            return
        outcome = self._sender.on_ack(ack)
        state = self.outbox.apply_ack(ack)
        log.info(
            "result %s…: %s (%s)%s",
            ack.result_id[:12],
            ack.status.value,
            state.value if state else "not in the outbox",
            f": {ack.reason.value} {ack.detail}" if ack.reason else "",
        )
        if outcome is not AckOutcome.DONE:
            return
        self._items.pop(ack.result_id, None)
        counts.published.discard(ack.result_id)
        if ack.status is AckStatus.ACCEPTED:
            counts.accepted += 1
        elif ack.status is AckStatus.DUPLICATE:
            counts.duplicates += 1
        else:
            counts.rejected += 1

    def _handle_puback(self, event: _Published, *, strict: bool) -> None:
        result_id = self._mids.pop(event.mid, None)
        if result_id is None:
            return
        if event.code >= 0x80:
            message = (
                f"{self._where} refused result {result_id[:12]}… on {self._result_topic}: "
                f"{event.reason}; the transport certificate must name device "
                f"{self.settings.device_id} and the broker's ACL must let it publish there"
            )
            self.outbox.note_error(result_id, message)
            if strict:
                raise SyncError(message)
            log.error("%s", message)
        elif event.code == NO_SUBSCRIBERS:
            log.info(
                "no ingest worker listens yet; result %s… goes again when its ack is overdue",
                result_id[:12],
            )

    def _hold(self, event: _Event) -> None:
        # Acks and PUBACKs that arrive while we wait for something else are handled afterwards,
        # in order; connection events of an earlier connection no longer matter.
        if isinstance(event, _Message | _Published):
            self._held.append(event)

    def _drain_stale_events(self) -> None:
        while True:
            try:
                self._hold(self._events.get_nowait())
            except queue.Empty:
                return

    # --- paho callbacks (network thread): hand over, never block ---

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
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
            self._last_error = text
            log.debug("paho: %s", text)
