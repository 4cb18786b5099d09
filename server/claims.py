"""An ingest worker's verification claims: the transactions it runs around
`server.repository.verifications` to take a result before the slow verification, record a
refusal for the result's copies, and let a claim go.

Rules of this module:
- Each call is a transaction of its own, committed before it returns, under the result's
  `staging.lock`: a claim must be visible to the other workers before the slow step starts.
- It answers no device: `VerificationClaims.take` says what it found and the worker answers
  (`server.ingest`). Recording a refusal, letting a claim go and abandoning old claims log a
  failure of the database and go on: the answer goes out all the same, and a claim nobody lets
  go turns stale and is taken again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from protocol.reasons import RejectReason
from protocol.receiver import MergeRequest
from server.db import session_scope
from server.errors import IngestError
from server.models import utc_now
from server.repository import staging, verifications

log = logging.getLogger(__name__)

VERIFY_ATTEMPTS = 3
"""A result taken for verification this many times without a verdict (its verifier or worker
died each time) is refused (`too_complex`) rather than taken again."""
COPY_WAIT_S = 1.0
"""How long a copy of a result another worker is verifying waits for that verification's
outcome, to be answered with it (DUPLICATE, or the same refusal): about what an ordinary result
takes. A copy of one that takes longer (a result at the verifiers' limits) is left to the first
answer: copies must not hold the workers."""
COPY_POLL_S = 0.05
CLAIM_MARGIN_S = 30.0
"""A verification claim is stale this long after a verification's own time limit
(`ServerSettings.verify_wall_s`): the time to wait for a free verifier process."""


@dataclass(frozen=True)
class Stored:
    """The result is stored already: its record answers it (DUPLICATE)."""

    record_id: str


class VerificationClaims:
    """One ingest worker's claims on the results it verifies.

    Args:
        engine: the repository's engine.
        holder: the worker's stable MQTT client id, recorded as the holder of its claims.
        name: the worker's name, for the log.
        verify_wall_s: a verification's own time limit (`ServerSettings.verify_wall_s`); a
            claim held `CLAIM_MARGIN_S` longer is stale.
    """

    def __init__(self, engine: Engine, *, holder: str, name: str, verify_wall_s: float) -> None:
        self.engine = engine
        self.holder = holder
        self.name = name
        self.stale_after_s = verify_wall_s + CLAIM_MARGIN_S

    def take(self, request: MergeRequest) -> verifications.Claim | Stored:
        """Take the result for verification, committed before the slow step; unless it is
        stored or refused already, or in another worker's hands: then its outcome is awaited
        for `COPY_WAIT_S` at most.

        Returns:
            `Taken`: the caller verifies it now; `Stored`: its record answers it (DUPLICATE);
            `Refused`: refused before, the same refusal answers it; `InProgress`: still in
            another worker's hands after `COPY_WAIT_S`, that worker's answer answers it.

        Raises:
            IngestError: the repository failed (no answer: the device sends again).
        """
        deadline = time.monotonic() + COPY_WAIT_S
        while True:
            try:
                with session_scope(self.engine) as session:
                    staging.lock(session, request.device_id, request.result_id)
                    record_id = staging.record_id_of(session, request.result_id, request.device_id)
                    found: verifications.Claim | Stored
                    if record_id is not None:
                        found = Stored(record_id)
                    else:
                        found = verifications.claim(
                            session,
                            request.device_id,
                            request.result_id,
                            now=utc_now(),
                            stale_after_s=self.stale_after_s,
                            max_attempts=VERIFY_ATTEMPTS,
                            holder=self.holder,
                        )
                    session.commit()
            except SQLAlchemyError as e:
                raise IngestError(f"cannot take result {request.result_id}: {e}") from e
            if isinstance(found, verifications.InProgress) and time.monotonic() < deadline:
                time.sleep(COPY_POLL_S)
                continue
            return found

    def refuse(self, request: MergeRequest, reason: RejectReason, detail: str) -> None:
        """Record the result's refusal, so that its copies get it at once."""
        try:
            with session_scope(self.engine) as session:
                staging.lock(session, request.device_id, request.result_id)
                verifications.refuse(
                    session, request.device_id, request.result_id, reason, detail, now=utc_now()
                )
                session.commit()
        except SQLAlchemyError as e:  # the answer goes out all the same
            log.error("cannot record the refusal of result %s: %s", request.result_id, e)

    def release(self, request: MergeRequest) -> None:
        """Forget the result's verification claim (merged, or not verifiable for now)."""
        try:
            with session_scope(self.engine) as session:
                staging.lock(session, request.device_id, request.result_id)
                verifications.release(session, request.device_id, request.result_id)
                session.commit()
        except SQLAlchemyError as e:  # the claim goes stale and is taken again
            log.error("cannot release the claim on result %s: %s", request.result_id, e)

    def abandon(self) -> None:
        """Before the broker hands back what the worker had in hand when it was stopped or
        killed: the verifications it held are stale, so their copies are taken at once."""
        try:
            with session_scope(self.engine) as session:
                gone = verifications.abandon(session, self.holder)
                session.commit()
        except SQLAlchemyError as e:  # they go stale by themselves
            log.error("%s: cannot abandon its earlier verifications: %s", self.name, e)
            return
        if gone:
            log.info("%s: %d verification(s) of its last run will be taken again", self.name, gone)
