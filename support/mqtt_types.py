"""What the MQTT adapter (`support.mqtt`) takes and gives, free of paho: the TLS identity and the
last will it connects with, the messages, PUBACKs and losses it hands over, and its errors.

Modules that only read what the adapter hands over (the ingest worker, the sync agent) or only
configure it (settings) import these, not the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

NO_MATCHING_SUBSCRIBERS = 0x10
"""PUBACK reason "No matching subscribers" (MQTT v5 section 3.4.2.1): a success code, but no
one received the message."""


class MqttFailure(Enum):
    """What went wrong with the broker, for the caller to word with its own hints."""

    IDENTITY = "identity"
    """Our TLS identity (certificate, key, CA) cannot be loaded."""
    UNTRUSTED = "untrusted"
    """The broker's certificate does not verify against our CA, or not for its host name."""
    TLS = "tls"
    """Another TLS failure (wrong port, our certificate or key unusable)."""
    NOTHING_LISTENS = "nothing-listens"
    """The TCP connection was refused."""
    UNREACHABLE = "unreachable"
    """Another network error."""
    CLOSED = "closed"
    """The broker closed the connection before its CONNACK: during TLS it refused our
    certificate."""
    NOT_AUTHORISED = "not-authorised"
    """The broker's CONNACK refused the connection."""
    NO_ANSWER = "no-answer"
    """No CONNACK, SUBACK or PUBACK in time (or the caller's stop came first)."""
    LOST = "lost"
    """The connection dropped while we waited for the broker."""
    SUBSCRIBE_REFUSED = "subscribe-refused"
    """The SUBACK refused a subscription (the broker's ACL)."""
    PUBLISH_REFUSED = "publish-refused"
    """The PUBACK refused a message (the broker's ACL, its size)."""
    CLIENT = "client"
    """paho would not even take the request."""


class MqttError(Exception):
    """The broker or paho failed a request.

    Attributes:
        failure: what kind of failure.
        detail: what paho or the broker said.
    """

    def __init__(self, failure: MqttFailure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


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


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for us if we vanish (MQTT v5 section 3.1.3.2), QoS 1.

    Attributes:
        topic: where.
        payload: what.
        retain: whether the broker keeps it for later subscribers.
    """

    topic: str
    payload: bytes
    retain: bool = True


@dataclass(frozen=True)
class Incoming:
    """A message the broker delivered; with `manual_ack`, `ack` it once it is handled.

    Attributes:
        topic: the concrete topic it was published on.
        payload: its bytes.
        mid: the packet id to PUBACK (0 for QoS 0).
        qos: the QoS it was delivered with.
        redelivered: the broker sent it before without getting our PUBACK (the DUP flag, MQTT
            v5 section 3.3.1.1: after a reconnection, section 4.4).
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    redelivered: bool = False


@dataclass(frozen=True)
class Puback:
    """The broker's answer to one of our QoS 1 publishes.

    Attributes:
        mid: the packet id `publish` returned.
        code: the reason code (MQTT v5 section 3.4.2.1); 0x80 and above is a refusal.
        reason: the reason code's name.
    """

    mid: int
    code: int
    reason: str

    @property
    def refused(self) -> bool:
        """Whether the broker refused the message."""
        return self.code >= 0x80

    @property
    def no_subscribers(self) -> bool:
        """Whether the broker took it but no subscription matched (nobody got it)."""
        return self.code == NO_MATCHING_SUBSCRIBERS


@dataclass(frozen=True)
class LinkLost:
    """The connection dropped (not by our own `disconnect`).

    Attributes:
        reason: the disconnect reason code's name.
        error: why the socket failed, as paho's error log said (e.g. the broker's TLS alert),
            or None.
        was_connected: whether the connection had been accepted (CONNACK) before.
        session_taken_over: another client connected with our client id.
    """

    reason: str
    error: str | None
    was_connected: bool
    session_taken_over: bool

    @property
    def why(self) -> str:
        """The most telling of the two: paho's error, else the reason code."""
        return self.error or self.reason


@dataclass(frozen=True)
class Queued:
    """A message paho took for sending.

    Attributes:
        mid: its packet id (the key of its `Puback`).
        offline: there is no connection now; paho sends it after the reconnection.
    """

    mid: int
    offline: bool
