"""Ingest workers: take results (whole, or manifest and chunks) and command replies from the
broker, drive `protocol.receiver` against the repository, verify and merge, and ack.

Rules of this module:
- Each worker is one member of the shared subscriptions `$share/<group>/sohoa/v1/dev/+/result`
  and `.../+/reply` (MQTT v5 section 4.8.2): N workers, in one process or many, split the load.
  `<group>` is the deployment's secret share name (`ServerSettings.ingest_share_group`), so a
  device cannot join the group and have results dealt to it (Mosquitto 2.0 grants every
  SUBSCRIBE and drops what the ACL then forbids it to read).
- Each worker keeps a persistent broker session under a stable client id, so results the
  broker deals to it while it is away (a restart, a redeploy) wait for it there.
- The state of a chunked transfer lives in the database (`server.repository.staging`), never
  in a worker: any worker finishes a transfer another started. Per message: decode it (or answer
  what cannot be decoded), then, in one transaction under the per-(device, result) lock, load
  the `TransferState`, run the receiver, and carry out its store effects; assembly reads the
  staged chunks back one at a time. Verification runs outside the lock; the merge takes the lock
  again so that nothing is staged for a result once it is merged.
- Before verifying, a worker takes the result (`server.claims`) and commits that: a copy that
  arrives meanwhile is never verified again (it is answered with the outcome if that comes
  within `COPY_WAIT_S`, else left to the first answer), and a copy of a refused result gets
  the same refusal at once. The verifier (`server.sandbox` in the
  server) runs each PDF in a process with CPU and memory limits: a PDF beyond them is refused
  `too_complex`, and its REJECTED ack, like every answer, is followed by the PUBACK, so the
  broker's session forgets it.
- The receiver's effects are carried out in one place, `IngestWorker._carry_out` (one `match`
  over `protocol.receiver.Effect`); the acks and merges it collects follow once the store
  writes before them are committed.
- The device's application ack is published only after what it answers is committed; the
  broker's PUBACK for the incoming message only after that. A crash in between makes the
  broker or the device deliver again, which the idempotent merge answers with DUPLICATE.
- What cannot be read or trusted is answered with a REJECTED ack and a reason; a failure of
  our own (database, disk, no current CRL to check the signer against) with nothing, so the
  device sends again later; an unforeseen error (a bug) on a result with a rejection, reason
  internal, so that no result can make a worker fail on it at every resend. A message that
  names no result is logged and dropped: there is nothing the device could match an answer to.
- Memory: a worker holds the messages the broker has in flight to it (its Receive Maximum,
  `ingest_queue_messages`: one by default; the rest wait at the broker, `server.consumer`), the
  message in hand, and while it verifies a chunked result that one result, reassembled.
- The long-term-validation copy (`server.ltv`) is made after the ack, on the LTV worker's
  thread, when ingest is idle: a result's ack never waits for the TSA or the copy.
- A worker never dies on a message. Logs name devices and result ids, never a citizen's data.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Protocol, assert_never

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from protocol import topics
from protocol.commands import CommandReply
from protocol.encoding import Message, decode, encode
from protocol.errors import DecodeError, TopicError
from protocol.messages import AckStatus, ResultChunk, ResultManifest, ResultMessage
from protocol.reasons import RejectReason
from protocol.receiver import (
    Assemble,
    DropStaged,
    Effect,
    Ignore,
    Merge,
    MergeRequest,
    Receiver,
    ReceiverLimits,
    SendAck,
    StageChunk,
    StageManifest,
    TransferState,
    result_id_of,
)
from protocol.signed_metadata import SignedMetadata, header_mismatch
from server.blobs import BlobStore
from server.claims import Stored, VerificationClaims
from server.config import ServerSettings
from server.consumer import MqttConsumer
from server.db import session_scope
from server.errors import IngestError, ServerError, VerificationError, where_it_failed
from server.models import Device, DeviceStatus, utc_now
from server.pdftext import TEXT_PENDING, TextLayerReader
from server.repository import (
    commands,
    device_certificates,
    devices,
    records,
    staging,
    verifications,
)
from support.mqtt_types import Incoming

if TYPE_CHECKING:
    from server.ltv import LtvWorker

log = logging.getLogger(__name__)

PACKET_HEADROOM = 1024 * 1024
"""Bytes allowed beyond the largest result for a message's header, topic and properties."""


