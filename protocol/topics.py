"""The topic grammar of sync protocol v1, written once: builders and one matcher.

    sohoa/v1/dev/{device_id}/result   device -> server: a result (or its manifest and chunks)
    sohoa/v1/dev/{device_id}/ack      server -> device: the application ack
    sohoa/v1/dev/{device_id}/status   device -> server: heartbeat, retained; last will = offline
    sohoa/v1/dev/{device_id}/cmd      server -> device: config, catalog, revoke, ping

A device_id is 1-64 characters of [A-Za-z0-9._-]: it is the certificate's commonName and the
broker's username, so it must never contain the MQTT wildcards `+`, `#` or the separator `/`
(MQTT v5 section 4.7).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from protocol.errors import TopicError

PREFIX = "sohoa/v1/dev"
DEVICE_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
INGEST_GROUP = "ingest"

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


class Kind(Enum):
    """The last level of a device topic."""

    RESULT = "result"
    ACK = "ack"
    STATUS = "status"
    CMD = "cmd"


_KINDS = "|".join(k.value for k in Kind)
_TOPIC = re.compile(rf"{re.escape(PREFIX)}/(?P<device>{DEVICE_ID_PATTERN})/(?P<kind>{_KINDS})")


@dataclass(frozen=True)
class DeviceTopic:
    """A parsed device topic."""

    device_id: str
    kind: Kind


def validate_device_id(device_id: str) -> str:
    """Return `device_id` if it is valid in topics and certificates, else raise TopicError."""
    if not _DEVICE_ID.fullmatch(device_id):
        raise TopicError(
            f"invalid device id {device_id!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return device_id


def device_topic(device_id: str, kind: Kind) -> str:
    """The topic of `kind` for `device_id`."""
    return f"{PREFIX}/{validate_device_id(device_id)}/{kind.value}"


def result_topic(device_id: str) -> str:
    """Where a device publishes its results."""
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


def all_devices_filter(kind: Kind) -> str:
    """A subscription filter matching `kind` for every device."""
    return f"{PREFIX}/+/{kind.value}"


def shared_filter(kind: Kind, group: str = INGEST_GROUP) -> str:
    """A shared subscription (MQTT v5 section 4.8.2) so that N workers split the load."""
    return f"$share/{group}/{all_devices_filter(kind)}"


def parse(topic: str) -> DeviceTopic:
    """Parse a concrete device topic.

    Raises:
        TopicError: the topic is not of the v1 grammar.
    """
    m = _TOPIC.fullmatch(topic)
    if m is None:
        raise TopicError(f"not a Sohoa v1 device topic: {topic!r}")
    return DeviceTopic(device_id=m["device"], kind=Kind(m["kind"]))
