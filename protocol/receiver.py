"""The server side of a result's journey as a sans-IO state machine: what an ingest worker does
with each message on a device's result topic.

The state of a transfer lives in the caller's store (the repository and its staging tables),
never in this object, so that any worker can finish a transfer another started and a restarted
worker loses nothing. Per message, the caller:

1. decodes it (`encoding.decode`); if that fails, runs `on_undecodable`;
2. loads the `TransferState` of (device, result) — merged already? staged manifest and chunks?
   the device's standing and staged bytes — ideally under a per-result lock (PostgreSQL
   `SELECT ... FOR UPDATE`, SQLite `BEGIN IMMEDIATE`), so that two workers staging the last two
   chunks at once do not both miss the completion (if they do, the sender's resume asks again);
3. runs `on_message` and carries out the effects it returns, in order: `StageManifest`,
   `StageChunk`, `DropStaged` (store writes), `Assemble` (read the staged chunks back in order
   through `chunking.Reassembly`, then call `on_assembled`), `Merge` (verify, then merge
   idempotently keyed by result_id, then call `on_merged` after the commit, or `on_refused`),
   `SendAck` (publish on the device's ack topic, only after what came before is committed),
   `Ignore` (nothing to do; log it at debug level).

The rules, by what is known of the result when a message arrives:

    message          state                         effects
    any              device unknown / revoked      reject unknown_device / revoked_device
    any              names another device          reject device_mismatch (state untouched)
    result|manifest  merged from this device       [drop leftovers], ack duplicate
    chunk            merged from this device       [drop leftovers] or ignore (a late copy)
    any              over a size limit             reject size, before anything is staged
    result           -                             merge
    manifest         none staged, over the quota   assemble if every chunk is staged, else
                                                   ignore (nothing staged; the resume returns)
    manifest         all chunks staged             stage manifest if new, assemble
    manifest         chunks missing, resume        stage manifest if new, ack need_chunks
    manifest         chunks missing, no resume     stage manifest if new (the chunks follow)
    chunk            its bytes fail its sha256     ack need_chunks [index] (ask again)
    chunk            other geometry than manifest  ignore (a copy from an older transfer)
    chunk            new, over the quota           ignore (the resume asks for it later)
    chunk            -                             stage it; assemble if that completes it
    assembled        whole sha256 == result_id     merge
    assembled        whole sha256 differs          drop staged, reject hash
    merged           -                             drop staged, ack accepted or duplicate
    refused          -                             drop staged, reject with the reason
    undecodable      claims a result id            reject with the decode reason (version for
                                                   a newer schema); else ignore
    failed           (the caller's bug)            drop staged, reject internal (or, when
                                                   stored already, ack duplicate)

A manifest staged with another geometry (the sender restarted with another chunk size) is
replaced, and the chunks of the old geometry dropped. Staged parts of results that never
complete (a device that vanished, copies that arrive after a rejection) are the store's to
expire by age.

Quotas: what is staged counts against the device's quota and the server's global staging cap
(`ReceiverLimits`): every chunk by its bytes, every staged manifest as `STAGED_MANIFEST_BYTES`
(the most a manifest can weigh, whatever it carries). Beyond either, nothing more is staged and
nothing is answered: a sender within the rules comes back with its resume once its staged
transfers are merged (or expire), and one that is not gets no further. The caller loads the
figures under a per-device lock, so that workers staging for one device at once cannot both
take its last bytes.

Only the device that stored a result learns that it is stored (DUPLICATE, with its record id):
`TransferState.record_id` is that of a record merged from this device. A manifest or a result
naming another device's stored result is handled as a new one, and its signature then refuses
it as it would refuse any result not signed by this device: asking reveals nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from protocol.encoding import Message
from protocol.errors import DecodeError
from protocol.messages import (
    MAX_FIELDS_BYTES,
    MAX_RESULT_BYTES,
    Ack,
    AckStatus,
    ResultChunk,
    ResultManifest,
    ResultMessage,
)
from protocol.reasons import RejectReason

DEFAULT_MAX_CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_STAGED_BYTES_PER_DEVICE = 256 * 1024 * 1024
DEFAULT_MAX_STAGED_BYTES_TOTAL = 4 * 1024 * 1024 * 1024
STAGED_MANIFEST_BYTES = MAX_FIELDS_BYTES + 1024
"""What one staged manifest counts for in the quotas: the most a manifest can weigh (its fields
and metadata, plus ids and sizes). Real ones weigh 1-2 KB, so the quotas err on the safe side."""


class DeviceStanding(Enum):
    """What the server's registry says of the sending device."""

    ACTIVE = "active"
    UNKNOWN = "unknown"
    REVOKED = "revoked"