class VerdictLike(Protocol):
    """What ingest reads of a verification verdict (`server.verdict.Verdict`)."""

    @property
    def valid(self) -> bool:
        """Whether the signature is valid and chains to a trust root."""

    @property
    def reason(self) -> RejectReason | None:
        """Why not, when not valid."""

    @property
    def detail(self) -> str:
        """A sentence a person can act on."""

    @property
    def signer_common_name(self) -> str | None:
        """The signing certificate's commonName."""

    @property
    def signer_cert_sha256(self) -> str | None:
        """SHA-256 hex of the signing certificate (DER)."""

    @property
    def signing_time(self) -> dt.datetime | None:
        """When the document was signed."""

    @property
    def signed(self) -> SignedMetadata | None:
        """What the signed PDF's XMP says (fields, pages, document id), when valid."""


class ResultVerifier(Protocol):
    """Checks a signed PDF (`server.verify.Verifier`)."""

    def verify(self, pdf: bytes, *, device_id: str) -> VerdictLike:
        """The verdict on `pdf`, sent by `device_id`.

        Raises:
            VerificationError: it could not be verified now, through no fault of the PDF.
        """


class IngestCounter(Enum):
    """What an ingest worker counts; each member's value names its field of `IngestStats`."""

    ACCEPTED = "accepted"
    DUPLICATES = "duplicates"
    REJECTED = "rejected"
    NEED_CHUNKS = "need_chunks"
    CHUNKS_STAGED = "chunks_staged"
    REPLIES = "replies"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True)
class IngestStats:
    """What a worker has done so far.

    Attributes:
        accepted: results stored as new records.
        duplicates: results that were already stored (answered again).
        rejected: results answered with a rejection.
        need_chunks: chunks asked for again (damaged, or missing at a resume).
        chunks_staged: chunks written to the staging tables.
        replies: command replies recorded.
        ignored: messages that needed no answer (late chunks, stray or unreadable messages
            naming no result).
        failed: messages left unanswered after an error of ours (the device sends again).
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    need_chunks: int = 0
    chunks_staged: int = 0
    replies: int = 0
    ignored: int = 0
    failed: int = 0

    @property
    def answered(self) -> int:
        """Results given a final answer (accepted, duplicate or rejected)."""
        return self.accepted + self.duplicates + self.rejected

    def bumped(self, counter: IngestCounter) -> IngestStats:
        """These stats with one more of `counter`."""
        return replace(self, **{counter.value: getattr(self, counter.value) + 1})

    def plus(self, other: IngestStats) -> IngestStats:
        """The sum of two workers' stats."""
        return IngestStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


_ACK_COUNTERS = {
    AckStatus.ACCEPTED: IngestCounter.ACCEPTED,
    AckStatus.DUPLICATE: IngestCounter.DUPLICATES,
    AckStatus.REJECTED: IngestCounter.REJECTED,
    AckStatus.NEED_CHUNKS: IngestCounter.NEED_CHUNKS,
}


@dataclass
class _FollowUp:
    """What a run of the receiver's effects leaves to do once its store writes are committed:
    the acks to publish and the results to verify and merge (with their bytes), in order."""

    acks: list[SendAck] = field(default_factory=list)
    merges: list[tuple[MergeRequest, bytes]] = field(default_factory=list)


