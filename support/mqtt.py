"""The one adapter to paho-mqtt: an MQTT v5 client over TLS, for the appliance and the server.

Rules of this module:
- It is the only module of the product that imports paho; paho's types and errors stop here.
  What comes out is ours (`support.mqtt_types`): `Incoming`, `Puback`, `LinkLost`, and
  `MqttError` with its `MqttFailure`, which the appliance (`edge.sync.connection`: `SyncError`)
  and the server (`server.mqtt`: `IngestError`) turn into their own errors with the hints for
  their settings.
- TLS 1.2 or later with a client certificate (`TlsIdentity`); the broker's certificate and its
  host name or address are verified. The certificate's commonName is our MQTT username.
- MQTT v5, QoS 1. A persistent session when asked (`clean_start=False`, a Session Expiry
  Interval: MQTT v5 section 3.1.2.11.2) keeps subscriptions and the messages dealt to us at the
  broker while we are away.
- `connect` and `subscribe` block until the broker answers (CONNACK, SUBACK) or a timeout. A
  failed connection says which (`MqttFailure`): nothing listening, TLS, the broker closing the
  connection before its CONNACK, not authorised, no answer. paho's `connect()` does not raise
  when the broker refuses our certificate (TLS 1.3 reports it after the handshake): this module
  watches the CONNACK, the disconnect and paho's error log, and times out.
- Callbacks run on paho's network thread and only hand over; they never block. That thread
  alone reads the socket and sends our PINGREQs (MQTT v5 section 3.1.2.10: the broker closes
  a connection it hears nothing from for one and a half Keep Alive intervals), so a callback
  that waited for room would cost us the connection, and with it every unacknowledged message
  (the broker sends them again after the reconnection, section 4.4). Flow control is the
  broker's: with `manual_ack`, a QoS 1 message is PUBACKed only when the caller `ack`s it, and
  the broker may not have more than our Receive Maximum of them unacknowledged at once
  (sections 3.1.2.11.3, 3.3.4 and 4.9); the rest wait at the broker. Pausing the socket reads
  instead is no way out: paho takes a PINGRESP not read within a Keep Alive interval for a
  dead link and closes it.
- Reconnection is paho's (`reconnect=True`: 1 to 30 s, subscriptions made again) or the
  caller's (`reconnect=False`: `connect` again, e.g. with a jittered back-off).
- Nagle's algorithm is off on every connection (`support.sockets`).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from support.mqtt_types import (
    Incoming,
    LinkLost,
    MqttError,
    MqttFailure,
    Puback,
    Queued,
    TlsIdentity,
    Will,
)
from support.sockets import disable_nagle

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
SESSION_TAKEN_OVER = 0x8E
"""DISCONNECT reason "Session taken over" (MQTT v5 section 3.14.2.1): another client connected
with our client id."""
_MAX_WAIT_S = 0.25
"""The longest a blocking call sleeps before it looks at its stop event again."""
_REFUSALS_KEPT = 1000
"""How many refused publishes are remembered for `publish_and_wait`."""


def tls_context(identity: TlsIdentity) -> ssl.SSLContext:
    """A TLS 1.2+ client context that verifies the broker and presents our certificate.

    Raises:
        MqttError: IDENTITY: a file is missing or unreadable, or the key does not match.
    """
    try:
        # PROTOCOL_TLS_CLIENT verifies the broker's certificate and its host name or IP.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=str(identity.ca_file))
        context.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    except (OSError, ssl.SSLError, ValueError) as e:
        raise MqttError(MqttFailure.IDENTITY, str(e)) from e
    return context


class MqttClient:
    """One MQTT v5 client over TLS, connected again and again as its owner decides.

    Args:
        host: the broker's host name or address (checked against its certificate).
        port: the broker's TLS port.
        identity: our TLS client identity and the CA to trust.
        client_id: the MQTT client id (unique per connection).
        on_message: called on paho's network thread for each message; hands it over and
            returns at once (it must never block: see the module's rules).
        on_puback: called on paho's network thread with the broker's answer to each publish.
        on_link_lost: called on paho's network thread when the connection drops (not when
            `disconnect` closes it).
        will: our last will, or None.
        manual_ack: PUBACK received QoS 1 messages only on `ack`.
        reconnect: let paho reconnect by itself (1 to 30 s) and subscribe again; False: the
            owner calls `connect` again.
        receive_maximum: how many unacked QoS 1 messages the broker may send us at once
            (MQTT v5 section 3.1.2.11.3), or None for the protocol's default.
        clean_start: False to resume the session the broker keeps for `client_id`.
        session_expiry_s: how long the broker keeps our session after we disconnect (0: it
            ends with the connection).
        max_packet_bytes: the largest packet we accept (the broker drops larger ones for us),
            or None for no limit of ours.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        identity: TlsIdentity,
        client_id: str,
        on_message: Callable[[Incoming], None],
        on_puback: Callable[[Puback], None] | None = None,
        on_link_lost: Callable[[LinkLost], None] | None = None,
        will: Will | None = None,
        manual_ack: bool = False,
        reconnect: bool = False,
        receive_maximum: int | None = None,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        max_packet_bytes: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self._identity = identity
        self._on_message = on_message
        self._on_puback = on_puback
        self._on_link_lost = on_link_lost
        self._receive_maximum = receive_maximum
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._max_packet_bytes = max_packet_bytes
        self._tls_loaded = False
        self._lock = threading.Condition()
        self._connack: ReasonCode | None = None
        self._gone: str | None = None
        self._log_error: str | None = None
        self._connected = False
        self._closing = False
        self._session_present: bool | None = None
        self._subscriptions: list[tuple[str, int]] = []
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._refused_mids: dict[int, ReasonCode] = {}
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
            reconnect_on_failure=reconnect,
        )
        if reconnect:
            self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.on_log = self._handle_log

    @property
    def where(self) -> str:
        """The broker, for messages: "the broker at host:port"."""
        return f"the broker at {self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now."""
        return self._connected

    @property
    def session_present(self) -> bool | None:
        """Whether the broker resumed a session at the last connection (None before one)."""
        return self._session_present

    def load_identity(self) -> None:
        """Load our TLS identity now (`connect` does it otherwise), to fail early on bad files.

        Raises:
            MqttError: IDENTITY.
        """
        if not self._tls_loaded:
            self._client.tls_set_context(tls_context(self._identity))
            self._tls_loaded = True

    def connect(self, timeout: float = 10.0, stop: threading.Event | None = None) -> None:
        """Connect (TCP, TLS, CONNECT/CONNACK), start paho's network thread, wait for the CONNACK.

        Args:
            timeout: seconds for the socket and for the CONNACK each.
            stop: gives up waiting once set.

        Raises:
            MqttError: IDENTITY, UNTRUSTED, TLS, NOTHING_LISTENS, UNREACHABLE (raised by the
                connection attempt), CLOSED, NOT_AUTHORISED or NO_ANSWER (after it).
        """
        self.load_identity()
        self._client.loop_stop()  # the network thread of a lost connection has ended
        with self._lock:
            self._connack = None
            self._gone = None
            self._log_error = None
            self._closing = False
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self._receive_maximum is not None:
            props.ReceiveMaximum = self._receive_maximum
        if self._session_expiry_s:
            props.SessionExpiryInterval = self._session_expiry_s
        if self._max_packet_bytes is not None:
            props.MaximumPacketSize = self._max_packet_bytes
        with contextlib.suppress(RuntimeError):
            # paho refuses while the socket of a lost connection is still open; connect()
            # closes that socket, and the timeout set before stays.
            self._client.connect_timeout = timeout
        try:
            self._client.connect(
                self.host,
                self.port,
                keepalive=KEEPALIVE_S,
                clean_start=self._clean_start,
                properties=props,
            )
        except ssl.SSLCertVerificationError as e:
            raise MqttError(MqttFailure.UNTRUSTED, str(e.verify_message or e)) from e
        except ssl.SSLError as e:
            raise MqttError(MqttFailure.TLS, str(e.reason or e)) from e
        except ConnectionRefusedError as e:
            raise MqttError(MqttFailure.NOTHING_LISTENS, str(e)) from e
        except OSError as e:
            raise MqttError(MqttFailure.UNREACHABLE, str(e)) from e
        self._client.loop_start()
        answered = self._wait(
            lambda: self._connack is not None or self._gone is not None, timeout, stop
        )
        with self._lock:
            connack, gone, error = self._connack, self._gone, self._log_error
        if connack is not None and not connack.is_failure:
            return
        self.disconnect()
        if not answered:
            raise MqttError(MqttFailure.NO_ANSWER, f"no CONNACK within {timeout:.0f} s")
        if connack is not None:
            raise MqttError(MqttFailure.NOT_AUTHORISED, str(connack))
        raise MqttError(MqttFailure.CLOSED, error or gone or "closed")

    def subscribe(
        self,
        topic_filters: Sequence[str],
        qos: int = 1,
        timeout: float = 10.0,
        stop: threading.Event | None = None,
    ) -> None:
        """Subscribe to `topic_filters` in one SUBSCRIBE and wait for the SUBACK; with
        `reconnect`, again after every reconnection.

        Raises:
            MqttError: CLIENT (paho would not send it), NO_ANSWER, LOST or SUBSCRIBE_REFUSED
                (the first refused filter's reason).
        """
        for topic_filter in topic_filters:
            if (topic_filter, qos) not in self._subscriptions:
                self._subscriptions.append((topic_filter, qos))
        result, mid = self._client.subscribe(
            [(t, SubscribeOptions(qos=qos)) for t in topic_filters]
        )
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(MqttFailure.CLIENT, paho.error_string(result))
        if not self._wait(lambda: mid in self._subacks or not self._connected, timeout, stop):
            raise MqttError(MqttFailure.NO_ANSWER, f"no SUBACK within {timeout:.0f} s")
        with self._lock:
            codes = self._subacks.pop(mid, None)
            gone = self._gone
        if codes is None:
            raise MqttError(MqttFailure.LOST, gone or "the connection dropped")
        refused = [c for c in codes if c.is_failure]
        if refused:
            raise MqttError(MqttFailure.SUBSCRIBE_REFUSED, str(refused[0]))

    def subscribe_nowait(self, topic_filters: Sequence[str], qos: int = 1) -> None:
        """Subscribe to `topic_filters` without waiting for the SUBACK (and again after every
        reconnection with `reconnect`). For a thread that must not wait on the broker; the
        broker's answer is not checked (use `subscribe` first, to learn that it is granted).

        Raises:
            MqttError: CLIENT: paho would not take the request.
        """
        for topic_filter in topic_filters:
            if (topic_filter, qos) not in self._subscriptions:
                self._subscriptions.append((topic_filter, qos))
        result, _mid = self._client.subscribe(
            [(t, SubscribeOptions(qos=qos)) for t in topic_filters]
        )
        if result not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(MqttFailure.CLIENT, paho.error_string(result))

    def unsubscribe_nowait(self, topic_filters: Sequence[str]) -> None:
        """Unsubscribe from `topic_filters` (not again after a reconnection) without waiting
        for the UNSUBACK. The broker then deals no new message to us through them, but still
        delivers those it had already begun to send us or buffered for us (MQTT v5 section
        3.10.4).

        Raises:
            MqttError: CLIENT: paho would not take the request.
        """
        self._subscriptions = [s for s in self._subscriptions if s[0] not in topic_filters]
        result, _mid = self._client.unsubscribe(list(topic_filters))
        if result not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(MqttFailure.CLIENT, paho.error_string(result))

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> Queued:
        """Queue a message for the broker and return at once (never waits for the broker: the
        caller may be the thread paho's network thread waits for). paho sends it (again after
        a reconnection) until the broker's PUBACK, which goes to `on_puback`.

        Raises:
            MqttError: CLIENT: paho would not take it (too large, a bad topic, its queue).
        """
        info = self._publish(topic, payload, qos, retain)
        return Queued(info.mid, offline=info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN)

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK (not from paho's network thread).

        Raises:
            MqttError: CLIENT, NO_ANSWER (no PUBACK in time) or PUBLISH_REFUSED.
        """
        info = self._publish(topic, payload, 1, False)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as e:
            raise MqttError(MqttFailure.CLIENT, str(e)) from e
        if not info.is_published():
            raise MqttError(MqttFailure.NO_ANSWER, f"no PUBACK within {timeout:.0f} s")
        with self._lock:
            refused = self._refused_mids.pop(info.mid, None)
        if refused is not None:
            raise MqttError(MqttFailure.PUBLISH_REFUSED, str(refused))

    def ack(self, message: Incoming) -> None:
        """PUBACK `message` (with `manual_ack`): the broker may forget it."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def disconnect(self, *, end_session: bool = False) -> None:
        """Disconnect (reason 0: the broker discards our will) and stop paho's network thread.

        Args:
            end_session: also end our session at the broker (Session Expiry Interval 0 in the
                DISCONNECT, MQTT v5 section 3.14.2.2.2): what it kept for us is dropped, and a
                shared subscription no longer deals messages to us.
        """
        self._closing = True
        props = None
        if end_session and self._session_expiry_s:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()
        self._connected = False

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> paho.MQTTMessageInfo:
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, RuntimeError) as e:
            raise MqttError(MqttFailure.CLIENT, str(e)) from e
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(MqttFailure.CLIENT, paho.error_string(info.rc))
        return info

    def _wait(self, done: Callable[[], bool], timeout: float, stop: threading.Event | None) -> bool:
        """Wait until `done()` (checked under the lock), `timeout` or `stop`; True if done."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    return False
                self._lock.wait(min(remaining, _MAX_WAIT_S) if stop is not None else remaining)
        return True

    # --- paho callbacks (network thread): hand over, never block ---

    def _handle_connect(
        self,
        _client: paho.Client,
        _userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            first = self._connack is None
            self._connack = reason_code
            self._connected = not reason_code.is_failure
            self._session_present = bool(getattr(flags, "session_present", False))
            self._lock.notify_all()
        if reason_code.is_failure:
            log.warning("%s refused the connection: %s", self.where, reason_code)
            return
        disable_nagle(self._client.socket())  # small packets (acks, chunks): no 40 ms waits
        if not first:
            log.info("reconnected to %s", self.where)
            for topic_filter, qos in self._subscriptions:
                self._client.subscribe(topic_filter, options=SubscribeOptions(qos=qos))

    def _handle_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._gone = str(reason_code)
            error = self._log_error
            self._lock.notify_all()
        if self._closing or self._on_link_lost is None:
            return
        self._on_link_lost(
            LinkLost(
                reason=str(reason_code),
                error=error,
                was_connected=was_connected,
                session_taken_over=reason_code.value == SESSION_TAKEN_OVER,
            )
        )

    def _handle_subscribe(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._subacks[mid] = reason_codes
            self._lock.notify_all()

    def _handle_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            with self._lock:
                self._refused_mids[mid] = reason_code
                while len(self._refused_mids) > _REFUSALS_KEPT:  # only publish_and_wait reads
                    self._refused_mids.pop(next(iter(self._refused_mids)))
        if self._on_puback is not None:
            self._on_puback(Puback(mid=mid, code=reason_code.value, reason=str(reason_code)))

    def _handle_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._on_message(
            Incoming(
                topic=msg.topic,
                payload=bytes(msg.payload),
                mid=msg.mid,
                qos=msg.qos,
                redelivered=bool(msg.dup),
            )
        )

    def _handle_log(self, _client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        # paho reports why a socket failed (e.g. the broker's TLS alert) only in its log.
        if level == paho.MQTT_LOG_ERR:
            self._log_error = text
            log.debug("paho: %s", text)
