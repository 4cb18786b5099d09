"""The sync agent's link to the broker: the shared MQTT adapter with the appliance's errors.

Rules of this module:
- paho stays in `support.mqtt`; this module turns its `MqttError` into `SyncError` with the
  appliance's hints (its settings, its enrollment, the broker's ACL) and its callbacks into
  events on one queue, which the agent's loop reads (`LinkEvent`).
- MQTT v5 over TLS 1.2+ with the appliance's transport certificate; the client id is the
  device id. The session is persistent (clean start off, a session expiry interval: MQTT v5
  section 3.1.2.11.2), so acks and commands sent while the appliance is offline wait at the
  broker. The last will is the OFFLINE heartbeat (MQTT v5 section 3.1.3.2).
- paho's own reconnect is off: the agent reconnects with `backoff`, exponential and jittered,
  so that a province of appliances does not come back all at once after a broker restart.
- A refused connection says which: nothing listening, TLS failure (the broker's certificate,
  or ours refused), or not authorised; the subscription to the device's ack and command topics
  is part of connecting.
"""

from __future__ import annotations

import logging
import queue
import random
import threading

from edge.config import EdgeSettings
from edge.errors import SyncError
from protocol.topics import QOS, ack_topic, device_subscriptions, status_topic
from support.mqtt import MqttClient
from support.mqtt_types import (
    Incoming,
    LinkLost,
    MqttError,
    MqttFailure,
    Puback,
    Will,
)

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1.0
"""The first back-off; it doubles with every failure up to `reconnect_max_s`."""

LinkEvent = Incoming | Puback | LinkLost
"""What paho's network thread hands the agent: a message, a PUBACK, the link lost."""


class BrokerLink:
    """The appliance's MQTT connection, connected again by its owner after a loss.

    Args:
        settings: the appliance's settings (device_id, broker, transport identity, sync).
        will: the payload of the last will (the OFFLINE heartbeat), retained on `status`.

    Raises:
        ConfigError: the transport identity is not configured.
        SyncError: its files cannot be loaded.
    """

    def __init__(self, settings: EdgeSettings, will: bytes) -> None:
        self._settings = settings
        self._device = settings.device_id
        self._ack_topic = ack_topic(settings.device_id)
        self._failures = 0
        self.events: queue.Queue[LinkEvent] = queue.Queue()
        """Messages, PUBACKs and losses, in the order paho saw them."""
        identity = settings.tls_identity()
        self._client = MqttClient(
            host=settings.broker_host,
            port=settings.broker_port,
            identity=identity,
            client_id=settings.device_id,
            on_message=self.events.put,
            on_puback=self.events.put,
            on_link_lost=self.events.put,
            will=Will(status_topic(settings.device_id), will, retain=True),
            reconnect=False,  # the agent reconnects, with jitter
            clean_start=False,
            session_expiry_s=settings.session_expiry_s,
        )
        try:
            self._client.load_identity()
        except MqttError as e:
            raise SyncError(
                f"cannot load the transport identity (cert_file {identity.cert_file}, key_file "
                f"{identity.key_file}, ca_file {identity.ca_file}): {e}; enroll the appliance again"
            ) from e

    @property
    def where(self) -> str:
        """The broker, for messages: "the broker at host:port"."""
        return self._client.where

    def connect(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Connect, wait for the CONNACK, subscribe to the device's ack and command topics.

        Args:
            timeout: seconds for the socket, the CONNACK and the SUBACK each.
            stop: gives up waiting once set.

        Returns:
            Whether the broker resumed the device's session.

        Raises:
            SyncError: says which: unreachable, TLS, refused, or no answer.
        """
        where = self.where
        try:
            self._client.connect(timeout, stop)
        except MqttError as e:
            raise SyncError(self._connect_failure(e, timeout)) from e
        try:
            self._client.subscribe(device_subscriptions(self._device), QOS, timeout, stop)
        except MqttError as e:
            self._client.disconnect()
            if e.failure is MqttFailure.SUBSCRIBE_REFUSED:
                message = (
                    f"{where} refused the subscription to {self._ack_topic}: {e}; the broker's "
                    f"ACL must let device {self._device} read its ack and command topics"
                )
            elif e.failure is MqttFailure.LOST:
                message = f"{where} dropped the connection: {e}"
            elif e.failure is MqttFailure.CLIENT:
                message = f"cannot subscribe to {self._ack_topic}: {e}"
            else:
                message = f"{where} did not answer the subscription to {self._ack_topic}"
            raise SyncError(message) from e
        self._failures = 0
        return bool(self._client.session_present)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Queue one message at QoS 1; its PUBACK comes as an event.

        Returns:
            Its packet id, or None if paho could not take it (logged).
        """
        try:
            return self._client.publish(topic, payload, QOS, retain).mid
        except MqttError as e:
            log.error("cannot publish on %s: %s", topic, e)
            return None

    def disconnect(self) -> None:
        """Disconnect with reason 0 (the broker discards the last will) and stop paho's thread."""
        self._client.disconnect()

    def backoff(self) -> float:
        """The wait before the next attempt: exponential back-off with jitter, half the doubled
        delay plus up to as much again at random. Counts a failure; `connect` resets it."""
        ceiling = min(self._settings.reconnect_max_s, RECONNECT_MIN_S * 2.0**self._failures)
        self._failures = min(self._failures + 1, 30)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    def _connect_failure(self, e: MqttError, timeout: float) -> str:
        """What to tell the officer about a failed connection, and what to check."""
        where = self.where
        failure = e.failure
        if failure is MqttFailure.UNTRUSTED:
            return (
                f"TLS with {where} failed: its certificate is not trusted ({e}); check that "
                "ca_file is the provincial CA and that broker_host is a name or address the "
                "broker's certificate carries"
            )
        if failure is MqttFailure.TLS:
            return (
                f"TLS with {where} failed ({e}): check that broker_port is the broker's TLS port "
                "and that cert_file/key_file are this appliance's"
            )
        if failure is MqttFailure.NOTHING_LISTENS:
            return (
                f"{where} refused the connection (nothing listens there): check "
                "broker_host/broker_port and that the broker runs"
            )
        if failure is MqttFailure.UNREACHABLE:
            return f"cannot reach {where}: {e}; check the network and broker_host"
        if failure is MqttFailure.CLOSED:
            return (
                f"{where} closed the connection before accepting it ({e}): during TLS it "
                "refused this appliance's certificate (missing, not issued by the provincial "
                "CA, expired or revoked); check cert_file/key_file"
            )
        if failure is MqttFailure.NOT_AUTHORISED:
            return (
                f"{where} refused this appliance: {e}; the broker does not authorise the "
                f"identity in cert_file (device {self._device}): check that it is enrolled and "
                "not revoked"
            )
        if failure is MqttFailure.IDENTITY:
            return f"cannot load the transport identity: {e}; enroll the appliance again"
        return f"{where} did not answer within {timeout:.0f} s"