class IngestWorker(MqttConsumer):
    """One ingest worker: a persistent MQTT session in the ingest share group and a thread that
    runs each message through `protocol.receiver`.

    Args:
        settings: broker address, TLS identity, share group, limits and data_dir (blob store).
        engine: the repository's engine (migrated).
        verifier: checks the signed PDFs.
        index: this worker's number in its process (its client id is stable per index).
        ltv: makes the long-term copies of the results this worker accepts (shared by the
            workers of a process; started and stopped with them); None: no copies.
        client_id: the MQTT client id (default `settings.ingest_client_id(index)`).
    """

    def __init__(
        self,
        settings: ServerSettings,
        engine: Engine,
        verifier: ResultVerifier,
        *,
        index: int = 0,
        ltv: LtvWorker | None = None,
        client_id: str | None = None,
    ) -> None:
        group = settings.ingest_share_group()
        super().__init__(
            settings,
            name=f"ingest-{index}",
            client_id=client_id or settings.ingest_client_id(index),
            subscriptions=topics.ingest_subscriptions(group),
            persistent=True,
            queue_messages=settings.ingest_queue_messages,
            queue_bytes=settings.ingest_queue_bytes,
            max_packet_bytes=settings.max_result_bytes + PACKET_HEADROOM,
        )
        self.engine = engine
        self.verifier = verifier
        self.ltv = ltv
        self._ltv_started = False
        self.blobs = BlobStore(settings.data_dir)
        self.text_reader = TextLayerReader(engine, self.blobs)
        self.receiver = Receiver(
            ReceiverLimits(
                max_result_bytes=settings.max_result_bytes,
                max_chunk_bytes=settings.max_chunk_bytes,
                max_staged_bytes_per_device=settings.max_staged_bytes_per_device,
                max_staged_bytes_total=settings.max_staged_bytes_total,
            )
        )
        self.claims = VerificationClaims(
            engine, holder=self.client_id, name=self.name, verify_wall_s=settings.verify_wall_s
        )
        self._stats = IngestStats()
        self._stats_lock = threading.Lock()

    # --- life cycle ---

    def start(self, timeout: float = 10.0) -> None:
        """Connect to the broker, join the shared subscriptions and start handling messages.

        Raises:
            IngestError: the broker could not be reached or refused us; says what to check.
        """
        if self.ltv is not None and not self._ltv_started:
            self.ltv.start()
            self._ltv_started = True
        self.claims.abandon()
        self.text_reader.start()
        super().start(timeout)

    def stop(self, timeout: float = 10.0, *, end_session: bool = False) -> None:
        """Finish the message in hand, then disconnect (see `MqttConsumer.stop`)."""
        super().stop(timeout, end_session=end_session)
        self.text_reader.stop()
        if self.ltv is not None and self._ltv_started:
            self._ltv_started = False
            self.ltv.stop()

    def stats(self) -> IngestStats:
        """What this worker has done so far."""
        with self._stats_lock:
            return self._stats

    # --- one message ---

    def handle(self, message: Incoming) -> None:
        """Route one message by its topic: results to the receiver, replies to the commands."""
        if self.ltv is not None:
            self.ltv.ingest_busy()  # long-term copies wait while results come in
        try:
            where = topics.parse(message.topic)
        except TopicError:
            log.warning("%s: ignoring a message on foreign topic %s", self.name, message.topic)
            self._count(IngestCounter.IGNORED)
            return
        try:
            if where.kind is topics.Kind.RESULT:
                self._on_result(where.device_id, message.payload)
            elif where.kind is topics.Kind.REPLY:
                self._on_reply(where.device_id, message.payload)
            else:
                self._count(IngestCounter.IGNORED)
        except ServerError as e:
            # Ours, not the device's: no answer, so it sends again later.
            log.error("%s: cannot handle a message of device %s: %s", self.name, where.device_id, e)
            self._count(IngestCounter.FAILED)
        except Exception as e:  # a worker never dies on a message
            # Not on a result (those are answered in `_on_result`): nothing to answer.
            log.error(
                "%s: unexpected %s on a message of device %s; dropped",
                self.name,
                where_it_failed(e),
                where.device_id,
            )
            self._count(IngestCounter.FAILED)

    def _on_result(self, device_id: str, payload: bytes) -> None:
        try:
            decoded = decode(payload)
        except DecodeError as e:
            self._apply(self.receiver.on_undecodable(device_id, e))
            return
        try:
            if isinstance(decoded, ResultMessage | ResultManifest | ResultChunk):
                self._transfer(device_id, decoded)
            else:
                self._apply(self.receiver.on_message(device_id, decoded, TransferState()))
        except ServerError:
            raise  # a failure of ours that passes (database, disk, CRL): the device sends again
        except Exception as e:  # one result must never stop the worker
            self._reject_on_failure(device_id, result_id_of(decoded), e)

    def _reject_on_failure(self, device_id: str, result_id: str | None, error: Exception) -> None:
        """Answer a result whose handling failed unforeseen (a bug of ours) with a rejection
        (reason internal): left unanswered, the device would send it again and again and the
        worker fail on it each time. Logged by kind and place only: an error's message may
        quote a citizen's data."""
        where = where_it_failed(error)
        if result_id is None:
            log.error("%s: unexpected %s on a message of device %s", self.name, where, device_id)
            self._count(IngestCounter.FAILED)
            return
        log.error(
            "%s: unexpected %s while handling result %s of device %s: rejecting it",
            self.name,
            where,
            result_id,
            device_id,
        )
        detail = (
            f"the server failed on this result ({type(error).__name__}) and refuses it rather "
            f"than fail again at every resend: tell the province admin (result {result_id[:12]}… "
            "in the server's log)"
        )
        try:
            with session_scope(self.engine) as session:
                stored = records.get_record_by_result(session, result_id)
            # The failure may have come after this device's result was merged: never reject it.
            record_id = stored.id if stored is not None and stored.device_id == device_id else None
            self._apply(self.receiver.on_error(device_id, result_id, detail, record_id))
        except Exception as again:  # the database or the broker is gone: it sends again
            log.error(
                "%s: cannot reject result %s either: %s",
                self.name,
                result_id,
                where_it_failed(again),
            )
            self._count(IngestCounter.FAILED)

    def _transfer(
        self, device_id: str, message: ResultMessage | ResultManifest | ResultChunk
    ) -> None:
        """Stage, assemble and answer under the per-result lock; then verify and merge."""
        try:
            with session_scope(self.engine) as session:
                staging.lock(session, device_id, message.result_id)
                state = staging.load_state(
                    session,
                    device_id,
                    message.result_id,
                    with_quota=not isinstance(message, ResultMessage),  # what stages counts
                )
                follow_up = self._carry_out(
                    self.receiver.on_message(device_id, message, state), session
                )
                session.commit()
        except SQLAlchemyError as e:
            raise IngestError(f"staging of result {message.result_id} failed: {e}") from e
        self._follow(follow_up)

    def _merge(self, request: MergeRequest, pdf: bytes) -> None:
        """Verify, check the signer, merge idempotently; then answer.

        Raises:
            IngestError: the signer's revocation cannot be checked now (our CRL), or the
                repository failed: no answer, the device sends again.
        """
        if not self._claim_verification(request):
            return
        try:
            self._verify_and_merge(request, pdf)
        except BaseException:
            self.claims.release(request)  # a copy is verified afresh
            raise

    def _verify_and_merge(self, request: MergeRequest, pdf: bytes) -> None:
        """`_merge` once the result is taken for verification."""
        device_id = request.device_id
        try:
            verdict = self.verifier.verify(pdf, device_id=device_id)
        except VerificationError as e:  # no verifier could run it (server.sandbox): ours
            raise IngestError(f"cannot verify result {request.result_id}: {e}") from e
        if verdict.reason is RejectReason.REVOCATION_UNKNOWN:
            raise IngestError(f"cannot check the signer's revocation: {verdict.detail}")
        with session_scope(self.engine) as session:
            device = devices.get_device(session, device_id)
        if device is None:  # removed between the gate and now (the gate answers copies)
            self.claims.release(request)
            detail = f"device {device_id} is not registered with the server"
            self._apply(self.receiver.on_refused(request, RejectReason.UNKNOWN_DEVICE, detail))
            return
        if device.status is DeviceStatus.REVOKED:  # revoked between the gate and now
            self.claims.release(request)
            detail = f"device {device_id} is revoked"
            self._apply(self.receiver.on_refused(request, RejectReason.REVOKED_DEVICE, detail))
            return
        if not verdict.valid:
            self._refuse(request, verdict.reason or RejectReason.SIGNATURE, verdict.detail)
            return
        if not self._registered_signer(device, verdict.signer_cert_sha256):
            detail = f"the document was signed with a certificate not registered for {device_id}"
            self._refuse(request, RejectReason.SIGNER_NOT_REGISTERED, detail)
            return
        # Only what was signed is stored: the XMP's fields, and the header must say the same.
        signed = verdict.signed or SignedMetadata()
        mismatch = header_mismatch(request.fields, signed, metadata=request.metadata)
        if mismatch is not None:
            # A refusal of the header, not of the bytes: not recorded for the copies, so the
            # same signed PDF sent again with its signed fields is judged afresh.
            self.claims.release(request)
            refused = RejectReason.FIELDS_MISMATCH
            self._apply(self.receiver.on_refused(request, refused, mismatch))
            return
        pdf_path = self.blobs.put(pdf)
        try:
            with session_scope(self.engine) as session:
                staging.lock(session, device_id, request.result_id)
                outcome = records.merge_result(
                    session,
                    result_id=request.result_id,
                    device_id=device_id,
                    fields=signed.stored_fields(),
                    verdict=verdict,
                    pdf_path=pdf_path,
                    pdf_size=len(pdf),
                    page_count=signed.pages,
                    document_id=signed.document_id,
                    procedure=request.metadata.get("procedure"),
                    ocr_text=TEXT_PENDING,  # read after the ack (TextLayerReader)
                    read_values=signed.read,
                )
        except SQLAlchemyError as e:
            raise IngestError(f"merge of result {request.result_id} failed: {e}") from e
        self.claims.release(request)  # its record answers the copies now
        if not outcome.created:
            log.info("result %s from device %s was already stored", request.result_id, device_id)
        self._apply(self.receiver.on_merged(request, outcome.record_id, outcome.created))
        if outcome.created:
            self.text_reader.submit(outcome.record_id, request.result_id)
        if self.ltv is not None and outcome.created:
            self.ltv.submit(outcome.record_id)

    # --- verification claims (server.claims) ---

    def _claim_verification(self, request: MergeRequest) -> bool:
        """Take the result for verification (`VerificationClaims.take`); False when it is
        answered already: stored meanwhile (DUPLICATE), refused before (the same refusal), or
        left to the answer of the worker that holds it."""
        match claim := self.claims.take(request):
            case verifications.Taken():
                return True
            case Stored(record_id=record_id):
                self._apply(self.receiver.on_merged(request, record_id, created=False))
            case verifications.Refused(reason=reason, detail=detail):
                self._apply(self.receiver.on_refused(request, reason, detail))
            case verifications.InProgress(since=since):
                log.info(
                    "%s: result %s of device %s is being verified since %s; that "
                    "verification answers it",
                    self.name,
                    request.result_id,
                    request.device_id,
                    since.isoformat(timespec="seconds"),
                )
                self._count(IngestCounter.IGNORED)
            case _:
                assert_never(claim)
        return False

    def _registered_signer(self, device: Device, sha256: str | None) -> bool:
        """Whether a result signed with certificate `sha256` may come from `device`: its
        registered signing certificate, or one its enrollment or a renewal issued it that has
        not expired (signed before a renewal, received after it)."""
        if sha256 is None:
            return False
        if sha256.lower() == device.signing_cert_sha256:
            return True
        with session_scope(self.engine) as session:
            return device_certificates.signs_for(session, device.device_id, sha256, utc_now())

    def _refuse(self, request: MergeRequest, reason: RejectReason, detail: str) -> None:
        """Record the refusal (so that copies get it at once), then answer it."""
        self.claims.refuse(request, reason, detail)
        self._apply(self.receiver.on_refused(request, reason, detail))

    def _apply(self, effects: Sequence[Effect]) -> None:
        """Carry out effects that come with no transaction of ours (an undecodable message, a
        message that starts no transfer, a merge or a refusal), then follow them up."""
        self._follow(self._carry_out(effects))

    def _carry_out(self, effects: Sequence[Effect], session: Session | None = None) -> _FollowUp:
        """Carry out the receiver's effects in order: the one place each kind is handled.

        Args:
            effects: what `self.receiver` asked for.
            session: the transaction of a transfer's message, under its per-result lock, for
                the store effects (the caller commits it, then calls `_follow`). Without one,
                dropping staged parts commits on its own, and other store effects are a bug.

        Returns:
            The acks and merges to carry out once the store writes are committed.

        Raises:
            IngestError: the receiver asked for something impossible here (a bug).
        """
        follow_up = _FollowUp()
        todo = collections.deque(effects)
        assembled: bytes | None = None
        while todo:
            match effect := todo.popleft():
                case StageManifest(manifest=manifest):
                    staging.stage_manifest(_store(session, effect), manifest)
                case StageChunk(chunk=chunk):
                    if staging.stage_chunk(_store(session, effect), chunk):
                        self._count(IngestCounter.CHUNKS_STAGED)
                case DropStaged(device_id=device_id, result_id=result_id, indexes=indexes):
                    if session is not None:
                        staging.drop(session, device_id, result_id, indexes)
                    else:
                        self._drop_now(device_id, result_id, indexes)
                case Assemble(manifest=manifest):
                    whole = staging.assemble(_store(session, effect), manifest)
                    if whole is None:
                        # A chunk is missing after all: stop here unanswered (keeping what was
                        # staged); the device's resume comes back for it.
                        self._count(IngestCounter.IGNORED)
                        break
                    assembled, sha256 = whole
                    todo.extendleft(reversed(self.receiver.on_assembled(manifest, sha256)))
                case Merge(request=request):
                    pdf = request.pdf if request.pdf is not None else assembled
                    if pdf is None:  # a receiver bug: merge without bytes
                        raise IngestError(f"no bytes to merge for {request.result_id}")
                    follow_up.merges.append((request, pdf))
                case SendAck():
                    follow_up.acks.append(effect)
                case Ignore(detail=detail, warn=warn):
                    log.log(logging.WARNING if warn else logging.DEBUG, "%s: %s", self.name, detail)
                    self._count(IngestCounter.IGNORED)
                case _:
                    assert_never(effect)
        return follow_up

    def _follow(self, follow_up: _FollowUp) -> None:
        """Publish the collected acks, then verify and merge the collected results."""
        self._send(follow_up.acks)
        for request, pdf in follow_up.merges:
            self._merge(request, pdf)

    def _drop_now(self, device_id: str, result_id: str, indexes: tuple[int, ...] | None) -> None:
        """Drop staged parts of an answered result in a transaction of their own."""
        try:
            with session_scope(self.engine) as session:
                staging.drop(session, device_id, result_id, indexes)
                session.commit()
        except SQLAlchemyError as e:
            # The answer still goes out: leftovers expire (`staging_expiry_s`).
            log.error("cannot drop the staged parts of result %s: %s", result_id, e)

    def _send(self, acks: Sequence[SendAck]) -> None:
        for effect in acks:
            ack = effect.ack
            if ack.status is AckStatus.REJECTED:
                log.warning(
                    "rejected result %s from device %s: %s (%s)",
                    ack.result_id,
                    effect.device_id,
                    ack.reason.value if ack.reason else "?",
                    ack.detail,
                )
            # Counted first: whoever sees the ack then sees it counted (tests read the stats
            # as soon as the last ack arrives).
            self._count(_ACK_COUNTERS[ack.status])
            self.publish(topics.ack_topic(effect.device_id), encode(ack))

    def _on_reply(self, device_id: str, payload: bytes) -> None:
        try:
            reply: Message = decode(payload)
        except DecodeError as e:
            log.warning("device %s sent an unreadable command reply: %s", device_id, e)
            self._count(IngestCounter.IGNORED)
            return
        if not isinstance(reply, CommandReply) or reply.device_id != device_id:
            log.warning(
                "device %s sent something else than its own reply on its reply topic", device_id
            )
            self._count(IngestCounter.IGNORED)
            return
        with session_scope(self.engine) as session:
            found = commands.record_reply(session, reply)
        if not found:
            log.warning("device %s replied to unknown command %s", device_id, reply.command_id)
            self._count(IngestCounter.IGNORED)
            return
        log.info(
            "device %s answered command %s: %s %s",
            device_id,
            reply.command_id,
            reply.status.value,
            reply.detail,
        )
        self._count(IngestCounter.REPLIES)

    def _count(self, counter: IngestCounter) -> None:
        with self._stats_lock:
            self._stats = self._stats.bumped(counter)


def _store(session: Session | None, effect: Effect) -> Session:
    """The transaction a store effect runs in; none means a receiver bug (store writes come only
    from a transfer's message)."""
    if session is None:
        raise IngestError(f"unexpected effect {type(effect).__name__} outside a transfer")
    return session
