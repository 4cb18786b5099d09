"""Wire messages of a result's journey (sync protocol v1): small frozen types that validate
themselves and carry their schema. `encoding` turns them into bytes and back; `status` and
`commands` hold the heartbeat and the command messages.

A result travels either whole, as one `ResultMessage`, or as a `ResultManifest` plus numbered
`ResultChunk`s (DESIGN.md); the server answers each result with an `Ack`.

Identity of a result is the SHA-256 of its signed PDF (DESIGN.md): `ResultMessage` refuses to exist
with a `result_id` that does not match its bytes, and a chunked result's `result_id` is the
whole-file SHA-256 the receiver checks after reassembly. A chunk's own `sha256` is checked by the
receiver (not here), because a damaged chunk is something the protocol recovers from: the
receiver asks for it again.

Constructors raise `DecodeError` (with the reason a receiver answers with) for content that breaks
the rules, and `TopicError` for a device id that could not appear in a topic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from types import MappingProxyType

from protocol.errors import DecodeError
from protocol.jsonvalue import storable_text
from protocol.reasons import RejectReason
from protocol.schema import MessageType, schema_id
from protocol.topics import validate_device_id
from protocol.xmltext import xml_text_problem

RESULT_SCHEMA = schema_id(MessageType.RESULT)
ACK_SCHEMA = schema_id(MessageType.ACK)
MANIFEST_SCHEMA = schema_id(MessageType.MANIFEST)
CHUNK_SCHEMA = schema_id(MessageType.CHUNK)

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

EXTRA_FIELD_KEYS: tuple[str, ...] = ("cmnd", "gioi_tinh", "mau")
"""Keys beyond DESIGN.md's an appliance may also send: the legacy 9-digit ID (CMND), the
subject's sex as printed, and the template that matched (`mau`)."""

KNOWN_FIELD_KEYS: frozenset[str] = frozenset(FIELD_KEYS + EXTRA_FIELD_KEYS)
"""The only field keys a result or manifest may carry; any other key is refused (reason
`schema`): the server stores `FIELD_KEYS`, and a key nobody reads would only be bytes to keep."""

MAX_FIELDS_BYTES = 48 * 1024
"""The most bytes a result's fields and metadata may take together, as encoded (JSON, UTF-8):
the bulk of a result's or manifest's header (the rest is ids and sizes, under 1 KB), so this
caps the header too. A real result's fields take 1-2 KB; each value is also at most `MAX_TEXT`
characters, and this bounds their sum, so that a staged manifest stays small."""

MAX_RESULT_BYTES = 32 * 1024 * 1024
"""The largest signed PDF a result may carry (a 30-page colour result is well below)."""

MAX_CHUNK_COUNT = 4096
"""The most chunks one result may be cut into (bounds a manifest's and an ack's lists; at the
largest result size it means chunks of at least 8 KiB)."""

MAX_TEXT = 4096
"""The longest field value, metadata value or detail sentence, in characters."""

