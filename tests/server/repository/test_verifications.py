"""Verification claims (`server.repository.verifications`) on SQLite and PostgreSQL: a result is
taken once, a copy of it in progress is left to the first answer, a refusal answers every copy,
a verification that never finished is taken again when stale and refused after its attempts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from protocol.reasons import RejectReason
from server.db import session_scope
from server.repository import staging, verifications

DEVICE = "test-verify-01"
RESULT = "ab" * 32
T0 = dt.datetime(2026, 12, 6, 7, 0, tzinfo=dt.UTC)
STALE_S = 90.0


def _claim(engine: Engine, now: dt.datetime, *, max_attempts: int = 3) -> verifications.Claim:
    with session_scope(engine) as s:
        staging.lock(s, DEVICE, RESULT)
        found = verifications.claim(
            s, DEVICE, RESULT, now=now, stale_after_s=STALE_S, max_attempts=max_attempts
        )
        s.commit()
    return found


def test_a_result_is_taken_once_and_its_refusal_answers_every_copy(db_engine: Engine) -> None:
    assert _claim(db_engine, T0) == verifications.Taken(1)
    assert _claim(db_engine, T0 + dt.timedelta(seconds=5)) == verifications.InProgress(T0)
    with session_scope(db_engine) as s:
        staging.lock(s, DEVICE, RESULT)
        verifications.refuse(
            s, DEVICE, RESULT, RejectReason.TOO_COMPLEX, "too much", now=T0 + dt.timedelta(1)
        )
        s.commit()
    later = T0 + dt.timedelta(days=2)
    assert _claim(db_engine, later) == verifications.Refused(RejectReason.TOO_COMPLEX, "too much")


def test_an_unfinished_verification_is_taken_again_then_refused(db_engine: Engine) -> None:
    step = dt.timedelta(seconds=STALE_S + 1)
    assert _claim(db_engine, T0) == verifications.Taken(1)
    assert _claim(db_engine, T0 + step) == verifications.Taken(2)
    assert _claim(db_engine, T0 + 2 * step) == verifications.Taken(3)
    gave_up = _claim(db_engine, T0 + 3 * step)
    assert isinstance(gave_up, verifications.Refused)
    assert gave_up.reason is RejectReason.TOO_COMPLEX
    assert "never finished" in gave_up.detail


def test_a_released_result_is_taken_afresh_and_old_claims_expire(db_engine: Engine) -> None:
    assert _claim(db_engine, T0) == verifications.Taken(1)
    with session_scope(db_engine) as s:
        staging.lock(s, DEVICE, RESULT)
        verifications.release(s, DEVICE, RESULT)
        s.commit()
    assert _claim(db_engine, T0) == verifications.Taken(1)
    with session_scope(db_engine) as s:
        assert verifications.expire(s, T0 + dt.timedelta(seconds=1)) == 1
        s.commit()
    assert _claim(db_engine, T0) == verifications.Taken(1)


def test_a_worker_that_starts_again_abandons_what_it_had_in_hand(db_engine: Engine) -> None:
    with session_scope(db_engine) as s:
        staging.lock(s, DEVICE, RESULT)
        taken = verifications.claim(
            s, DEVICE, RESULT, now=T0, stale_after_s=STALE_S, max_attempts=3, holder="ingest-0"
        )
        s.commit()
    assert taken == verifications.Taken(1)
    with session_scope(db_engine) as s:
        assert verifications.abandon(s, "ingest-1") == 0  # another worker's: left alone
        s.commit()
    assert isinstance(_claim(db_engine, T0 + dt.timedelta(seconds=1)), verifications.InProgress)
    with session_scope(db_engine) as s:
        assert verifications.abandon(s, "ingest-0") == 1
        s.commit()
    # Taken again at once, and the attempt counts.
    assert _claim(db_engine, T0 + dt.timedelta(seconds=2)) == verifications.Taken(2)
