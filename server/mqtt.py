"""The server's one adapter to paho-mqtt: an MQTT v5 client over TLS with the server's identity.

Rules of this module:
- It is the only server module that imports paho; paho's types and errors stop here
  (`IngestError`, `Incoming`).
- Acknowledgement is manual: a QoS 1 message is PUBACKed only when the caller says it is done
  with it. The client announces a Receive Maximum (MQTT v5 section 3.1.2.11.3) so that the
  broker should not have more unfinished messages in flight to it than the caller can queue;
  Mosquitto 2.0.11 does not honour it, so the caller's `on_message` may block for room (which
  stops paho reading the socket: back-pressure through TCP) but must never drop a message.
- A persistent link (`clean_start=False`, a Session Expiry Interval, MQTT v5 section 3.1.2.11.2)
  under a stable client id keeps its subscriptions and the messages dealt to it at the broker
  while it is away, and gets its unacknowledged messages again when it comes back.
- Callbacks run on paho's network thread: they hand messages over and never do work there.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from server.errors import IngestError
from support.sockets import disable_nagle

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
_SESSION_TAKEN_OVER = 0x8E


@dataclass(frozen=True)
class Incoming:
    """A message the broker delivered; `ack` it once it is handled.

    Attributes:
        topic: the concrete topic it was published on.
        payload: its bytes.
        mid: the packet id to PUBACK (0 for QoS 0).
        qos: the QoS it was delivered with.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass(frozen=True)
