"""The server's MQTT link: the shared adapter (`support.mqtt`) with the server's errors and logs.

Rules of this module:
- paho stays in `support.mqtt`; this module turns its `MqttError` into `IngestError` with the
  server's hints (its settings, the broker's ACL for the server identity).
- Acknowledgement is manual: a QoS 1 message is PUBACKed only when the caller says it is done
  with it, so until then it counts against the Receive Maximum the link announces (MQTT v5
  sections 3.1.2.11.3 and 4.9): the broker may not send more unacknowledged messages than
  that (section 3.3.4), and keeps the others for us. That is the only back-pressure: the
  caller's `on_message` runs on paho's network thread and must return at once, or our
  PINGREQs stop and the broker drops us after one and a half Keep Alive intervals (section
  3.1.2.10). Measured on Mosquitto 2.0.11 (`tests/server/test_ingest_flow.py`): a Receive
  Maximum of 1 is held exactly; a larger one only until the first PUBACK, after which each
  PUBACK lets two more messages through, so the unacknowledged count creeps up by one per
  PUBACK for as long as a backlog waits.
- A persistent link (`clean_start=False`, a Session Expiry Interval, MQTT v5 section 3.1.2.11.2)
  under a stable client id keeps its subscriptions and the messages dealt to it at the broker
  while it is away, and gets its unacknowledged messages again when it comes back. paho
  reconnects by itself and subscribes again.
- Callbacks run on paho's network thread: they hand messages over and never do work there,
  nor wait.
- `leave`/`join` unsubscribe and subscribe again without waiting for the broker, for the
  thread that handles messages: a member of a shared subscription that leaves is dealt no new
  message, but still gets those already dealt to it (sections 3.10.4 and 4.8.2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from server.errors import IngestError
from support.mqtt import MqttClient
from support.mqtt_types import (
    Incoming,
    LinkLost,
    MqttError,
    MqttFailure,
    Puback,
    TlsIdentity,
)

log = logging.getLogger(__name__)


class MqttLink:
    """One MQTT v5 connection over TLS, with manual acknowledgement of received messages.

    Args: those of `support.mqtt.MqttClient` the server sets (`receive_maximum` defaults to
    1 here); the link always acknowledges by hand (`ack`) and lets paho reconnect.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        identity: TlsIdentity,
        client_id: str,
        on_message: Callable[[Incoming], None],
        receive_maximum: int = 1,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        max_packet_bytes: int | None = None,
    ) -> None:
        self._identity = identity
        self.links_lost = 0
        """How many times the connection dropped (not by `close`) since this link was made."""
        self._client = MqttClient(
            host=host,
            port=port,
            identity=identity,
            client_id=client_id,
            on_message=on_message,
            on_puback=self._puback,
            on_link_lost=self._link_lost,
            manual_ack=True,
            reconnect=True,
            receive_maximum=receive_maximum,
            clean_start=clean_start,
            session_expiry_s=session_expiry_s,
            max_packet_bytes=max_packet_bytes,
        )

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return self._client.host

    @property
    def port(self) -> int:
        """The broker's TLS port."""
        return self._client.port

    @property
    def client_id(self) -> str:
        """The MQTT client id."""
        return self._client.client_id

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now."""
        return self._client.connected

    @property
    def session_present(self) -> bool | None:
        """Whether the broker resumed a session at the last connection (None before one)."""
        return self._client.session_present

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (TLS handshake, CONNECT/CONNACK) and start paho's network thread.

        Raises:
            IngestError: the broker is unreachable, refused our certificate or our CONNECT, or
                did not answer in time; says what to check.
        """
        where = self._client.where
        try:
            self._client.connect(timeout)
        except MqttError as e:
            failure = e.failure
            if failure is MqttFailure.IDENTITY:
                raise IngestError(
                    f"cannot load the server's MQTT TLS identity ({self._identity.cert_file}, "
                    f"{self._identity.key_file}) or CA ({self._identity.ca_file}): {e}"
                ) from e
            if failure in (MqttFailure.UNTRUSTED, MqttFailure.TLS):
                raise IngestError(
                    f"TLS with {where} failed: {e}; check that ca_file is the CA that issued "
                    "the broker's certificate and that broker_host is a name the certificate "
                    "carries"
                ) from e
            if failure in (MqttFailure.NOTHING_LISTENS, MqttFailure.UNREACHABLE):
                raise IngestError(
                    f"cannot reach {where}: {e}; check broker_host/broker_port and that the "
                    "broker runs"
                ) from e
            if failure is MqttFailure.NOT_AUTHORISED:
                reason = f"refused the connection: {e}"
            elif failure is MqttFailure.CLOSED:
                reason = f"closed the connection: {e}"
            else:
                reason = f"did not answer within {timeout:.0f} s"
            raise IngestError(
                f"{where} {reason}; check that broker_port is the broker's server listener (its "
                "devices' port refuses the server's certificate), that cert_file/key_file were "
                "issued to the server identity by the server-clients CA that listener trusts, "
                "and that the broker's ACL knows it"
            ) from e

    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe (and again after every reconnection).

        Raises:
            IngestError: the broker refused the subscription (ACL) or did not answer.
        """
        try:
            self._client.subscribe([topic_filter], qos, timeout)
        except MqttError as e:
            if e.failure is MqttFailure.SUBSCRIBE_REFUSED:
                raise IngestError(
                    f"the broker refused the subscription to {topic_filter}: {e}; check the "
                    "broker's ACL for the server identity"
                ) from e
            if e.failure is MqttFailure.CLIENT:
                raise IngestError(f"cannot subscribe to {topic_filter}: {e}") from e
            raise IngestError(
                f"the broker did not answer the subscription to {topic_filter}"
            ) from e

    def leave(self, topic_filters: Sequence[str]) -> None:
        """Unsubscribe from `topic_filters` without waiting (see the module's rules).

        Raises:
            IngestError: paho would not even send the UNSUBSCRIBE.
        """
        try:
            self._client.unsubscribe_nowait(topic_filters)
        except MqttError as e:
            raise IngestError(f"cannot unsubscribe from {', '.join(topic_filters)}: {e}") from e

    def join(self, topic_filters: Sequence[str], qos: int = 1) -> None:
        """Subscribe to `topic_filters` again without waiting for the SUBACK (they were
        granted before: `subscribe`).

        Raises:
            IngestError: paho would not even send the SUBSCRIBE.
        """
        try:
            self._client.subscribe_nowait(topic_filters, qos)
        except MqttError as e:
            raise IngestError(f"cannot subscribe to {', '.join(topic_filters)}: {e}") from e

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue a message for the broker and return at once.

        It never waits for the broker: the caller may be the thread that paho's network thread
        is waiting for. paho sends it (again after a reconnection) until the broker's PUBACK;
        a refusal by the broker (ACL) is logged.

        Raises:
            IngestError: paho would not even queue it.
        """
        try:
            queued = self._client.publish(topic, payload, qos)
        except MqttError as e:
            raise IngestError(f"cannot publish to {topic}: {e}") from e
        if queued.offline:
            log.warning("broker unreachable: a message to %s waits for the reconnection", topic)

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK (not from paho's network thread).

        Raises:
            IngestError: the broker did not take it in time, or refused it (ACL, size).
        """
        try:
            self._client.publish_and_wait(topic, payload, timeout)
        except MqttError as e:
            if e.failure is MqttFailure.NO_ANSWER:
                raise IngestError(
                    f"{self._client.where} did not take a message to {topic} within {timeout:.0f} s"
                ) from e
            if e.failure is MqttFailure.PUBLISH_REFUSED:
                raise IngestError(
                    f"the broker refused a message to {topic}: {e}; check its ACL for the "
                    "server identity"
                ) from e
            raise IngestError(f"cannot publish to {topic}: {e}") from e

    def ack(self, message: Incoming) -> None:
        """PUBACK `message`: the broker may forget it."""
        self._client.ack(message)

    def close(self, *, end_session: bool = False) -> None:
        """Disconnect and stop paho's network thread.

        Args:
            end_session: also end our session at the broker (Session Expiry Interval 0 in the
                DISCONNECT, MQTT v5 section 3.14.2.2.2): what it kept for us is dropped, and a
                shared subscription no longer deals messages to us.
        """
        self._client.disconnect(end_session=end_session)

    # --- adapter callbacks (paho's network thread) ---

    def _puback(self, puback: Puback) -> None:
        if puback.refused:
            log.error(
                "the broker refused our message %s: %s; check its ACL", puback.mid, puback.reason
            )

    def _link_lost(self, lost: LinkLost) -> None:
        self.links_lost += 1
        if lost.session_taken_over:
            log.error(
                "another client connected as %s and took over our session: two server "
                "processes share one client id; give each its own ingest_client_prefix",
                self.client_id,
            )
        elif lost.was_connected:
            log.warning("lost the broker %s:%s: %s", self.host, self.port, lost.reason)
