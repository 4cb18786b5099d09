"""Turning a `Transmission` into messages on the sending side, and checking a reassembled
result on the receiving side: pure functions over bytes the caller has read.

On the device: load the PDF once per transmission (the outbox checks it against its id), then
publish what `build_messages` yields, in order. Chunks are sliced lazily, so only one chunk's
copy exists at a time beside the PDF.

On the server: when the receiver says `Assemble`, read the staged chunks back in index order
through a `Reassembly`, which checks their order and lengths and hashes the whole on the way
(never holding more than one chunk), then hand its `sha256()` to `Receiver.on_assembled`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from protocol.errors import ProtocolError
from protocol.messages import (
    ResultChunk,
    ResultManifest,
    ResultMessage,
    chunk_count,
    chunk_span,
    sha256_hex,
)
from protocol.sender import PartKind, Transmission


@dataclass(frozen=True)
class ResultSource:
    """What the device's outbox holds of one result.

    Attributes:
        device_id: this device.
        pdf: the signed PDF.
        fields: the fields the officer confirmed.
        created_at: when it was signed, ISO 8601 UTC.
        metadata: free-form facts about it (strings only, no personal data).
    """

    device_id: str
    pdf: bytes = field(repr=False)
    fields: Mapping[str, str | None]
    created_at: str
    metadata: Mapping[str, str] = field(default_factory=dict)


def build_messages(
    transmission: Transmission, source: ResultSource
) -> Iterator[ResultMessage | ResultManifest | ResultChunk]:
    """The messages of `transmission`, in the order to publish them.

    Raises:
        ProtocolError: `source.pdf` is not the result the transmission is about.
    """
    result_id = sha256_hex(source.pdf)
    if result_id != transmission.result_id:
        raise ProtocolError(
            f"the PDF given for result {transmission.result_id[:12]}… has another SHA-256 "
            f"({result_id[:12]}…): the stored file changed"
        )
    for part in transmission.parts:
        if part.kind is PartKind.WHOLE:
            yield ResultMessage(
                device_id=source.device_id,
                result_id=result_id,
                pdf=source.pdf,
                fields=source.fields,
                created_at=source.created_at,
                metadata=source.metadata,
            )
            continue
        chunk_size = transmission.chunk_size
        if chunk_size is None:
            raise ProtocolError("a chunked part in a transmission without a chunk size")
        if part.kind is PartKind.MANIFEST:
            yield ResultManifest(
                device_id=source.device_id,
                result_id=result_id,
                size=len(source.pdf),
                chunk_size=chunk_size,
                fields=source.fields,
                created_at=source.created_at,
                metadata=source.metadata,
                resume=part.resume,
            )
        else:
            assert part.index is not None
            yield ResultChunk.cut(source.device_id, result_id, source.pdf, chunk_size, part.index)


class ReassemblyError(ProtocolError):
    """Staged chunks were fed out of order or with the wrong length (a bug in the store)."""


class Reassembly:
    """Checks a chunked result while the caller reads its staged chunks back, in index order.

    Args:
        manifest: the staged manifest of the result.
    """

    def __init__(self, manifest: ResultManifest) -> None:
        self.manifest = manifest
        self._hash = hashlib.sha256()
        self._next = 0

    def add(self, index: int, data: bytes) -> None:
        """Feed chunk `index` (after chunk `index - 1`).

        Raises:
            ReassemblyError: not the next index, or not the length the geometry says.
        """
        m = self.manifest
        if index != self._next or index >= m.chunk_count:
            raise ReassemblyError(f"expected chunk {self._next} of {m.chunk_count}, got {index}")
        start, end = chunk_span(m.size, m.chunk_size, index)
        if len(data) != end - start:
            raise ReassemblyError(f"chunk {index} holds {len(data)} bytes, not {end - start}")
        self._hash.update(data)
        self._next += 1

    @property
    def complete(self) -> bool:
        """Whether every chunk has been fed."""
        return self._next == chunk_count(self.manifest.size, self.manifest.chunk_size)

    def sha256(self) -> str:
        """The SHA-256 hex of the whole file (for `Receiver.on_assembled`).

        Raises:
            ReassemblyError: chunks are still missing.
        """
        if not self.complete:
            raise ReassemblyError(
                f"only {self._next} of {self.manifest.chunk_count} chunks were fed"
            )
        return self._hash.hexdigest()