MAX_TIMESTAMP = 64
"""The longest date-time (`created_at`) a message may carry, in characters."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_META_KEY = re.compile(r"[a-z0-9_.-]{1,64}")


class AckStatus(Enum):
    """What the server did with a result."""

    ACCEPTED = "accepted"
    """Stored as a new record."""
    DUPLICATE = "duplicate"
    """Already stored: a no-op, answered again (DESIGN.md)."""
    REJECTED = "rejected"
    """Refused, with a `RejectReason`: the device shows it and stops sending that result."""
    NEED_CHUNKS = "need_chunks"
    """Not an answer yet: the receiver lacks the chunks listed in `Ack.missing` (a resume)."""


def sha256_hex(data: bytes) -> str:
    """The result identity of `data`: lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """Whether `value` is a lower-case hex SHA-256 (a result id or a chunk hash)."""
    return _SHA256.fullmatch(value) is not None


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks of `chunk_size` bytes a result of `size` bytes is cut into (the last may
    be shorter; an empty result has none)."""
    return -(-size // chunk_size)


def chunk_span(size: int, chunk_size: int, index: int) -> tuple[int, int]:
    """The byte range [start, end) of chunk `index` of a result of `size` bytes."""
    start = index * chunk_size
    return start, min(start + chunk_size, size)


def _schema_error(message: str, result_id: str | None = None) -> DecodeError:
    return DecodeError(message, RejectReason.SCHEMA, result_id=result_id)


def _check_result_id(result_id: str) -> None:
    if not isinstance(result_id, str) or not is_sha256_hex(result_id):
        raise _schema_error("result_id must be a lower-case hex SHA-256 (64 characters)")


def _check_geometry(size: int, chunk_size: int, result_id: str) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, chunk_size)):
        raise _schema_error("size and chunk_size must be integers", result_id)
    if size < 0 or chunk_size < 1:
        raise _schema_error(
            f"need size >= 0 and chunk_size >= 1 (got {size}, {chunk_size})", result_id
        )
    if size > MAX_RESULT_BYTES:
        raise DecodeError(
            f"result is {size} bytes, over the {MAX_RESULT_BYTES} limit",
            RejectReason.SIZE,
            result_id=result_id,
        )
    if chunk_count(size, chunk_size) > MAX_CHUNK_COUNT:
        raise DecodeError(
            f"{size} bytes in chunks of {chunk_size} make more than {MAX_CHUNK_COUNT} chunks: "
            "use larger chunks",
            RejectReason.SIZE,
            result_id=result_id,
        )


def _check_text(value: str, what: str, result_id: str | None) -> None:
    if len(value) > MAX_TEXT:
        raise _schema_error(f"{what} is longer than {MAX_TEXT} characters", result_id)
    problem = storable_text(value)  # what the repository could not store (item 5, issue 14)
    if problem is not None:
        raise _schema_error(f"{what} {problem}", result_id)


def _frozen_fields(fields: Mapping[str, str | None], result_id: str) -> Mapping[str, str | None]:
    if len(fields) > len(KNOWN_FIELD_KEYS):
        raise _schema_error(
            f"a result carries at most {len(KNOWN_FIELD_KEYS)} fields, this one {len(fields)}: "
            f"the known keys are {', '.join(FIELD_KEYS + EXTRA_FIELD_KEYS)}",
            result_id,
        )
    for key, value in fields.items():
        if not isinstance(key, str) or key not in KNOWN_FIELD_KEYS:
            raise _schema_error(
                f"unknown field {key!r:.70}: a result's fields are "
                f"{', '.join(FIELD_KEYS + EXTRA_FIELD_KEYS)}",
                result_id,
            )
        if value is not None:
            if not isinstance(value, str):
                raise _schema_error(f"field {key} must be a string or null", result_id)
            _check_text(value, f"field {key}", result_id)
            problem = xml_text_problem(value)  # fields are signed into the PDF's XMP (XML)
            if problem is not None:
                raise _schema_error(
                    f"field {key} {problem}: retype it without that character and sign again",
                    result_id,
                )
    return MappingProxyType(dict(fields))


def _check_header_size(
    fields: Mapping[str, str | None], metadata: Mapping[str, str], result_id: str
) -> None:
    """Refuse fields and metadata that together encode to more than `MAX_FIELDS_BYTES`."""
    try:
        text = json.dumps([dict(fields), dict(metadata)], ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise _schema_error(f"fields and metadata must map names to strings: {e}", result_id) from e
    # A lone surrogate is refused elsewhere; counted here, it must not crash the count.
    encoded = len(text.encode("utf-8", "surrogatepass"))
    if encoded > MAX_FIELDS_BYTES:
        raise DecodeError(
            f"the result's fields and metadata take {encoded} bytes, over the "
            f"{MAX_FIELDS_BYTES}-byte limit of a header: shorten them",
            RejectReason.SIZE,
            result_id=result_id,
        )


def _frozen_metadata(metadata: Mapping[str, str], result_id: str) -> Mapping[str, str]:
    for key, value in metadata.items():
        if not isinstance(key, str) or not _META_KEY.fullmatch(key):
            raise _schema_error(
                f"metadata key {key!r} must be 1-64 of a-z, 0-9, '_', '.', '-'", result_id
            )
        if not isinstance(value, str):
            raise _schema_error(f"metadata {key} must be a string", result_id)
        _check_text(value, f"metadata {key}", result_id)
    return MappingProxyType(dict(metadata))


def _check_timestamp(value: str, what: str, result_id: str | None = None) -> None:
    # fromisoformat takes any number of fractional digits: bound the length first (the
    # repository keeps a result's created_at in 64 characters).
    if isinstance(value, str) and len(value) > MAX_TIMESTAMP:
        raise _schema_error(
            f"{what} must be an ISO 8601 date-time of at most {MAX_TIMESTAMP} characters",
            result_id,
        )
    try:
        dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _schema_error(
            f"{what} must be an ISO 8601 date-time, got {value!r:.40}", result_id
        ) from None


def _check_schema(schema: str, expected: str, result_id: str | None) -> None:
    if schema != expected:
        raise _schema_error(
            f"unsupported schema {schema!r} for this message; this side reads {expected}",
            result_id,
        )


@dataclass(frozen=True)
class ResultMessage:
    """A signed result travelling from a device to the server in one message.

    Attributes:
        device_id: the sending device (must match the topic and the TLS identity).
        result_id: SHA-256 hex of `pdf`.
        pdf: the signed PDF's bytes.
        fields: the fields the officer confirmed (DESIGN.md keys), each a string or None.
        created_at: when the result was signed, ISO 8601 (UTC).
        metadata: free-form facts about the result (e.g. `pages`, `procedure`, `app_version`),
            strings only, never personal data.
    """

    device_id: str
    result_id: str
    pdf: bytes = field(repr=False)
    fields: Mapping[str, str | None]
    created_at: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    schema: str = RESULT_SCHEMA

    def __post_init__(self) -> None:
        _check_schema(self.schema, RESULT_SCHEMA, None)
        validate_device_id(self.device_id)
        _check_result_id(self.result_id)  # before any error that names it to the device
        if len(self.pdf) > MAX_RESULT_BYTES:
            raise DecodeError(
                f"result is {len(self.pdf)} bytes, over the {MAX_RESULT_BYTES} limit",
                RejectReason.SIZE,
                result_id=self.result_id,
            )
        if sha256_hex(self.pdf) != self.result_id:
            raise DecodeError(
                "result_id is not the SHA-256 of the PDF: the file changed in transit",
                RejectReason.HASH,
                result_id=self.result_id,
            )
        _check_timestamp(self.created_at, "created_at", self.result_id)
        object.__setattr__(self, "fields", _frozen_fields(self.fields, self.result_id))
        _check_header_size(self.fields, self.metadata, self.result_id)  # before a key is read
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata, self.result_id))

    @property
    def size(self) -> int:
        """The PDF's length in bytes."""
        return len(self.pdf)

    @classmethod
    def for_pdf(
        cls,
        device_id: str,
        pdf: bytes,
        fields: Mapping[str, str | None],
        created_at: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ResultMessage:
        """Build a result message, computing its identity from the PDF."""
        return cls(
            device_id=device_id,
            result_id=sha256_hex(pdf),
            pdf=pdf,
            fields=fields,
            created_at=created_at,
            metadata=metadata or {},
        )


@dataclass(frozen=True)
class ResultManifest:
    """The description of a result sent in chunks: what the receiver needs to stage the chunks,
    reassemble them, check the whole and merge it.

    Sent first, before the chunks, and again (with `resume` set) when the sender's wait for the
    application ack runs out or after a restart: then it also asks the receiver which chunks it
    lacks, and the receiver answers with `need_chunks` (or with the final ack if it has them all).

    Attributes:
        device_id: the sending device.
        result_id: the SHA-256 hex of the whole signed PDF (its identity).
        size: the whole PDF's length in bytes.
        chunk_size: the length of every chunk but the last.
        fields: the fields the officer confirmed, as in `ResultMessage`.
        created_at: when the result was signed, ISO 8601 (UTC).
        metadata: as in `ResultMessage`.
        resume: True when the sender asks which chunks are missing (a retransmission or a
            restart) rather than announcing chunks that follow.
    """

    device_id: str
    result_id: str
    size: int
    chunk_size: int
    fields: Mapping[str, str | None]
    created_at: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    resume: bool = False
    schema: str = MANIFEST_SCHEMA

    def __post_init__(self) -> None:
        _check_schema(self.schema, MANIFEST_SCHEMA, None)
        validate_device_id(self.device_id)
        _check_result_id(self.result_id)
        _check_geometry(self.size, self.chunk_size, self.result_id)
        _check_timestamp(self.created_at, "created_at", self.result_id)
        object.__setattr__(self, "fields", _frozen_fields(self.fields, self.result_id))
        _check_header_size(self.fields, self.metadata, self.result_id)  # before a key is read
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata, self.result_id))

    @property
    def chunk_count(self) -> int:
        """How many chunks the result is cut into."""
        return chunk_count(self.size, self.chunk_size)

    @property
    def geometry(self) -> tuple[int, int]:
        """(size, chunk_size): chunks of another geometry belong to another transfer."""
        return self.size, self.chunk_size

    def same_transfer(self, other: ResultManifest) -> bool:
        """Whether `other` describes the same transfer (equal but for `resume`)."""
        return self == other or (
            self.result_id == other.result_id
            and self.device_id == other.device_id
            and self.geometry == other.geometry
            and self.fields == other.fields
            and self.created_at == other.created_at
            and self.metadata == other.metadata
        )