@dataclass(frozen=True)
class StagedChunk:
    """What the store remembers of one staged chunk (its bytes stay in the store).

    Attributes:
        index: the chunk's index.
        size: the whole result's size it was cut from.
        chunk_size: the chunk size it was cut with.
        sha256: its bytes' SHA-256 hex (checked before staging).
    """

    index: int
    size: int
    chunk_size: int
    sha256: str

    @property
    def geometry(self) -> tuple[int, int]:
        """(size, chunk_size) of the transfer it belongs to."""
        return self.size, self.chunk_size

    @classmethod
    def of(cls, chunk: ResultChunk) -> StagedChunk:
        """The staged record of `chunk`."""
        return cls(chunk.index, chunk.size, chunk.chunk_size, chunk.sha256)


@dataclass(frozen=True)
class TransferState:
    """What the caller's store knows of one result from one device, loaded before each message.

    Attributes:
        record_id: the repository record if the result is already merged from this device,
            else None (also when another device stored it: that is not this device's to know).
        manifest: the staged manifest, if any.
        chunks: the staged chunks by index.
        device: the sending device's standing in the registry.
        device_staged_bytes: the bytes staged for this device over all its transfers (chunks,
            and `STAGED_MANIFEST_BYTES` per staged manifest).
        staged_bytes_total: the same over every device (for the global staging cap).
    """

    record_id: str | None = None
    manifest: ResultManifest | None = None
    chunks: Mapping[int, StagedChunk] = field(default_factory=dict)
    device: DeviceStanding = DeviceStanding.ACTIVE
    device_staged_bytes: int = 0
    staged_bytes_total: int = 0

    @property
    def merged(self) -> bool:
        """Whether the result is already in the repository."""
        return self.record_id is not None

    @property
    def staged(self) -> bool:
        """Whether anything of this result is staged."""
        return self.manifest is not None or bool(self.chunks)


@dataclass(frozen=True)
class ReceiverLimits:
    """What a receiver accepts; anything larger is rejected with reason `size` before a byte of
    it is staged.

    Attributes:
        max_result_bytes: the largest result.
        max_chunk_bytes: the largest chunk size.
        max_staged_bytes_per_device: the most bytes staged for one device at once, manifests
            included (None: no limit); a chunk or a new manifest beyond it is not staged and
            the sender's resume asks again later.
        max_staged_bytes_total: the same over every device: the cap that protects the
            server's disk (None: no limit).
    """

    max_result_bytes: int = MAX_RESULT_BYTES
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES
    max_staged_bytes_per_device: int | None = DEFAULT_MAX_STAGED_BYTES_PER_DEVICE
    max_staged_bytes_total: int | None = DEFAULT_MAX_STAGED_BYTES_TOTAL


@dataclass(frozen=True)
class MergeRequest:
    """A result ready to verify and merge.

    Attributes:
        device_id: the device that sent it.
        result_id: its identity (SHA-256 hex of the PDF; for a chunked result, checked on the
            reassembled file already).
        size: the PDF's size.
        fields: the fields the officer confirmed.
        created_at: when it was signed.
        metadata: free-form facts about it.
        pdf: the PDF for a result sent whole; None for a chunked one (the caller reassembles
            the staged chunks, which `Assemble` already checked).
        staged: whether parts of it are staged (the caller drops them once it is answered).
    """

    device_id: str
    result_id: str
    size: int
    fields: Mapping[str, str | None]
    created_at: str
    metadata: Mapping[str, str]
    pdf: bytes | None = field(default=None, repr=False)
    staged: bool = False


@dataclass(frozen=True)
class StageManifest:
    """Store `manifest` as the staged manifest of its result (replacing any other), unless the
    result has been merged meanwhile (check in the same transaction: another worker may have
    merged it since the state was loaded)."""

    manifest: ResultManifest


