"""Enrollment codes in the repository: issuing one, finding one, claiming one once, and the
refused attempts counted per address (`server.enrollment` decides; this module only stores).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlmodel import Session, col

from server.models import Enrollment, EnrollmentFailure
from server.repository.common import commit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailurePolicy:
    """When refused enrollments from one address lock it out (`ServerSettings.enroll_*`)."""

    max_failures: int = 10
    window_s: int = 900
    lockout_s: int = 900


def add_code(session: Session, code: Enrollment) -> Enrollment:
    """Store a new code for `code.device_id`, replacing that device's codes not yet used (an
    admin who issues a new code means the old one to stop working); commit."""
    session.exec(
        delete(Enrollment).where(
            col(Enrollment.device_id) == code.device_id, col(Enrollment.used_at).is_(None)
        )
    )
    session.add(code)
    commit(session, f"issue an enrollment code for {code.device_id}")
    session.refresh(code)
    log.info("enrollment code issued for device %s by %s", code.device_id, code.created_by)
    return code


def find_code(session: Session, secret_sha256: str) -> Enrollment | None:
    """The code whose secret hashes to `secret_sha256`, if any."""
    return session.get(Enrollment, secret_sha256)


def claim_code(session: Session, claimed: Enrollment) -> bool:
    """Mark a code used with what its redemption issued (`claimed` carries `used_at`,
    `used_from`, `keys_sha256` and the answer), unless another request did first.
    Not committed: the caller commits it with the device's registration, so that both happen
    or neither.

    Returns:
        Whether this request claimed it (False: it was used meanwhile).
    """
    result = session.exec(
        update(Enrollment)
        .where(
            col(Enrollment.secret_sha256) == claimed.secret_sha256,
            col(Enrollment.used_at).is_(None),
        )
        .values(
            used_at=claimed.used_at,
            used_from=claimed.used_from,
            keys_sha256=claimed.keys_sha256,
            answer=claimed.answer,
        )
    )
    return bool(result.rowcount == 1)


def locked_until(session: Session, source: str, now: dt.datetime) -> dt.datetime | None:
    """Until when `source` is refused every enrollment, if it is now."""
    row = session.get(EnrollmentFailure, source)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def count_failure(
    session: Session, source: str, now: dt.datetime, policy: FailurePolicy
) -> dt.datetime | None:
    """Count a refused enrollment from `source` (and forget counts whose window and lock are
    over); commit.

    Returns:
        Until when `source` is now locked out, if this failure locked it.
    """
    window_start = now - dt.timedelta(seconds=policy.window_s)
    session.rollback()  # nothing of the refused request stays half-done
    session.exec(
        delete(EnrollmentFailure).where(
            col(EnrollmentFailure.source) != source,
            col(EnrollmentFailure.first_failed_at) < window_start,
            col(EnrollmentFailure.locked_until).is_(None)
            | (col(EnrollmentFailure.locked_until) <= now),
        )
    )
    row = session.get(EnrollmentFailure, source) or EnrollmentFailure(source=source)
    if row.first_failed_at is None or row.first_failed_at < window_start:
        row.failures, row.first_failed_at = 0, now
    row.failures += 1
    locked = None
    if row.failures >= policy.max_failures:
        locked = row.locked_until = now + dt.timedelta(seconds=policy.lockout_s)
        row.failures, row.first_failed_at = 0, None
    session.add(row)
    commit(session, "count a refused enrollment")
    if locked is not None:
        log.warning(
            "enrollments from %s refused until %s after %d failures",
            source,
            locked,
            policy.max_failures,
        )
    return locked
