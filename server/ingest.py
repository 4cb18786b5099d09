"""Ingest workers: take results from the broker, verify them, merge them, ack them.

Rules of this module:
- Each worker is one member of the shared subscription `$share/ingest/sohoa/v1/dev/+/result`
  (MQTT v5 section 4.8.2): N workers, in one process or many, split the load.
- Messages are handled on the worker's own thread, never on paho's network thread, so a slow
  verification never delays keep-alives. The queue between them is bounded: the broker is told
  not to send more than it holds (Receive Maximum), and when one sends more anyway the network
  thread waits for room (back-pressure) rather than dropping.
- The device's application ack is published only after the merge has committed; the broker's
  PUBACK for the incoming message only after that. A crash in between makes the broker or the
  device deliver again, which the idempotent merge turns into a DUPLICATE ack.
- Every result that cannot be read or trusted is answered with a REJECTED ack and a reason; a
  failure of our own (database, disk, no current CRL to check the signer against) is answered
  with nothing, so the device retries later.
- The long-term-validation copy (`server.ltv`) is made after the ack, on the LTV worker's
  thread, when ingest is idle: a result's ack never waits for the TSA or the copy (measured
  on 2 cores: verification ~19 ms per 3-page result, a B-LTA copy ~130 ms).
- A worker never dies on a message. Logs name devices and result ids, never a citizen's data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine

from protocol import topics
from protocol.encoding import decode, encode
from protocol.errors import DecodeError, TopicError
from protocol.messages import Ack, AckStatus, RejectReason, ResultMessage, sha256_hex
from server import repository
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.errors import IngestError, ServerError
from server.models import DeviceStatus
from server.mqtt import Incoming, MqttLink, TlsIdentity
from support.lifecycle import Service

if TYPE_CHECKING:
    from server.ltv import LtvWorker

log = logging.getLogger(__name__)

QUEUE_SIZE = 16
"""Messages a worker holds at once (and the Receive Maximum it announces to the broker)."""
BACKPRESSURE_S = 10.0
"""How long paho's network thread may wait for room in the queue (well under the keep-alive)."""
_POLL_S = 0.2


class VerdictLike(Protocol):
    """What ingest reads of a verification verdict (`server.verify.Verdict`)."""

    @property
    def valid(self) -> bool:
        """Whether the signature is valid and chains to a trust root."""

    @property
    def reason(self) -> str | None:
        """Why not (a `RejectReason` value), when not valid."""

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


class ResultVerifier(Protocol):
    """Checks a signed PDF (`server.verify.Verifier`)."""

    def verify(self, pdf: bytes, *, device_id: str) -> VerdictLike:
        """The verdict on `pdf`, sent by `device_id`."""