@dataclass(frozen=True)
class StageChunk:
    """Store `chunk`'s bytes and `StagedChunk.of(chunk)` under its result and index (replacing
    any chunk staged there), unless the result has been merged meanwhile (as for
    `StageManifest`)."""

    chunk: ResultChunk


@dataclass(frozen=True)
class DropStaged:
    """Delete staged parts of a result: the chunks `indexes`, or with None the manifest and
    every chunk."""

    device_id: str
    result_id: str
    indexes: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Assemble:
    """Every chunk of `manifest` is staged: read them back in index order through a
    `chunking.Reassembly` and call `Receiver.on_assembled` with its SHA-256. If a chunk is
    missing or of another geometry than the manifest by then (another worker changed the
    staging since the state was loaded), stop here without an answer: the sender's resume
    comes back for it."""

    manifest: ResultManifest


@dataclass(frozen=True)
class Merge:
    """Verify the result (signature, signer) and merge it idempotently keyed by its result_id;
    after the commit call `Receiver.on_merged`, or `Receiver.on_refused` if verification
    refuses it. A failure of the server's own (database, disk) calls neither: the sender's
    retransmission brings the result again."""

    request: MergeRequest


@dataclass(frozen=True)
class SendAck:
    """Publish `encode(ack)` on `topics.ack_topic(device_id)`, after every store write that
    came before it in the list is committed."""

    device_id: str
    ack: Ack


@dataclass(frozen=True)
class Ignore:
    """Nothing to do and nobody to answer; `detail` says why (for a debug log, or with `warn`
    for a warning: something an operator should see, such as a device over its quota)."""

    detail: str
    warn: bool = False


Effect = StageManifest | StageChunk | DropStaged | Assemble | Merge | SendAck | Ignore
"""What the receiver asks its caller to do."""


def result_id_of(message: Message) -> str | None:
    """The result a message on a result topic is about (whose state the caller loads), or None
    for a message that is about no result."""
    if isinstance(message, ResultMessage | ResultManifest | ResultChunk | Ack):
        return message.result_id
    return None