class TlsIdentity:
    """The files of a TLS client identity.

    Attributes:
        ca_file: the CA certificate the broker's certificate must chain to.
        cert_file: our client certificate (its commonName is our MQTT username).
        key_file: its private key.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path


class MqttLink:
    """One MQTT v5 connection over TLS, with manual acknowledgement of received messages.

    Args:
        host: the broker's host name or address (checked against its certificate).
        port: the broker's TLS port.
        identity: our TLS client identity and the CA to trust.
        client_id: the MQTT client id (unique per connection).
        on_message: called on paho's network thread for each message; may block for a while
            (back-pressure) but does no work there.
        receive_maximum: how many unacked QoS 1 messages the broker may send us at once.
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
        receive_maximum: int = 16,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        max_packet_bytes: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self._identity = identity
        self._on_message = on_message
        self._receive_maximum = receive_maximum
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._max_packet_bytes = max_packet_bytes
        self._session_present: bool | None = None
        self._refused_mids: dict[int, ReasonCode] = {}
        self._subscriptions: list[str] = []
        self._lock = threading.Condition()
        self._connack: ReasonCode | None = None
        self._disconnect: str | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._connected = False
        self._closing = False
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now."""
        return self._connected

    @property
    def session_present(self) -> bool | None:
        """Whether the broker resumed a session at the last connection (None before one)."""
        return self._session_present

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (TLS handshake, CONNECT/CONNACK) and start paho's network thread.

        Raises:
            IngestError: the broker is unreachable, refused our certificate or our CONNECT, or
                did not answer in time; says what to check.
        """
        where = f"the broker at {self.host}:{self.port}"
        try:
            self._client.tls_set(
                ca_certs=str(self._identity.ca_file),
                certfile=str(self._identity.cert_file),
                keyfile=str(self._identity.key_file),
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ValueError) as e:
            raise IngestError(
                f"cannot load the server's MQTT TLS identity ({self._identity.cert_file}, "
                f"{self._identity.key_file}) or CA ({self._identity.ca_file}): {e}"
            ) from e
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = self._receive_maximum
        if self._session_expiry_s:
            props.SessionExpiryInterval = self._session_expiry_s
        if self._max_packet_bytes is not None:
            props.MaximumPacketSize = self._max_packet_bytes
        try:
            self._client.connect(
                self.host,
                self.port,
                keepalive=KEEPALIVE_S,
                clean_start=self._clean_start,
                properties=props,
            )
        except ssl.SSLError as e:
            raise IngestError(
                f"TLS with {where} failed: {e}; check that ca_file is the CA that issued the "
                "broker's certificate and that broker_host is a name the certificate carries"
            ) from e
        except OSError as e:
            raise IngestError(
                f"cannot reach {where}: {e}; check broker_host/broker_port and that the broker runs"
            ) from e
        self._client.loop_start()
        with self._lock:
            self._lock.wait_for(
                lambda: self._connack is not None or self._disconnect is not None, timeout
            )
            connack, gone = self._connack, self._disconnect
        if connack is not None and not connack.is_failure:
            return
        self.close()
        if connack is not None:
            reason = f"refused the connection: {connack}"
        elif gone is not None:
            reason = f"closed the connection: {gone}"
        else:
            reason = f"did not answer within {timeout:.0f} s"
        raise IngestError(
            f"{where} {reason}; check that cert_file/key_file were issued by the provincial CA "
            "to the server identity and that the broker's ACL knows it"
        )

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe (and again after every reconnection).

        Raises:
            IngestError: the broker refused the subscription (ACL) or did not answer.
        """
        self._subscriptions.append(topic_filter)
        result, mid = self._client.subscribe(topic_filter, options=SubscribeOptions(qos=qos))
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise IngestError(f"cannot subscribe to {topic_filter}: {paho.error_string(result)}")
        with self._lock:
            self._lock.wait_for(lambda: mid in self._subacks, timeout)
            codes = self._subacks.pop(mid, None)
        if codes is None:
            raise IngestError(f"the broker did not answer the subscription to {topic_filter}")
        refused = [c for c in codes if c.is_failure]
        if refused:
            raise IngestError(
                f"the broker refused the subscription to {topic_filter}: {refused[0]}; "
                "check the broker's ACL for the server identity"
            )

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue a message for the broker and return at once.

        It never waits for the broker: the caller may be the thread that paho's network thread
        is waiting for. paho sends it (again after a reconnection) until the broker's PUBACK;
        a refusal by the broker (ACL) is logged.

        Raises:
            IngestError: paho would not even queue it.
        """
        self._publish(topic, payload, qos)

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK (not from paho's network thread).

        Raises:
            IngestError: the broker did not take it in time, or refused it (ACL, size).
        """
        info = self._publish(topic, payload, 1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as e:
            raise IngestError(f"cannot publish to {topic}: {e}") from e
        if not info.is_published():
            raise IngestError(
                f"the broker at {self.host}:{self.port} did not take a message to {topic} "
                f"within {timeout:.0f} s"
            )
        with self._lock:
            refused = self._refused_mids.pop(info.mid, None)
        if refused is not None:
            raise IngestError(
                f"the broker refused a message to {topic}: {refused}; check its ACL for the "
                "server identity"
            )

    def _publish(self, topic: str, payload: bytes, qos: int) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise IngestError(f"cannot publish to {topic}: {paho.error_string(info.rc)}")
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            log.warning("broker unreachable: a message to %s waits for the reconnection", topic)
        return info

    def ack(self, message: Incoming) -> None:
        """PUBACK `message`: the broker may forget it."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def close(self, *, end_session: bool = False) -> None:
        """Disconnect and stop paho's network thread.

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

    # --- paho callbacks (network thread) ---

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
            log.warning(
                "broker %s:%s refused the connection: %s", self.host, self.port, reason_code
            )
            return
        no_delay(self._client)
        if not first:
            log.info("reconnected to the broker %s:%s", self.host, self.port)
            for topic_filter in self._subscriptions:
                self._client.subscribe(topic_filter, options=SubscribeOptions(qos=1))

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
            self._disconnect = str(reason_code)
            self._lock.notify_all()
        if self._closing:
            return
        if reason_code.value == _SESSION_TAKEN_OVER:
            log.error(
                "another client connected as %s and took over our session: two server "
                "processes share one client id; give each its own ingest_client_prefix",
                self.client_id,
            )
        elif was_connected:
            log.warning("lost the broker %s:%s: %s", self.host, self.port, reason_code)

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
                while len(self._refused_mids) > 1000:  # only publish_and_wait reads them
                    self._refused_mids.pop(next(iter(self._refused_mids)))
            log.error("the broker refused our message %s: %s; check its ACL", mid, reason_code)

    def _handle_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._on_message(
            Incoming(topic=msg.topic, payload=bytes(msg.payload), mid=msg.mid, qos=msg.qos)
        )


def no_delay(client: paho.Client) -> None:
    """Turn Nagle's algorithm off on the client's connection (see `support.sockets`)."""
    disable_nagle(client.socket())
