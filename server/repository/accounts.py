"""The accounts of the people who use the API: added, listed, disabled, and signed in to with
a lock-out after repeated wrong passwords.

Sign-in rules (`sign_in`):
- A wrong password, an unknown username and (for who does not know its password) a disabled
  account get the same refusal, in about the same time (`server.passwords.dummy_hash`).
- `login_max_failures` wrong passwords within `login_window_s` lock the account for
  `login_lockout_s`: meanwhile every sign-in is refused, the right password included.
- Each refusal and each lock is logged with the account's name and the client's address,
  never the password.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from server.errors import AccountError, AccountLockedError, CredentialError
from server.models import Account, Role
from server.passwords import check_password, dummy_hash, hash_password, password_problem
from server.repository.common import commit, nfc

log = logging.getLogger(__name__)

USERNAME_PATTERN = r"[a-z0-9][a-z0-9._@-]{0,63}"
"""A username: lower-case letters, digits and . _ @ -, at most 64 characters."""
_USERNAME = re.compile(USERNAME_PATTERN)


@dataclass(frozen=True)
class LockoutPolicy:
    """When repeated wrong passwords lock an account (`ServerSettings.login_*`)."""

    max_failures: int = 5
    window_s: int = 900
    lockout_s: int = 900


WRONG_CREDENTIALS = "wrong username or password: check both and try again"


def normal_username(username: str) -> str:
    """`username` as accounts are keyed: trimmed, lower case."""
    return username.strip().lower()


def add_account(
    session: Session, username: str, role: Role, password: str, unit: str | None = None
) -> Account:
    """Add an account.

    Args:
        username: its name (`USERNAME_PATTERN`, taken in lower case).
        role: what it may do.
        password: its password (`server.passwords.password_problem` must find none); only its
            argon2id hash is stored.
        unit: the unit of a unit officer (required for one, refused for the other roles).

    Returns:
        The account, committed.

    Raises:
        AccountError: the name is invalid or taken, the password too weak, or the unit
            missing for a unit officer or given for another role.
    """
    name = normal_username(username)
    if not _USERNAME.fullmatch(name):
        raise AccountError(
            f"username {username!r} is not valid: use 1-64 lower-case letters, digits, "
            "'.', '_', '@' or '-', starting with a letter or digit"
        )
    problem = password_problem(password)
    if problem is not None:
        raise AccountError(f"account {name} not added: {problem}")
    unit = nfc(unit.strip()) if unit and unit.strip() else None
    if role is Role.UNIT_OFFICER and unit is None:
        raise AccountError(f"account {name} not added: a unit officer needs --unit CODE")
    if role is not Role.UNIT_OFFICER and unit is not None:
        raise AccountError(
            f"account {name} not added: only a unit officer has a unit ({role.value} sees "
            "every unit's)"
        )
    if session.get(Account, name) is not None:
        raise AccountError(f"account {name} exists already: choose another name")
    account = Account(username=name, role=role, unit=unit, password_hash=hash_password(password))
    session.add(account)
    commit(session, f"add account {name}")
    session.refresh(account)
    log.info("account %s added (%s)", name, role.value)
    return account


def get_account(session: Session, username: str) -> Account | None:
    """The account named `username`, or None."""
    return session.get(Account, normal_username(username))


def list_accounts(session: Session) -> Sequence[Account]:
    """Every account, by name."""
    return session.exec(select(Account).order_by(col(Account.username))).all()


def disable_account(session: Session, username: str, now: dt.datetime) -> Account:
    """Disable an account: it can no longer sign in, and its tokens stop working at once.

    Disabling a disabled account changes nothing.

    Raises:
        AccountError: there is no such account.
    """
    account = get_account(session, username)
    if account is None:
        raise AccountError(f"no account {username}: see sohoa server user list")
    if account.disabled_at is None:
        account.disabled_at = now
        session.add(account)
        commit(session, f"disable account {account.username}")
        session.refresh(account)
        log.info("account %s disabled", account.username)
    return account


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    now: dt.datetime,
    policy: LockoutPolicy,
    client: str = "?",
) -> Account:
    """The account whose name and password these are, if it may sign in now.

    Args:
        client: the client's address, for the log.

    Raises:
        AccountLockedError: the account is locked (even for the right password).
        CredentialError: the name is unknown, the password wrong or the account disabled
            (told apart only to who gave the right password).
    """
    account = session.get(Account, normal_username(username), with_for_update=True)
    if account is None:
        check_password(dummy_hash(), password)  # as long as for a real account
        log.warning("sign-in refused for an unknown username from %s", client)
        raise CredentialError(WRONG_CREDENTIALS)
    if account.locked_until is not None and account.locked_until > now:
        log.warning("sign-in refused for %s from %s: locked", account.username, client)
        raise AccountLockedError(account.username, account.locked_until)
    if not check_password(account.password_hash, password):
        _count_failure(session, account, now, policy, client)
        raise CredentialError(WRONG_CREDENTIALS)
    if account.disabled_at is not None:
        session.rollback()
        log.warning("sign-in refused for %s from %s: disabled", account.username, client)
        raise CredentialError(f"account {account.username} is disabled: ask a province admin")
    account.failed_logins = 0
    account.first_failed_at = account.locked_until = None
    account.last_login_at = now
    session.add(account)
    commit(session, f"record the sign-in of {account.username}")
    session.refresh(account)
    return account


def _count_failure(
    session: Session, account: Account, now: dt.datetime, policy: LockoutPolicy, client: str
) -> None:
    window_start = now - dt.timedelta(seconds=policy.window_s)
    if account.first_failed_at is None or account.first_failed_at < window_start:
        account.failed_logins, account.first_failed_at = 0, now
    account.failed_logins += 1
    locked = account.failed_logins >= policy.max_failures
    if locked:
        account.locked_until = now + dt.timedelta(seconds=policy.lockout_s)
        account.failed_logins, account.first_failed_at = 0, None
    session.add(account)
    commit(session, f"count a failed sign-in of {account.username}")
    if locked:
        log.warning(
            "account %s locked until %s after %d wrong passwords within %d s (last from %s)",
            account.username,
            account.locked_until,
            policy.max_failures,
            policy.window_s,
            client,
        )
    else:
        log.warning("sign-in refused for %s from %s: wrong password", account.username, client)
