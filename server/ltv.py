"""Long-term validation at the centre: augment each accepted result's stored copy to PAdES B-LT
and, with a time-stamping authority, B-LTA (ETSI EN 319 142-1), beside the original bytes.

What a long-term copy is:
- the PDF exactly as the device sent it (an exact prefix: the device's signature still covers
  the same bytes), then
- an incremental update adding a DSS (ISO 32000-2 section 12.8.4.3) with the certificates of the
  signer's path and the CRLs in force (those at `crl_path`: the provincial CA's, and the TSA
  CA's when published there) — B-LT in the sense of "validation data embedded"; strictly, ETSI's
  B-LT builds on a signature timestamp (B-T), which an offline appliance cannot get: here the
  document timestamp below is the first proof of existence;
- with `tsa_url`: an RFC 3161 document timestamp over all of that, then a last DSS update with
  the TSA's own validation data — B-LTA. Renewing it before the TSA's certificate expires keeps
  the copy verifiable for decades (a later issue).

Rules of this module:
- The original blob is never touched; the copy is a second blob, named by its own SHA-256, and
  the record points at both (`Record.pdf_path`, `Record.ltv_pdf_path`).
- A copy is stored only after `Verifier.verify_centre_copy` accepted it: nothing but DSS and
  timestamp updates after the device's signature.
- The copy is made after the record is committed and acked, on the LTV worker's own thread:
  the device's ack never waits for the TSA, and a TSA or CRL outage leaves records pending
  (with the reason in `ltv_error`), retried every `ltv_retry_s`, never lost or rejected.
- `verify_long_term` checks a copy with nothing but the file and the roots — no CRL files, no
  network — as an auditor would in twenty years: the document timestamp proves when the file
  existed; the DSS proves the signer's certificate was valid and unrevoked then. (pyHanko's
  ETSI EN 319 102-1 validator, `ades_lta_validation`, refuses these copies with "No signature
  timestamp present": it wants B-T under B-LTA, which an offline appliance cannot give.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    add_validation_info,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from sqlalchemy import Engine

from server.blobs import BlobStore
from server.db import session_scope
from server.errors import ServerError, VerificationError
from server.models import LtvStatus, Record
from server.repository import records
from server.verify import Verifier, verifier_from_settings
from support.lifecycle import Service

if TYPE_CHECKING:
    from server.config import ServerSettings

log = logging.getLogger(__name__)

DIGEST = "sha256"
SWEEP_BATCH = 50
"""Pending records one sweep takes on (oldest first)."""
QUIET_S = 0.2
"""How long ingest must have been idle before the LTV worker makes a copy (acks come first)."""
MAX_DEFER_S = 5.0
"""The longest a copy waits for ingest to go quiet: under sustained load, one copy per this."""
FAILURES_BEFORE_PAUSE = 3
"""Failures in a row after which the worker pauses for `retry_s` (the TSA or CRL is out)."""


class LtvError(ServerError):
    """A long-term copy could not be made (no current CRL, the TSA did not answer, the copy did
    not verify); the record stays pending and is tried again."""


@dataclass(frozen=True)
class LtvCopy:
    """A long-term copy made by `LtvAugmenter.augment`.

    Attributes:
        pdf: the copy's bytes (the original is a prefix of them).
        status: B-LT or B-LTA.
        seconds: time spent per step: `dss`, `timestamp` (B-LTA only), `check`.
    """

    pdf: bytes
    status: LtvStatus
    seconds: Mapping[str, float]


class LtvAugmenter:
    """Makes long-term copies of verified result PDFs.

    Args:
        verifier: the trust roots, TSA roots and CRLs (a `Verifier` with revocation configured).
        tsa_url: the RFC 3161 TSA for B-LTA; None makes B-LT copies.
        tsa_timeout_s: how long one timestamp request may take.
    """

    def __init__(
        self, verifier: Verifier, *, tsa_url: str | None = None, tsa_timeout_s: float = 10.0
    ) -> None:
        if not verifier.checks_revocation:
            raise LtvError("long-term validation needs the CRLs: set crl_path (or turn ltv off)")
        self.verifier = verifier
        self.tsa_url = tsa_url
        # One timestamper for every document: it caches the dummy response pyHanko uses to
        # size the timestamp's placeholder, so each document costs one TSA request, not two.
        self._timestamper = (
            HTTPTimeStamper(tsa_url, timeout=tsa_timeout_s) if tsa_url is not None else None
        )

    @property
    def level(self) -> LtvStatus:
        """What the copies are: B-LTA with a TSA, else B-LT."""
        return LtvStatus.B_LTA if self._timestamper is not None else LtvStatus.B_LT

    def augment(self, pdf: bytes, *, device_id: str) -> LtvCopy:
        """Make the long-term copy of `pdf` (already accepted from `device_id`).

        Blocks (pyHanko runs its own event loop, the TSA is asked over HTTP): call it from a
        worker thread.

        Raises:
            LtvError: no current CRL, the TSA did not answer or refused, or the copy did not
                verify; says which, so the record can wait and be tried again.
        """
        seconds: dict[str, float] = {}
        crls = self.verifier.current_crls()
        if not crls.crls:
            raise LtvError(f"no CRL to embed: {'; '.join(crls.problems) or 'none configured'}")
        start = time.perf_counter()
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            signature = reader.embedded_signatures[0]
            out = add_validation_info(
                signature, self.verifier.signer_context(crls.crls), skip_timestamp=True
            )
        except Exception as e:
            # pyHanko raises its own errors and plain Python ones alike (path building, CRLs).
            raise LtvError(
                f"could not embed the validation data ({type(e).__name__}: {e}); check that "
                "the CRL at crl_path is current"
            ) from e
        seconds["dss"] = time.perf_counter() - start
        if self._timestamper is not None:
            start = time.perf_counter()
            out = self._timestamp(out, crls.crls)
            seconds["timestamp"] = time.perf_counter() - start
        copy = bytes(out.getvalue())
        start = time.perf_counter()
        try:
            check = self.verifier.verify_centre_copy(copy, original=pdf, device_id=device_id)
        except VerificationError as e:
            raise LtvError(str(e)) from e
        seconds["check"] = time.perf_counter() - start
        if not check.valid:
            raise LtvError(f"the long-term copy does not verify: {check.detail}")
        return LtvCopy(pdf=copy, status=self.level, seconds=seconds)

    def _timestamp(self, signed: io.BytesIO, crls: object) -> io.BytesIO:
        assert self._timestamper is not None
        writer = IncrementalPdfFileWriter(signed, strict=False)
        stamper = PdfTimeStamper(self._timestamper)
        try:
            out = stamper.timestamp_pdf(
                writer,
                DIGEST,
                validation_context=self.verifier.tsa_context(crls),  # type: ignore[arg-type]
            )
        except TimestampRequestError as e:
            cause = e.__cause__ or e
            raise LtvError(
                f"the TSA at {self.tsa_url} did not give a timestamp ({cause}); the record "
                "stays pending and is tried again"
            ) from e
        except Exception as e:
            raise LtvError(
                f"could not add the document timestamp ({type(e).__name__}: {e}); check that "
                "tsa_ca_file holds the root of the TSA's certificate"
            ) from e
        assert isinstance(out, io.BytesIO)
        return out


@dataclass
class LtvStats:
    """What an `LtvWorker` has done so far.

    Attributes:
        made: long-term copies stored.
        failed: attempts that failed (the records stay pending).
        seconds: total time per augmentation step over the copies made.
    """

    made: int = 0
    failed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


class LtvWorker(Service):
    """Makes the long-term copies of accepted records on its own thread.

    Ingest workers `submit` each record they accepted, after its ack. Records left pending (a
    restart, a TSA outage, a queue overflow) are picked up by a sweep at start and every
    `retry_s`. Several ingest workers share one LtvWorker: it runs while any of them runs
    (`start`/`stop` are counted).

    Copies are background work that shares the process (and its GIL) with ingest: before each
    one the worker waits until ingest has been idle for `QUIET_S` (ingest calls `ingest_busy`
    on every message), but never longer than `MAX_DEFER_S`. Measured on 2 cores: a burst of
    results is acked at the same rate with LTV on, and the copies follow in the gaps.

    Args:
        engine: the repository's engine.
        blobs: the blob store holding the originals (and receiving the copies).
        augmenter: makes the copies.
        retry_s: how often pending records are swept up (and how long to wait after a failure).
        queue_size: submitted records held at once; beyond, the sweep gets them.
    """

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        augmenter: LtvAugmenter,
        *,
        retry_s: float = 300.0,
        queue_size: int = 1024,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.augmenter = augmenter
        self.retry_s = retry_s
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._users = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = LtvStats()
        self._failing_until = 0.0
        self._failures_in_row = 0
        self._last_ingest = 0.0

    # --- life cycle ---

    def start(self) -> None:
        """Start the thread (if this is its first user)."""
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="ltv", daemon=True)
            self._thread.start()
        log.info("long-term validation on (%s)", self.augmenter.level.value)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the copy in hand and stop (when its last user stops). Safe to call twice."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users > 0 or self._thread is None:
                return
            thread, self._thread = self._thread, None
            self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        thread.join(timeout)
        while not self._queue.empty():
            self._queue.get_nowait()

    def submit(self, record_id: str) -> None:
        """Ask for the long-term copy of `record_id` (never blocks; see the sweep)."""
        try:
            self._queue.put_nowait(record_id)
        except queue.Full:
            log.warning("LTV queue full: record %s waits for the next sweep", record_id)

    def ingest_busy(self) -> None:
        """Note that ingest is handling a message now (copies wait for a quiet moment)."""
        self._last_ingest = time.monotonic()

    def stats(self) -> LtvStats:
        """What has been done so far (a copy)."""
        with self._lock:
            return LtvStats(self._stats.made, self._stats.failed, dict(self._stats.seconds))

    # --- work ---

    def augment_pending(self, limit: int = SWEEP_BATCH) -> int:
        """Make the copies of up to `limit` pending records (`repository.records.pending_ltv` order:
        records that failed before come last, so one that can never be copied does not hold
        the others back); stop after `FAILURES_BEFORE_PAUSE` failures in a row.

        Returns:
            How many copies were stored.
        """
        with session_scope(self.engine) as session:
            pending = list(records.pending_ltv(session, limit))
        made = 0
        for record in pending:
            self._wait_for_quiet()
            if self._stopping.is_set():
                break
            outcome = self.augment_record(record)
            if outcome is None and time.monotonic() < self._failing_until:
                break
            made += bool(outcome)
        return made

    def augment_record(self, record: Record) -> bool | None:
        """Make and store the long-term copy of one record.

        Returns:
            True if stored, False if the record was no longer pending, None if it failed (the
            reason is noted on the record, which stays pending).
        """
        try:
            original = self.blobs.read(record.result_id)
            copy = self.augmenter.augment(original, device_id=record.device_id)
            path = self.blobs.put(copy.pdf)
            with session_scope(self.engine) as session:
                stored = records.store_ltv_copy(
                    session, record.id, status=copy.status, pdf_path=path, size=len(copy.pdf)
                )
        except ServerError as e:
            log.warning("no long-term copy of record %s yet: %s", record.id, e)
            with self._lock:
                self._stats.failed += 1
            self._failures_in_row += 1
            if self._failures_in_row >= FAILURES_BEFORE_PAUSE:
                self._failures_in_row = 0
                self._failing_until = time.monotonic() + self.retry_s
            with contextlib.suppress(ServerError), session_scope(self.engine) as session:
                records.note_ltv_failure(session, record.id, str(e))
            return None
        self._failures_in_row = 0
        with self._lock:
            self._stats.made += stored
            for step, s in copy.seconds.items():
                self._stats.seconds[step] = self._stats.seconds.get(step, 0.0) + s
        if stored:
            log.info(
                "record %s: %s copy stored (%d bytes, %.0f ms)",
                record.id,
                copy.status.value,
                len(copy.pdf),
                1000 * sum(copy.seconds.values()),
            )
        return stored

    def _run(self) -> None:
        next_sweep = 0.0  # sweep first: records left pending by the last run
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_sweep:
                self._guarded(self.augment_pending)
                next_sweep = time.monotonic() + self.retry_s
                continue
            try:
                record_id = self._queue.get(timeout=max(0.05, next_sweep - now))
            except queue.Empty:
                continue
            if record_id is None or time.monotonic() < self._failing_until:
                continue  # left pending: the next sweep takes it
            self._guarded(lambda rid=record_id: self._augment_id(rid))

    def _wait_for_quiet(self) -> None:
        deadline = time.monotonic() + MAX_DEFER_S
        while (
            not self._stopping.is_set()
            and time.monotonic() - self._last_ingest < QUIET_S
            and time.monotonic() < deadline
        ):
            self._stopping.wait(0.05)

    def _augment_id(self, record_id: str) -> None:
        self._wait_for_quiet()
        with session_scope(self.engine) as session:
            record = records.get_record(session, record_id)
        if record is not None and record.ltv_status is LtvStatus.PENDING:
            self.augment_record(record)

    def _guarded(self, work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except Exception:
            # The LTV thread never dies: the records stay pending for the next sweep.
            log.exception("long-term validation failed unexpectedly")


# --- checking a copy, years later -----------------------------------------------------------------


@dataclass(frozen=True)
class LongTermVerdict:
    """What `verify_long_term` concluded about a long-term copy.

    Attributes:
        valid: True if the signature verifies from the file's own validation data.
        detail: one sentence a person can act on.
        signer_common_name: the signer certificate's commonName (a device_id), when readable.
        existed_at: when the file provably existed (its first trusted document timestamp),
            None for a B-LT copy.
        checked_at: the moment the signer's certificate was checked at: `existed_at`, or the
            validation time for a B-LT copy.
    """

    valid: bool
    detail: str
    signer_common_name: str | None = None
    existed_at: dt.datetime | None = None
    checked_at: dt.datetime | None = None


def verify_long_term(
    copy: bytes,
    *,
    trust_roots: Sequence[x509.Certificate],
    tsa_roots: Sequence[x509.Certificate] = (),
    at: dt.datetime | None = None,
) -> LongTermVerdict:
    """Check a long-term copy from the file alone (its DSS, its document timestamps) and roots.

    The timestamps are checked newest first, the newest at `at` and each older one at the time
    of the next (the archive chain); then the signer's certificate at the oldest timestamp's
    time, against the CRLs in the DSS, which must cover it (CRL required). Without a timestamp
    (B-LT), the certificate is checked at `at`: that only holds while the embedded CRL is
    current.

    Args:
        copy: the long-term copy.
        trust_roots: the provincial CA certificate(s).
        tsa_roots: the TSA's root(s) (default: `trust_roots`).
        at: the validation time (default: now).

    Returns:
        The verdict; never raises for bad input. Blocks: call it from a worker thread.
    """
    now = at or dt.datetime.now(dt.UTC)
    roots = [_asn1_cert(c) for c in trust_roots]
    ts_roots = [_asn1_cert(c) for c in (tsa_roots or trust_roots)]
    try:
        reader = PdfFileReader(io.BytesIO(copy), strict=False)
        signatures = reader.embedded_signatures
        if not signatures or signatures[0].sig_object_type == "/DocTimeStamp":
            return LongTermVerdict(False, "the file holds no document signature")
        signature, timestamps = signatures[0], signatures[1:]
        if any(t.sig_object_type != "/DocTimeStamp" for t in timestamps):
            return LongTermVerdict(False, "the file holds more than one document signature")
        dss = DocumentSecurityStore.read_dss(reader)
        moment = now
        for timestamp in reversed(timestamps):
            ts = validate_pdf_timestamp(timestamp, _dss_context(dss, ts_roots, moment, False))
            if not (ts.intact and ts.valid and ts.trusted):
                return LongTermVerdict(
                    False, f"the document timestamp of {ts.timestamp} does not verify"
                )
            moment = ts.timestamp
        existed_at = moment if timestamps else None
        status = validate_pdf_signature(signature, _dss_context(dss, roots, moment, True))
    except Exception as e:
        return LongTermVerdict(False, f"the file could not be checked ({type(e).__name__}: {e})")
    signer = status.signing_cert.subject.native.get("common_name")
    level = status.modification_level
    if not (status.intact and status.valid):
        detail = "the document was changed after it was signed"
    elif level is None or level > ModificationLevel.LTA_UPDATES or not status.docmdp_ok:
        detail = "the file was changed after signing beyond validation data and timestamps"
    elif not status.trusted:
        detail = (
            f"the signer's certificate does not verify at {moment.isoformat()} from the "
            "file's own certificates and CRLs"
        )
    else:
        return LongTermVerdict(True, "signature valid", signer, existed_at, moment)
    return LongTermVerdict(False, detail, signer, existed_at, moment)


def _dss_context(
    dss: DocumentSecurityStore,
    roots: list[asn1_x509.Certificate],
    moment: dt.datetime,
    crl_required: bool,
) -> ValidationContext:
    rule = (
        RevocationCheckingRule.CRL_REQUIRED
        if crl_required
        else RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
    )
    policy = CertRevTrustPolicy(
        RevocationCheckingPolicy(
            ee_certificate_rule=rule,
            intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
        )
    )
    return dss.as_validation_context(
        {
            "trust_roots": roots,
            "allow_fetching": False,
            "moment": moment,
            "revinfo_policy": policy,
        }
    )


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def ltv_worker_from_settings(settings: ServerSettings, engine: Engine) -> LtvWorker | None:
    """The LTV worker the settings describe, or None when `ltv` is off or `crl_path` unset.

    Raises:
        ConfigError: ca_file / tsa_ca_file is missing or not a certificate.
    """
    if not settings.ltv:
        return None
    if settings.crl_path is None:
        log.warning("ltv is on but crl_path is not set: no long-term copies are made")
        return None
    augmenter = LtvAugmenter(
        verifier_from_settings(settings),
        tsa_url=settings.tsa_url,
        tsa_timeout_s=settings.tsa_timeout_s,
    )
    return LtvWorker(engine, BlobStore(settings.data_dir), augmenter, retry_s=settings.ltv_retry_s)
