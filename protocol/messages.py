"""Wire messages of sync protocol v1: small frozen types that validate themselves and carry their
schema. `encoding` turns them into bytes and back.

Identity of a result is the SHA-256 of its signed PDF (DESIGN.md): `ResultMessage` refuses to exist
with a `result_id` that does not match its bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from protocol.errors import DecodeError
from protocol.topics import validate_device_id

RESULT_SCHEMA = "sohoa.result/1"
ACK_SCHEMA = "sohoa.ack/1"

FIELD_KEYS: tuple[str, ...] = (
    "so_ky_hieu",
    "ngay_ban_hanh",
    "co_quan_ban_hanh",
    "loai_van_ban",
    "trich_yeu",
    "ho_ten",
    "cccd",
    "ngay_sinh",
    "nguoi_ky",
)
"""The field keys of DESIGN.md that a result carries, in the order they are written and shown."""

MAX_RESULT_BYTES = 32 * 1024 * 1024
"""The largest signed PDF a result may carry (a 30-page colour result is well below)."""


class AckStatus(Enum):
    """What the server did with a result."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class RejectReason(Enum):
    """Why a result was rejected; the device shows it and stops retrying that result."""

    SCHEMA = "schema"
    SIZE = "size"
    HASH = "hash"
    SIGNATURE = "signature"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    SIGNER_NOT_REGISTERED = "signer_not_registered"
    DEVICE_MISMATCH = "device_mismatch"


def sha256_hex(data: bytes) -> str:
    """The result identity of `data`: lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ResultMessage:
    """A signed result travelling from a device to the server in one message.

    Attributes:
        device_id: the sending device (must match the topic and the TLS identity).
        result_id: SHA-256 hex of `pdf`.
        pdf: the signed PDF's bytes.
        fields: the fields the officer confirmed (DESIGN.md keys), each a string or None.
        created_at: when the result was signed, ISO 8601 in UTC.
    """

    device_id: str
    result_id: str
    pdf: bytes = field(repr=False)
    fields: Mapping[str, str | None]
    created_at: str
    schema: str = RESULT_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != RESULT_SCHEMA:
            raise DecodeError(
                f"unsupported result schema {self.schema!r}; this side reads {RESULT_SCHEMA}",
                RejectReason.SCHEMA.value,
            )
        validate_device_id(self.device_id)
        if len(self.pdf) > MAX_RESULT_BYTES:
            raise DecodeError(
                f"result is {len(self.pdf)} bytes, over the {MAX_RESULT_BYTES} limit",
                RejectReason.SIZE.value,
            )
        if sha256_hex(self.pdf) != self.result_id:
            raise DecodeError(
                "result_id is not the SHA-256 of the PDF: the file changed in transit",
                RejectReason.HASH.value,
            )
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    @classmethod
    def for_pdf(
        cls, device_id: str, pdf: bytes, fields: Mapping[str, str | None], created_at: str
    ) -> ResultMessage:
        """Build a result message, computing its identity from the PDF."""
        return cls(
            device_id=device_id,
            result_id=sha256_hex(pdf),
            pdf=pdf,
            fields=fields,
            created_at=created_at,
        )


@dataclass(frozen=True)
class Ack:
    """The server's application ack: sent only after the result is committed (or rejected).

    Attributes:
        result_id: the result this answers.
        status: accepted, duplicate (already stored: a no-op) or rejected.
        reason: why it was rejected (None unless rejected).
        detail: a sentence a person can act on (no personal data).
        record_id: the repository record's id when accepted or duplicate.
    """

    result_id: str
    status: AckStatus
    reason: RejectReason | None = None
    detail: str = ""
    record_id: str | None = None
    schema: str = ACK_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != ACK_SCHEMA:
            raise DecodeError(
                f"unsupported ack schema {self.schema!r}; this side reads {ACK_SCHEMA}",
                RejectReason.SCHEMA.value,
            )
        if (self.status is AckStatus.REJECTED) != (self.reason is not None):
            raise DecodeError("a reason goes with a rejection, and only then", "schema")
