"""Browser sessions of the web pages (`WebSession` rows): opening one at sign-in, finding the
one a cookie names, ending it.

A session is a random secret in the browser's cookie and a row keyed by the secret's SHA-256.
It ends when its person signs out, when it has not been used for `idle` (the page they left
open at the counter stops working), `max_age` after its sign-in, and as soon as its account is
disabled or given a new password (the account's token generation moved on), as the API's
tokens do. An ended session's row is deleted when it is next presented, and ended rows of
other sessions are swept at each sign-in, so the table holds about one row per person signed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from server.errors import SessionEndedError
from server.models import Account, WebSession
from server.repository.common import commit

SECRET_BYTES = 32
TOUCH_EVERY = dt.timedelta(seconds=60)
"""A session's `seen_at` is written at most this often: a page view is a read, not a write."""


@dataclass(frozen=True)
class Lifetime:
    """How long a session lasts: unused (`idle`), and at most (`max_age`)."""

    idle: dt.timedelta
    max_age: dt.timedelta


@dataclass(frozen=True)
class SignedIn:
    """A live session and its account, as they are now."""

    session: WebSession
    account: Account


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(
    session: Session, account: Account, *, now: dt.datetime, lifetime: Lifetime
) -> tuple[str, WebSession]:
    """A new session for `account` (which just signed in): the cookie's secret and its row.

    Raises:
        RepositoryError: the row could not be written.
    """
    _sweep(session, now, lifetime)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    row = WebSession(
        id_hash=_hash(secret),
        username=account.username,
        generation=account.token_generation,
        csrf=secrets.token_urlsafe(SECRET_BYTES),
        created_at=now,
        seen_at=now,
    )
    session.add(row)
    commit(session, f"open a web session for {account.username}")
    session.refresh(row)
    return secret, row


def find_session(
    session: Session, secret: str, *, now: dt.datetime, lifetime: Lifetime
) -> SignedIn:
    """The live session whose cookie holds `secret`, its last use brought up to `now`.

    Raises:
        SessionEndedError: there is none (signed out, never made), or it ended (idle, too old,
            account disabled or its password changed): the row, if any, is deleted.
        RepositoryError: the database refused the write.
    """
    row = session.get(WebSession, _hash(secret))
    if row is None:
        raise SessionEndedError("unknown", "no such session: sign in")
    account = session.get(Account, row.username)
    ended = _ended(row, account, now, lifetime)
    if ended is not None:
        session.delete(row)
        commit(session, "delete an ended web session")
        raise ended
    assert account is not None  # _ended refuses a session whose account is gone
    if now - row.seen_at >= TOUCH_EVERY:
        row.seen_at = now
        session.add(row)
        commit(session, "record a web session's use")
        session.refresh(row)
    return SignedIn(row, account)


def close_session(session: Session, secret: str) -> None:
    """End the session whose cookie holds `secret` (nothing if there is none)."""
    table = WebSession.__table__  # type: ignore[attr-defined]
    session.execute(sa.delete(table).where(table.c.id_hash == _hash(secret)))
    commit(session, "end a web session")


def csrf_matches(expected: str, presented: str | None) -> bool:
    """Whether a form's token is its session's (`expected`), compared in constant time."""
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def _ended(
    row: WebSession, account: Account | None, now: dt.datetime, lifetime: Lifetime
) -> SessionEndedError | None:
    """Why the session `row` may no longer be used, or None while it may."""
    if account is None or account.disabled_at is not None:
        return SessionEndedError("account", "the account is disabled or gone: sign in again")
    if account.token_generation != row.generation:
        return SessionEndedError("account", "the account's password changed: sign in again")
    if now - row.created_at >= lifetime.max_age:
        return SessionEndedError("expired", "the session is too old: sign in again")
    if now - row.seen_at >= lifetime.idle:
        return SessionEndedError("idle", "the session was unused too long: sign in again")
    return None


def _sweep(session: Session, now: dt.datetime, lifetime: Lifetime) -> None:
    """Delete every session that ended by time (in the caller's transaction)."""
    table = WebSession.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.delete(table).where(
            sa.or_(
                table.c.seen_at <= now - lifetime.idle,
                table.c.created_at <= now - lifetime.max_age,
            )
        )
    )