class Receiver:
    """Decides what an ingest worker does with each message on a device's result topic.

    Args:
        limits: the sizes it accepts.
    """

    def __init__(self, limits: ReceiverLimits | None = None) -> None:
        self.limits = limits or ReceiverLimits()

    def on_message(self, device_id: str, message: Message, state: TransferState) -> list[Effect]:
        """The effects of `message`, which arrived on `device_id`'s result topic.

        Args:
            device_id: the device named by the topic (the broker vouches for it).
            message: the decoded message.
            state: what the store knows of (device_id, result_id_of(message)); an empty
                `TransferState()` for a message about no result.
        """
        if isinstance(message, Ack):
            return [
                self._reply(
                    device_id,
                    message.result_id,
                    RejectReason.SCHEMA,
                    "an ack was sent on a result topic",
                )
            ]
        if not isinstance(message, ResultMessage | ResultManifest | ResultChunk):
            return [Ignore(f"a {message.schema} message on a result topic")]
        refused = self._gate(device_id, message, state)
        if refused is not None:
            return refused
        if isinstance(message, ResultMessage):
            return [Merge(_request(message, message.pdf, state.staged))]
        if isinstance(message, ResultManifest):
            return self._manifest(message, state)
        return self._chunk(message, state)

    def on_undecodable(self, device_id: str, error: DecodeError) -> list[Effect]:
        """The effects of a message on `device_id`'s result topic that `decode` refused: a
        rejection with the error's reason if it names its result, else nothing to answer."""
        if error.result_id is None:
            return [Ignore(f"an unreadable message ({error.reason}) naming no result: {error}")]
        return [self._reply(device_id, error.result_id, error.reason, str(error))]

    def on_assembled(self, manifest: ResultManifest, sha256: str) -> list[Effect]:
        """The effects of reassembling `manifest`'s chunks into a file whose SHA-256 hex is
        `sha256`: merge it, or reject it (reason hash) if it is not the result it claims."""
        if sha256 == manifest.result_id:
            return [Merge(_request(manifest, None, staged=True))]
        return [
            DropStaged(manifest.device_id, manifest.result_id),
            self._reply(
                manifest.device_id,
                manifest.result_id,
                RejectReason.HASH,
                "the reassembled file's SHA-256 is not the result id: the appliance's stored "
                "file is damaged; capture and sign the document again",
            ),
        ]

    def on_merged(self, request: MergeRequest, record_id: str, created: bool) -> list[Effect]:
        """The effects of a committed merge: `created` False if the result was already there.

        Staging is dropped even when this merge did not come from it: a worker that read the
        store before the merge may have staged a chunk of the same result meanwhile (found by
        the lossy-link property test: a leftover chunk of a merged result)."""
        effects: list[Effect] = [DropStaged(request.device_id, request.result_id)]
        effects.append(
            SendAck(
                request.device_id,
                Ack(
                    result_id=request.result_id,
                    status=AckStatus.ACCEPTED if created else AckStatus.DUPLICATE,
                    detail="stored" if created else "already stored",
                    record_id=record_id,
                ),
            )
        )
        return effects

    def on_refused(self, request: MergeRequest, reason: RejectReason, detail: str) -> list[Effect]:
        """The effects of a verification that refused the result (signature, signer, ...)."""
        effects: list[Effect] = []
        if request.staged:
            effects.append(DropStaged(request.device_id, request.result_id))
        effects.append(self._reply(request.device_id, request.result_id, reason, detail))
        return effects

    def on_error(
        self, device_id: str, result_id: str, detail: str, record_id: str | None = None
    ) -> list[Effect]:
        """The effects of an unforeseen failure (a bug of the caller's) while handling a message
        about `result_id`: drop whatever is staged of it and reject it with reason internal, so
        that the caller goes on with the next message and the device stops sending this one;
        but if the device's result is stored already (`record_id`: the failure came after the
        merge), answer duplicate, never a rejection of a stored result."""
        if record_id is not None:
            return [
                DropStaged(device_id, result_id),
                SendAck(
                    device_id,
                    Ack(
                        result_id=result_id,
                        status=AckStatus.DUPLICATE,
                        detail="already stored",
                        record_id=record_id,
                    ),
                ),
            ]
        return [
            DropStaged(device_id, result_id),
            self._reply(device_id, result_id, RejectReason.INTERNAL, detail),
        ]

    # --- the rules ---

    def _gate(
        self,
        device_id: str,
        message: ResultMessage | ResultManifest | ResultChunk,
        state: TransferState,
    ) -> list[Effect] | None:
        """The checks every result message passes first; None when it may go on."""
        rid = message.result_id
        if message.device_id != device_id:
            return [
                self._reply(
                    device_id,
                    rid,
                    RejectReason.DEVICE_MISMATCH,
                    f"the message names device {message.device_id} but came on {device_id}'s topic",
                )
            ]
        if state.device is DeviceStanding.UNKNOWN:
            return [
                self._reply(
                    device_id,
                    rid,
                    RejectReason.UNKNOWN_DEVICE,
                    f"device {device_id} is not registered with the server: ask the province admin",
                )
            ]
        if state.device is DeviceStanding.REVOKED:
            return [
                self._reply(
                    device_id, rid, RejectReason.REVOKED_DEVICE, f"device {device_id} is revoked"
                )
            ]
        if state.merged:
            effects: list[Effect] = []
            if state.staged:
                effects.append(DropStaged(device_id, rid))
            if isinstance(message, ResultChunk):
                return effects or [Ignore(f"chunk {message.index} of a merged result")]
            effects.append(
                SendAck(
                    device_id,
                    Ack(
                        result_id=rid,
                        status=AckStatus.DUPLICATE,
                        detail="already stored",
                        record_id=state.record_id,
                    ),
                )
            )
            return effects
        size = message.size
        chunk_size = None if isinstance(message, ResultMessage) else message.chunk_size
        if size > self.limits.max_result_bytes or (
            chunk_size is not None and chunk_size > self.limits.max_chunk_bytes
        ):
            effects = [DropStaged(device_id, rid)] if state.staged else []
            limit = (
                f"results of at most {self.limits.max_result_bytes} bytes in chunks of at most "
                f"{self.limits.max_chunk_bytes}"
            )
            detail = (
                f"the result is {size} bytes"
                + (f" in chunks of {chunk_size}" if chunk_size is not None else "")
                + f"; this server takes {limit}"
            )
            return [*effects, self._reply(device_id, rid, RejectReason.SIZE, detail)]
        return None

    def _manifest(self, manifest: ResultManifest, state: TransferState) -> list[Effect]:
        effects: list[Effect] = []
        have = {i for i, c in state.chunks.items() if _fits(c, manifest)}
        missing = tuple(i for i in range(manifest.chunk_count) if i not in have)
        if state.manifest is None:
            # A new manifest adds to what is staged (a replaced one takes its place).
            over = self._over_quota(manifest.device_id, state, STAGED_MANIFEST_BYTES)
            if over is not None:
                # Its chunks all came first: assembling them frees the staging, so go on
                # without staging the manifest.
                return [Assemble(manifest)] if not missing else [Ignore(over, warn=True)]
        if state.manifest is None or not state.manifest.same_transfer(manifest):
            effects.append(StageManifest(manifest))
        stale = tuple(sorted(i for i, c in state.chunks.items() if not _fits(c, manifest)))
        if stale:
            effects.append(DropStaged(manifest.device_id, manifest.result_id, stale))
        if not missing:
            effects.append(Assemble(manifest))
        elif manifest.resume:
            effects.append(_need(manifest.device_id, manifest.result_id, missing, manifest))
        return effects

    def _chunk(self, chunk: ResultChunk, state: TransferState) -> list[Effect]:
        if not chunk.intact:
            return [
                SendAck(
                    chunk.device_id,
                    Ack(
                        result_id=chunk.result_id,
                        status=AckStatus.NEED_CHUNKS,
                        detail=f"chunk {chunk.index} arrived damaged (SHA-256 differs)",
                        missing=(chunk.index,),
                        chunk_size=chunk.chunk_size,
                    ),
                )
            ]
        manifest = state.manifest
        if manifest is not None and manifest.geometry != chunk.geometry:
            return [Ignore(f"chunk {chunk.index} of another geometry than the staged manifest")]
        staged = StagedChunk.of(chunk)
        effects: list[Effect] = []
        if state.chunks.get(chunk.index) != staged:
            over = self._over_quota(chunk.device_id, state, len(chunk.data))
            if over is not None:
                return [Ignore(over, warn=True)]
            effects.append(StageChunk(chunk))
        if manifest is not None:
            have = {i for i, c in state.chunks.items() if _fits(c, manifest)} | {chunk.index}
            if len(have) == manifest.chunk_count:
                effects.append(Assemble(manifest))
        return effects or [Ignore(f"chunk {chunk.index} is staged already")]

    def _over_quota(self, device_id: str, state: TransferState, adding: int) -> str | None:
        """Why staging `adding` more bytes for `device_id` would break a quota, or None."""
        quota = self.limits.max_staged_bytes_per_device
        if quota is not None and state.device_staged_bytes + adding > quota:
            return (
                f"device {device_id} has {state.device_staged_bytes} bytes staged, its quota is "
                f"{quota}: nothing more is staged for it until its transfers finish or expire; "
                "its resume comes back later"
            )
        cap = self.limits.max_staged_bytes_total
        if cap is not None and state.staged_bytes_total + adding > cap:
            return (
                f"the server's staging holds {state.staged_bytes_total} bytes, its cap is {cap} "
                f"(max_staged_bytes_total): nothing is staged for device {device_id} now; "
                "its resume comes back later"
            )
        return None

    @staticmethod
    def _reply(device_id: str, result_id: str, reason: RejectReason, detail: str) -> SendAck:
        return SendAck(
            device_id,
            Ack(result_id=result_id, status=AckStatus.REJECTED, reason=reason, detail=detail),
        )


def _fits(chunk: StagedChunk, manifest: ResultManifest) -> bool:
    return chunk.geometry == manifest.geometry and chunk.index < manifest.chunk_count


def _need(
    device_id: str, result_id: str, missing: Sequence[int], manifest: ResultManifest
) -> SendAck:
    return SendAck(
        device_id,
        Ack(
            result_id=result_id,
            status=AckStatus.NEED_CHUNKS,
            detail=f"{len(missing)} of {manifest.chunk_count} chunks missing",
            missing=tuple(missing),
            chunk_size=manifest.chunk_size,
        ),
    )


def _request(
    message: ResultMessage | ResultManifest, pdf: bytes | None, staged: bool
) -> MergeRequest:
    return MergeRequest(
        device_id=message.device_id,
        result_id=message.result_id,
        size=message.size,
        fields=message.fields,
        created_at=message.created_at,
        metadata=message.metadata,
        pdf=pdf,
        staged=staged,
    )