@dataclass(frozen=True)
class IngestStats:
    """How many messages a worker handled, by outcome.

    Attributes:
        accepted: results stored as new records.
        duplicates: results that were already stored.
        rejected: messages answered with a rejection.
        failed: messages left unanswered after an error of ours (the device retries).
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        """All messages taken off the queue."""
        return self.accepted + self.duplicates + self.rejected + self.failed


class _RejectError(Exception):
    """A result that is answered with a rejection (internal control flow)."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class IngestWorker(Service):
    """One ingest worker: an MQTT connection with the server's identity and a handling thread.

    Args:
        settings: broker address, TLS identity and data_dir (blob store).
        engine: the repository's engine (migrated).
        verifier: checks the signed PDFs.
        index: this worker's number in its process (part of its MQTT client id).
        queue_size: messages held at once; also the Receive Maximum announced to the broker.
        ltv: makes the long-term copies of the results this worker accepts (shared by the
            workers of a process; started and stopped with them); None: no copies.
    """

    def __init__(
        self,
        settings: ServerSettings,
        engine: Engine,
        verifier: ResultVerifier,
        *,
        index: int = 0,
        queue_size: int = QUEUE_SIZE,
        ltv: LtvWorker | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.verifier = verifier
        self.ltv = ltv
        self._ltv_started = False
        self.blobs = BlobStore(settings.data_dir)
        self.name = f"ingest-{index}"
        self._queue: queue.Queue[Incoming | None] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = IngestStats()
        self._stats_lock = threading.Lock()
        ca_file, cert_file, key_file = settings.mqtt_identity_files()
        host = socket.gethostname().replace(".", "-")[:20]
        self._link = MqttLink(
            host=settings.broker_host,
            port=settings.broker_port,
            identity=TlsIdentity(ca_file, cert_file, key_file),
            client_id=f"sohoa-ingest-{host}-{os.getpid()}-{index}",
            on_message=self._enqueue,
            receive_maximum=queue_size,
        )

    # --- life cycle ---

    def start(self, timeout: float = 10.0) -> None:
        """Connect to the broker, join the shared subscription and start handling messages.

        Raises:
            IngestError: the broker could not be reached or refused us; says what to check.
        """
        self._stopping.clear()
        if self.ltv is not None and not self._ltv_started:
            self.ltv.start()
            self._ltv_started = True
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        try:
            self._link.connect(timeout)
            self._link.subscribe(topics.shared_filter(topics.Kind.RESULT), qos=1, timeout=timeout)
        except IngestError:
            self.stop()
            raise
        log.info(
            "%s listening on %s:%s", self.name, self.settings.broker_host, self.settings.broker_port
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the message in hand, then disconnect. Queued, unacked messages are left to the
        broker and the devices to deliver again."""
        self._stopping.set()
        # Wake the thread now; if the queue is full it is busy and sees the flag after its message.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        # Unacked, they will come again; emptying the queue frees a network thread waiting on it.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._link.close()
        if self.ltv is not None and self._ltv_started:
            self._ltv_started = False
            self.ltv.stop()

    def stats(self) -> IngestStats:
        """What this worker has handled so far."""
        with self._stats_lock:
            return self._stats

    # --- threads ---

    def _enqueue(self, message: Incoming) -> None:
        # paho's network thread. A broker that honours our Receive Maximum never fills the queue;
        # Mosquitto 2.0.11 does not (measured: 187 in flight for a maximum of 16), so when it is
        # full we stop reading from the socket for a while: back-pressure through TCP. The
        # handling thread never waits for this thread, so the queue always drains.
        if self._stopping.is_set():
            return  # not acked: the broker or the device delivers it again
        if self.ltv is not None:
            self.ltv.ingest_busy()  # long-term copies wait while results come in
        try:
            self._queue.put(message, timeout=BACKPRESSURE_S)
        except queue.Full:
            # Free the broker's slot; the device retries because it gets no application ack.
            log.error("%s: queue still full, dropping a message on %s", self.name, message.topic)
            self._link.ack(message)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if message is None:
                continue
            if self.ltv is not None:
                self.ltv.ingest_busy()
            try:
                self._handle(message)
            except Exception:
                # A worker never dies on one message (the device will retry it).
                log.exception("%s: unexpected error on a message on %s", self.name, message.topic)
                self._count("failed")
                self._link.ack(message)

    # --- one message ---

    def _handle(self, message: Incoming) -> None:
        try:
            device_id = topics.parse(message.topic).device_id
        except TopicError:
            log.warning("%s: ignoring a message on foreign topic %s", self.name, message.topic)
            self._count("failed")
            self._link.ack(message)
            return
        try:
            ack = self._process(device_id, message.payload)
        except _RejectError as r:
            result_id = _claimed_result_id(message.payload)
            log.warning(
                "rejected result %s from device %s: %s (%s)",
                result_id,
                device_id,
                r.reason.value,
                r.detail,
            )
            ack = Ack(
                result_id=result_id, status=AckStatus.REJECTED, reason=r.reason, detail=r.detail
            )
            self._count("rejected")
        except ServerError as e:
            # Ours, not the device's: say nothing to it, so it sends the result again later.
            log.error("%s: cannot handle a result from device %s: %s", self.name, device_id, e)
            self._count("failed")
            self._link.ack(message)
            return
        else:
            self._count("accepted" if ack.status is AckStatus.ACCEPTED else "duplicates")
        self._link.publish(topics.ack_topic(device_id), encode(ack), qos=1)
        self._link.ack(message)
        if self.ltv is not None and ack.status is AckStatus.ACCEPTED and ack.record_id:
            self.ltv.submit(ack.record_id)

    def _process(self, device_id: str, payload: bytes) -> Ack:
        """Verify and merge one result; return the ack to send (after the commit).

        Raises:
            _RejectError: the result is refused, with the reason for the device.
            ServerError: the repository or the verifier failed (not the device's fault).
        """
        try:
            result = decode(payload)
        except DecodeError as e:
            raise _RejectError(_reason(e.reason), str(e)) from e
        if not isinstance(result, ResultMessage):
            raise _RejectError(RejectReason.SCHEMA, "an ack was sent on a result topic")
        if result.device_id != device_id:
            raise _RejectError(
                RejectReason.DEVICE_MISMATCH,
                f"the message names device {result.device_id} but came on {device_id}'s topic",
            )
        with session_scope(self.engine) as session:
            device = repository.get_device(session, device_id)
        if device is None:
            raise _RejectError(
                RejectReason.UNKNOWN_DEVICE,
                f"device {device_id} is not registered with the server: ask the province admin",
            )
        if device.status is DeviceStatus.REVOKED:
            raise _RejectError(RejectReason.REVOKED_DEVICE, f"device {device_id} has been revoked")

        verdict = self.verifier.verify(result.pdf, device_id=device_id)
        if verdict.reason == RejectReason.REVOCATION_UNKNOWN.value:
            # Our CRL is missing or stale: not the device's fault. No answer, so it retries.
            raise IngestError(f"cannot check the signer's revocation: {verdict.detail}")
        if not verdict.valid:
            raise _RejectError(_reason(verdict.reason, RejectReason.SIGNATURE), verdict.detail)
        if (verdict.signer_cert_sha256 or "").lower() != device.signing_cert_sha256:
            raise _RejectError(
                RejectReason.SIGNER_NOT_REGISTERED,
                f"the document was signed with a certificate not registered for {device_id}",
            )

        pdf_path = self.blobs.put(result.pdf)
        with session_scope(self.engine) as session:
            outcome = repository.merge_result(
                session,
                result_id=result.result_id,
                device_id=device_id,
                fields=result.fields,
                verdict=verdict,
                pdf_path=pdf_path,
                pdf_size=len(result.pdf),
            )
        if outcome.created:
            return Ack(
                result_id=result.result_id,
                status=AckStatus.ACCEPTED,
                detail="stored",
                record_id=outcome.record_id,
            )
        log.info("result %s from device %s was already stored", result.result_id, device_id)
        return Ack(
            result_id=result.result_id,
            status=AckStatus.DUPLICATE,
            detail="already stored",
            record_id=outcome.record_id,
        )

    def _count(self, outcome: str) -> None:
        with self._stats_lock:
            values = {
                "accepted": self._stats.accepted,
                "duplicates": self._stats.duplicates,
                "rejected": self._stats.rejected,
                "failed": self._stats.failed,
            }
            values[outcome] += 1
            self._stats = IngestStats(**values)


def start_workers(
    settings: ServerSettings, engine: Engine, verifier: ResultVerifier
) -> list[IngestWorker]:
    """Start `settings.ingest_workers` workers; if one cannot start, stop those already started.

    With `ltv` on and `crl_path` set, the workers share one LTV worker (`server.ltv`) that makes
    the long-term copies of what they accept.

    Raises:
        IngestError: a worker could not connect or subscribe.
        ConfigError: the LTV settings name a missing or unreadable certificate.
    """
    from server.ltv import ltv_worker_from_settings  # pyHanko: loaded only to ingest

    ltv = ltv_worker_from_settings(settings, engine)
    workers: list[IngestWorker] = []
    try:
        for index in range(settings.ingest_workers):
            worker = IngestWorker(settings, engine, verifier, index=index, ltv=ltv)
            worker.start()
            workers.append(worker)
    except ServerError:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: Sequence[IngestWorker]) -> None:
    """Stop every worker."""
    for worker in workers:
        worker.stop()


def _reason(value: str | None, default: RejectReason = RejectReason.SCHEMA) -> RejectReason:
    try:
        return RejectReason(value)
    except ValueError:
        return default


def _claimed_result_id(payload: bytes) -> str:
    """The result_id a rejected message claims, so the device can match the ack to it; for
    unreadable bytes, their own SHA-256. The claim is in the JSON header: the payload up to its
    first LF (`protocol.encoding`)."""
    try:
        obj = json.loads(payload.split(b"\n", 1)[0])
    except (UnicodeDecodeError, json.JSONDecodeError):
        return sha256_hex(payload)
    claimed = obj.get("result_id") if isinstance(obj, dict) else None
    if isinstance(claimed, str) and len(claimed) == 64:
        return claimed
    return sha256_hex(payload)