@dataclass(frozen=True)
class ResultChunk:
    """Chunk `index` of a result sent in chunks: bytes [index * chunk_size, ...) of the PDF.

    It carries its transfer's geometry, so that a receiver can stage it before the manifest
    arrives (over a shared subscription, another worker may have the manifest), and its own
    SHA-256, which the receiver checks before staging (`intact`).

    Attributes:
        device_id: the sending device.
        result_id: the whole PDF's SHA-256 hex.
        size: the whole PDF's length in bytes.
        chunk_size: the length of every chunk but the last.
        index: which chunk, from 0.
        sha256: SHA-256 hex of `data` as the sender computed it.
        data: the chunk's bytes.
    """

    device_id: str
    result_id: str
    size: int
    chunk_size: int
    index: int
    sha256: str
    data: bytes = field(repr=False)
    schema: str = CHUNK_SCHEMA

    def __post_init__(self) -> None:
        _check_schema(self.schema, CHUNK_SCHEMA, None)
        validate_device_id(self.device_id)
        _check_result_id(self.result_id)
        _check_geometry(self.size, self.chunk_size, self.result_id)
        count = chunk_count(self.size, self.chunk_size)
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise _schema_error("a chunk's index must be an integer", self.result_id)
        if not 0 <= self.index < count:
            raise _schema_error(
                f"chunk index {self.index} is outside 0..{count - 1}", self.result_id
            )
        start, end = chunk_span(self.size, self.chunk_size, self.index)
        if len(self.data) != end - start:
            raise _schema_error(
                f"chunk {self.index} holds {len(self.data)} bytes, its geometry says {end - start}",
                self.result_id,
            )
        if not isinstance(self.sha256, str) or not is_sha256_hex(self.sha256):
            raise _schema_error("a chunk's sha256 must be lower-case hex", self.result_id)

    @property
    def geometry(self) -> tuple[int, int]:
        """(size, chunk_size) of the transfer this chunk belongs to."""
        return self.size, self.chunk_size

    @cached_property
    def intact(self) -> bool:
        """Whether `data` still has the SHA-256 the sender computed."""
        return sha256_hex(self.data) == self.sha256

    @classmethod
    def cut(
        cls, device_id: str, result_id: str, pdf: bytes, chunk_size: int, index: int
    ) -> ResultChunk:
        """Chunk `index` of `pdf` (whose SHA-256 hex is `result_id`)."""
        start, end = chunk_span(len(pdf), chunk_size, index)
        data = pdf[start:end]
        return cls(
            device_id=device_id,
            result_id=result_id,
            size=len(pdf),
            chunk_size=chunk_size,
            index=index,
            sha256=sha256_hex(data),
            data=data,
        )


