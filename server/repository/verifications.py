"""Results between their arrival and their record: taken for verification, or refused by it.

A worker takes a result (`claim`) before it verifies it, the slow step, and commits that; so a
copy of the result (the device's resend, the broker's redelivery after a worker lost its
session) is answered at once instead of verified again: refused copies get the same refusal,
copies of a result in verification wait briefly for its outcome or are left to the first
answer (`server.claims`). A verification
that never finished (its worker died) is taken again once it is stale, and refused after
`max_attempts` takes: a PDF that takes verifiers down is not tried for ever.

Rules of this module:
- Like `staging`, it never commits: the ingest worker (`server.claims`) owns each transaction,
  and calls these under `staging.lock(session, device_id, result_id)`, so two workers never
  both take a result.
- A verified result's row is dropped (`release`); its `Record` answers its copies from then on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlmodel import Session, col

from protocol.reasons import RejectReason
from server.models import Verification, VerificationState

DETAIL_CHARS = 1024
"""A refusal's detail is kept to this many characters (`Verification.detail`)."""
ABANDONED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""The start time `abandon` gives a verification whose worker is gone: stale at once."""


@dataclass(frozen=True)
class Taken:
    """The caller verifies the result now (attempt number `attempt`)."""

    attempt: int


@dataclass(frozen=True)
class Refused:
    """The result was refused already: answer every copy with this."""

    reason: RejectReason
    detail: str


@dataclass(frozen=True)
class InProgress:
    """Another worker is verifying the result since `since`: its answer follows."""

    since: dt.datetime


Claim = Taken | Refused | InProgress
"""What `claim` found."""


def claim(
    session: Session,
    device_id: str,
    result_id: str,
    *,
    now: dt.datetime,
    stale_after_s: float,
    max_attempts: int,
    holder: str | None = None,
) -> Claim:
    """Take `result_id` of `device_id` for verification, unless it is refused or in progress.

    Args:
        now: the current time (UTC).
        holder: who takes it (the worker's MQTT client id), for `abandon`.
        stale_after_s: a verification started longer ago than this never finished (its worker
            died): it is taken again.
        max_attempts: a result taken this many times without a verdict is refused
            (`too_complex`) instead of taken again.
    """
    row = session.get(Verification, (device_id, result_id))
    if row is None:
        session.add(
            Verification(
                device_id=device_id,
                result_id=result_id,
                state=VerificationState.VERIFYING,
                started_at=now,
                holder=holder,
            )
        )
        session.flush()
        return Taken(1)
    if row.state is VerificationState.REJECTED:
        return Refused(_reason(row.reason), row.detail or "refused")
    if now - row.started_at < dt.timedelta(seconds=stale_after_s):
        return InProgress(row.started_at)
    if row.attempts >= max_attempts:
        detail = (
            f"verification of this PDF was started {row.attempts} times and never finished: "
            "it is refused as beyond what the server can verify; capture and sign the "
            "document again"
        )
        _refuse(row, RejectReason.TOO_COMPLEX, detail, now)
        session.add(row)
        session.flush()
        return Refused(RejectReason.TOO_COMPLEX, detail)
    row.attempts += 1
    row.started_at = now
    row.holder = holder
    session.add(row)
    session.flush()
    return Taken(row.attempts)


def refuse(
    session: Session,
    device_id: str,
    result_id: str,
    reason: RejectReason,
    detail: str,
    *,
    now: dt.datetime,
) -> None:
    """Record that `result_id` of `device_id` is refused, so that its copies get this answer."""
    row = session.get(Verification, (device_id, result_id))
    if row is None:
        row = Verification(
            device_id=device_id, result_id=result_id, state=VerificationState.REJECTED
        )
    _refuse(row, reason, detail, now)
    session.add(row)
    session.flush()


def release(session: Session, device_id: str, result_id: str) -> None:
    """Forget the verification of `result_id` of `device_id`: it was merged (its record answers
    copies), or it could not be verified for a fault of the server's (a copy is verified)."""
    session.execute(
        delete(Verification).where(
            col(Verification.device_id) == device_id, col(Verification.result_id) == result_id
        )
    )
    session.expire_all()


def abandon(session: Session, holder: str) -> int:
    """Mark the verifications `holder` had in hand as stale, so that the next copy of each is
    taken at once (its attempts still count): `holder` starts again, so it was stopped or
    killed while it verified them. The caller commits; returns how many there were."""
    done = session.exec(
        update(Verification)
        .where(
            col(Verification.holder) == holder,
            col(Verification.state) == VerificationState.VERIFYING,
        )
        .values(started_at=ABANDONED)
    ).rowcount
    return int(done or 0)


def expire(session: Session, older_than: dt.datetime) -> int:
    """Delete verifications started (or refused) before `older_than`; returns how many went.

    The caller commits. A device that sends a refused result after that gets it verified again.
    """
    gone = session.exec(
        delete(Verification).where(col(Verification.started_at) < older_than)
    ).rowcount
    return int(gone or 0)


def _refuse(row: Verification, reason: RejectReason, detail: str, now: dt.datetime) -> None:
    row.state = VerificationState.REJECTED
    row.reason = reason.value
    row.detail = detail[:DETAIL_CHARS]
    row.started_at = now


def _reason(value: str | None) -> RejectReason:
    try:
        return RejectReason(value)
    except ValueError:  # a reason an older or newer server wrote: still a refusal
        return RejectReason.SIGNATURE
