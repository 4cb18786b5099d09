"""The topic grammar of sync protocol v1, written once: builders, one matcher, and what travels
where.

    sohoa/v1/dev/{device_id}/result   device -> server: a result whole, or its manifest and chunks
    sohoa/v1/dev/{device_id}/ack      server -> device: the application ack (or need_chunks)
    sohoa/v1/dev/{device_id}/status   device -> server: heartbeat, retained; last will = offline
    sohoa/v1/dev/{device_id}/cmd      server -> device: ping, config, catalog, revoke
    sohoa/v1/dev/{device_id}/reply    device -> server: the reply to a command

Every message goes with QoS 1; only the heartbeat is retained. A chunked result's manifest and
chunks share the result topic, so one shared subscription (`$share/ingest/...`, MQTT v5 section
4.8.2) reaches them all, and from one device they reach the broker in the order they were sent
(MQTT v5 section 4.6); over a shared subscription different workers may still see them in any
order, which the receiver allows for.

The server's status watcher subscribes without `$share`: the broker sends a topic's retained
message when a new non-shared subscription is made (MQTT v5 section 3.3.1.3), which is how a
restarted server learns every device's last heartbeat at once.

A device_id is 1-64 characters of [A-Za-z0-9._-]: it is the certificate's commonName and the
broker's username, so it must never contain the MQTT wildcards `+`, `#`, the separator `/`
(MQTT v5 section 4.7) or a `$` (topics starting with `$` are the broker's own, section 4.7.2).
Names beginning with `sohoa` (in any case) are reserved for the province's own identities: the
server's MQTT identity `sohoa-server` has its own lines in the broker's ACL (read every device's
results, write every device's acks), so a device enrolled under that name would get them; the
ingest workers' client ids begin with `sohoa-ingest-` too. The grammar refuses them, so neither
provisioning, nor the server's registry, nor a topic accepts such a device.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from protocol.errors import TopicError
from protocol.schema import MessageType

PREFIX = "sohoa/v1/dev"
RESERVED_ID_PREFIX = "sohoa"
"""Device ids beginning with this (in any case) are reserved for the province's own identities
(the server's `sohoa-server`, the ingest workers' `sohoa-ingest-...`)."""
SERVER_IDENTITY = "sohoa-server"
"""The commonName of the server's MQTT client certificate unless a deployment picks another."""
DEVICE_ID_PATTERN = rf"(?!(?i:{RESERVED_ID_PREFIX}))[A-Za-z0-9._-]{{1,64}}"
INGEST_GROUP = "ingest"
QOS = 1
"""The QoS of every Sohoa message: at least once; the application ack makes it exactly once in
effect."""

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


class Kind(Enum):
    """The last level of a device topic."""

    RESULT = "result"
    ACK = "ack"
    STATUS = "status"
    CMD = "cmd"
    REPLY = "reply"


DEVICE_WRITES: tuple[Kind, ...] = (Kind.RESULT, Kind.STATUS, Kind.REPLY)
"""The kinds a device publishes on (its own topics only: the broker's ACL)."""
DEVICE_READS: tuple[Kind, ...] = (Kind.ACK, Kind.CMD)
"""The kinds a device subscribes to (its own topics only)."""
RETAINED: frozenset[Kind] = frozenset({Kind.STATUS})
"""The kinds published with the retain flag."""

CARRIES: Mapping[Kind, frozenset[MessageType]] = MappingProxyType(
    {
        Kind.RESULT: frozenset({MessageType.RESULT, MessageType.MANIFEST, MessageType.CHUNK}),
        Kind.ACK: frozenset({MessageType.ACK}),
        Kind.STATUS: frozenset({MessageType.STATUS}),
        Kind.CMD: frozenset({MessageType.CMD}),
        Kind.REPLY: frozenset({MessageType.REPLY}),
    }
)
"""Which message types may travel on each kind of topic; anything else there is refused."""

_KINDS = "|".join(k.value for k in Kind)
_TOPIC = re.compile(rf"{re.escape(PREFIX)}/(?P<device>{DEVICE_ID_PATTERN})/(?P<kind>{_KINDS})")


@dataclass(frozen=True)
class DeviceTopic:
    """A parsed device topic."""

    device_id: str
    kind: Kind


def validate_device_id(device_id: str) -> str:
    """Return `device_id` if it is valid in topics and certificates, else raise TopicError."""
    if not isinstance(device_id, str):
        raise TopicError(f"a device id must be a string, not {type(device_id).__name__}")
    if device_id[: len(RESERVED_ID_PREFIX)].lower() == RESERVED_ID_PREFIX:
        raise TopicError(
            f"device id {device_id!r:.80} is reserved: names beginning with "
            f"'{RESERVED_ID_PREFIX}' belong to the province's own services (the server's "
            f"identity is {SERVER_IDENTITY!r}); enroll the appliance under another name"
        )
    if not _DEVICE_ID.fullmatch(device_id):
        raise TopicError(
            f"invalid device id {device_id!r:.80}: use 1-64 letters, digits, '.', '_' or '-' "
            "(no MQTT wildcard '+' or '#', no '$', no '/')"
        )
    return device_id


def device_topic(device_id: str, kind: Kind) -> str:
    """The topic of `kind` for `device_id`."""
    return f"{PREFIX}/{validate_device_id(device_id)}/{kind.value}"


def result_topic(device_id: str) -> str:
    """Where a device publishes its results (whole, or manifest and chunks)."""
    return device_topic(device_id, Kind.RESULT)


def ack_topic(device_id: str) -> str:
    """Where the server publishes application acks for a device."""
    return device_topic(device_id, Kind.ACK)


def status_topic(device_id: str) -> str:
    """Where a device publishes its retained heartbeat (and its last will)."""
    return device_topic(device_id, Kind.STATUS)


def cmd_topic(device_id: str) -> str:
    """Where the server sends commands to a device."""
    return device_topic(device_id, Kind.CMD)


def reply_topic(device_id: str) -> str:
    """Where a device publishes its replies to commands."""
    return device_topic(device_id, Kind.REPLY)


def retained(kind: Kind) -> bool:
    """Whether messages of `kind` are published with the retain flag."""
    return kind in RETAINED


def all_devices_filter(kind: Kind) -> str:
    """A subscription filter matching `kind` for every device."""
    return f"{PREFIX}/+/{kind.value}"


def shared_filter(kind: Kind, group: str = INGEST_GROUP) -> str:
    """A shared subscription (MQTT v5 section 4.8.2) so that N workers split the load."""
    return f"$share/{group}/{all_devices_filter(kind)}"


def device_subscriptions(device_id: str) -> tuple[str, ...]:
    """The topics a device subscribes to: its acks and its commands."""
    return tuple(device_topic(device_id, kind) for kind in DEVICE_READS)


def ingest_subscriptions(group: str = INGEST_GROUP) -> tuple[str, ...]:
    """The shared subscriptions of the ingest workers: results and command replies."""
    return (shared_filter(Kind.RESULT, group), shared_filter(Kind.REPLY, group))


def parse(topic: str) -> DeviceTopic:
    """Parse a concrete device topic.

    Raises:
        TopicError: the topic is not of the v1 grammar.
    """
    m = _TOPIC.fullmatch(topic)
    if m is None:
        raise TopicError(f"not a Sohoa v1 device topic: {topic!r}")
    return DeviceTopic(device_id=m["device"], kind=Kind(m["kind"]))