@dataclass(frozen=True)
class Ack:
    """The server's application ack: sent only after the result is committed (or rejected), or,
    with status NEED_CHUNKS, to ask for the chunks it lacks.

    Attributes:
        result_id: the result this answers.
        status: accepted, duplicate (already stored: a no-op), rejected, or need_chunks.
        reason: why it was rejected (None unless rejected).
        detail: a sentence a person can act on (no personal data).
        record_id: the repository record's id when accepted or duplicate.
        missing: with NEED_CHUNKS, the indexes of the chunks the receiver lacks (ascending).
        chunk_size: with NEED_CHUNKS, the chunk size those indexes refer to (the sender ignores
            a request about another geometry than the one it sends).
    """

    result_id: str
    status: AckStatus
    reason: RejectReason | None = None
    detail: str = ""
    record_id: str | None = None
    missing: tuple[int, ...] = ()
    chunk_size: int | None = None
    schema: str = ACK_SCHEMA

    def __post_init__(self) -> None:
        _check_schema(self.schema, ACK_SCHEMA, None)
        _check_result_id(self.result_id)
        if (self.status is AckStatus.REJECTED) != (self.reason is not None):
            raise _schema_error("a reason goes with a rejection, and only then", self.result_id)
        need = self.status is AckStatus.NEED_CHUNKS
        if need != bool(self.missing) or need != (self.chunk_size is not None):
            raise _schema_error(
                "missing chunks and their chunk_size go with need_chunks, and only then",
                self.result_id,
            )
        object.__setattr__(self, "missing", tuple(self.missing))
        if self.chunk_size is not None and self.chunk_size < 1:
            raise _schema_error("chunk_size must be at least 1", self.result_id)
        if len(self.missing) > MAX_CHUNK_COUNT or any(
            not 0 <= i < MAX_CHUNK_COUNT for i in self.missing
        ):
            raise _schema_error(f"chunk indexes must be in 0..{MAX_CHUNK_COUNT - 1}")
        if any(a >= b for a, b in zip(self.missing, self.missing[1:], strict=False)):
            raise _schema_error("missing chunk indexes must be ascending, each once")
        if len(self.detail) > MAX_TEXT:
            # The detail is for a person; a long one is cut rather than refused.
            object.__setattr__(self, "detail", self.detail[: MAX_TEXT - 1] + "…")

    @property
    def final(self) -> bool:
        """Whether this ack ends the result (accepted, duplicate or rejected): the device records
        it in its outbox. A NEED_CHUNKS ack only asks for chunks."""
        return self.status is not AckStatus.NEED_CHUNKS
