"""The accounts of the people who use the API: added, listed, disabled and enabled again,
given a new password, and signed in to with a lock-out after repeated wrong passwords.

A unit officer's unit is a code of the unit tree (`server.repository.units`); it is given as a
code or a People's Committee's name and must be a unit in force on the day it is given.

Sign-in rules (`sign_in`):
- A wrong password, an unknown username and (for who does not know its password) a disabled
  account get the same refusal, in about the same time (`server.passwords.dummy_hash`).
- `login_max_failures` wrong passwords within `login_window_s` lock the account for
  `login_lockout_s`: meanwhile every sign-in is refused, the right password included. A name
  no account has is counted and locked the same way (`LoginFailure`, keyed by a keyed hash of
  the name), so the answers never tell a guesser which names exist.
- Each refusal and each lock is logged with the account's name and the client's address,
  never the password (nor a name no account has: it may be a password typed in the wrong field).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from server.errors import AccountError, AccountLockedError, CredentialError, RepositoryError
from server.models import Account, LoginFailure, Role, Unit
from server.passwords import (
    HashingCost,
    check_password,
    dummy_hash,
    hash_password,
    password_problem,
)
from server.repository import units
from server.repository.common import commit

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
    name_key: bytes = b""
    """The key of the hash under which failures for unknown names are kept (`create_app`
    derives it from the token key), so the table alone reveals no name typed."""
    hashing: HashingCost = HashingCost.PRODUCTION
    """The cost the accounts' passwords are hashed at (`ServerSettings.password_hashing`): a
    name no account has is checked against a dummy hash of the same cost."""


WRONG_CREDENTIALS = "wrong username or password: check both and try again"


def normal_username(username: str) -> str:
    """`username` as accounts are keyed: trimmed, lower case."""
    return username.strip().lower()


def add_account(
    session: Session,
    username: str,
    role: Role,
    password: str,
    unit: str | None = None,
    *,
    day: dt.date | None = None,
    hashing: HashingCost = HashingCost.PRODUCTION,
) -> Account:
    """Add an account.

    Args:
        username: its name (`USERNAME_PATTERN`, taken in lower case).
        role: what it may do.
        password: its password (`server.passwords.password_problem` must find none); only its
            argon2id hash is stored.
        unit: the unit of a unit officer (required for one, refused for the other roles): its
            code ("22516") or its People's Committee's name ("UBND xã Vạn Thắng"); the code is
            stored.
        day: the day the unit must be in force on (default: today in Việt Nam).
        hashing: the cost of the password's hash (`ServerSettings.password_hashing`).

    Returns:
        The account, committed.

    Raises:
        AccountError: the name is invalid or taken, the password too weak, or the unit
            missing for a unit officer, given for another role, or not a unit in force.
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
    unit = unit.strip() if unit and unit.strip() else None
    if role is Role.UNIT_OFFICER and unit is None:
        raise AccountError(f"account {name} not added: a unit officer needs --unit CODE")
    if role is not Role.UNIT_OFFICER and unit is not None:
        raise AccountError(
            f"account {name} not added: only a unit officer has a unit ({role.value} sees "
            "every unit's)"
        )
    if session.get(Account, name) is not None:
        raise AccountError(f"account {name} exists already: choose another name")
    if unit is not None:
        unit = _unit_code(session, name, unit, day or units.today())
    account = Account(
        username=name, role=role, unit=unit, password_hash=hash_password(password, hashing)
    )
    session.add(account)
    commit(session, f"add account {name}")
    session.refresh(account)
    log.info("account %s added (%s)", name, role.value)
    return account


def _unit_code(session: Session, name: str, unit: str, day: dt.date) -> str:
    """The code of the unit `unit` names (a code or a People's Committee's name) on `day`."""
    if session.exec(select(Unit.code).limit(1)).first() is None:
        raise AccountError(
            f"account {name} not added: the repository knows no units; import the units "
            "first: sohoa server units import FILE (e.g. server/data/units_khanh_hoa.csv)"
        )
    try:
        code, _ = units.resolve_unit(session, unit, day)
    except RepositoryError as e:
        raise AccountError(f"account {name} not added: {e}") from e
    if code is None:
        raise AccountError(
            f"account {name} not added: no unit in force on {day} is named {unit!r}; give "
            "its code (e.g. 22516) or its committee's name (e.g. 'UBND xã Vạn Thắng'), or "
            "import the units first: sohoa server units import FILE"
        )
    return code


_changes = 0
_changes_lock = threading.Lock()


def changes() -> int:
    """How many times this process disabled, enabled or re-passworded an account: caches of
    accounts (`server.api.account_cache`) drop what they kept from before."""
    return _changes


def _changed() -> None:
    global _changes
    with _changes_lock:
        _changes += 1


def get_account(session: Session, username: str) -> Account | None:
    """The account named `username`, or None."""
    return session.get(Account, normal_username(username))


def list_accounts(session: Session) -> Sequence[Account]:
    """Every account, by name."""
    return session.exec(select(Account).order_by(col(Account.username))).all()


def disable_account(session: Session, username: str, now: dt.datetime) -> Account:
    """Disable an account: it can no longer sign in, and its tokens stop working (at once in
    this process, within `server.api.account_cache.ACCOUNT_CACHE_S` in API processes).

    Disabling a disabled account changes nothing.

    Raises:
        AccountError: there is no such account.
    """
    account = _existing(session, username)
    if account.disabled_at is None:
        account.disabled_at = now
        account.token_generation += 1
        session.add(account)
        commit(session, f"disable account {account.username}")
        _changed()
        session.refresh(account)
        log.info("account %s disabled", account.username)
    return account


def enable_account(session: Session, username: str) -> Account:
    """Let a disabled account sign in again.

    Enabling an enabled account changes nothing.

    Raises:
        AccountError: there is no such account.
    """
    account = _existing(session, username)
    if account.disabled_at is not None:
        account.disabled_at = None
        account.token_generation += 1  # tokens from before the disabling stay void
        session.add(account)
        commit(session, f"enable account {account.username}")
        _changed()
        session.refresh(account)
        log.info("account %s enabled", account.username)
    return account


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    hashing: HashingCost = HashingCost.PRODUCTION,
) -> Account:
    """Give an account a new password (hashed at `hashing`); this also lifts a lock-out and
    forgets past failures.

    Raises:
        AccountError: there is no such account, or the password is too weak.
    """
    account = _existing(session, username)
    problem = password_problem(password)
    if problem is not None:
        raise AccountError(f"password of {account.username} not changed: {problem}")
    account.password_hash = hash_password(password, hashing)
    account.failed_logins = 0
    account.first_failed_at = account.locked_until = None
    account.token_generation += 1  # whoever held the old password holds no token either
    session.add(account)
    commit(session, f"change the password of {account.username}")
    _changed()
    session.refresh(account)
    log.info("password of account %s changed (lock-out lifted)", account.username)
    return account


def _existing(session: Session, username: str) -> Account:
    account = get_account(session, username)
    if account is None:
        raise AccountError(f"no account {username}: see sohoa server user list")
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
    name = normal_username(username)
    account = session.get(Account, name, with_for_update=True)
    if account is None:
        _refuse_unknown(session, name, password, now, policy, client)
    if account.locked_until is not None and account.locked_until > now:
        log.warning("sign-in refused for %s from %s: locked", account.username, client)
        raise AccountLockedError(account.username, account.locked_until)
    if not check_password(account.password_hash, password):
        _count_failure(session, account, now, policy, client, who=account.username)
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


def _refuse_unknown(
    session: Session,
    name: str,
    password: str,
    now: dt.datetime,
    policy: LockoutPolicy,
    client: str,
) -> NoReturn:
    """Refuse a sign-in under a name no account has, exactly as a wrong password of an account:
    the same checks in the same order, the same lock-out, the same answers."""
    name_hash = hmac.new(policy.name_key, name.encode(), hashlib.sha256).hexdigest()
    tracked = session.get(LoginFailure, name_hash, with_for_update=True)
    if tracked is not None and tracked.locked_until is not None and tracked.locked_until > now:
        log.warning("sign-in refused for an unknown username from %s: locked", client)
        raise AccountLockedError(name, tracked.locked_until)
    check_password(dummy_hash(policy.hashing), password)  # as long as for a real account
    _forget_old_failures(session, now, policy, but=name_hash)
    if tracked is None:
        tracked = LoginFailure(name_hash=name_hash)
    try:
        _count_failure(session, tracked, now, policy, client, who=None)
    except RepositoryError:
        # Another request counted the first failure of this name at the same time: theirs
        # stands; this one is refused all the same.
        log.info("a concurrent failure of the same unknown username was counted")
    raise CredentialError(WRONG_CREDENTIALS)


def _forget_old_failures(
    session: Session, now: dt.datetime, policy: LockoutPolicy, *, but: str
) -> None:
    """Delete the failures of unknown names whose window and lock are over (that of `but`,
    the name being counted, apart): the table holds only what the last `login_window_s` (or
    `login_lockout_s`) can still count."""
    window_start = now - dt.timedelta(seconds=policy.window_s)
    session.exec(
        delete(LoginFailure).where(
            col(LoginFailure.name_hash) != but,
            or_(
                col(LoginFailure.first_failed_at).is_(None),
                col(LoginFailure.first_failed_at) < window_start,
            ),
            or_(col(LoginFailure.locked_until).is_(None), col(LoginFailure.locked_until) <= now),
        )
    )


def _count_failure(
    session: Session,
    holder: Account | LoginFailure,
    now: dt.datetime,
    policy: LockoutPolicy,
    client: str,
    *,
    who: str | None,
) -> None:
    """Count a wrong password of an account, or of an unknown name (`who` None), and lock it
    after `policy.max_failures` within `policy.window_s`."""
    window_start = now - dt.timedelta(seconds=policy.window_s)
    if holder.first_failed_at is None or holder.first_failed_at < window_start:
        holder.failed_logins, holder.first_failed_at = 0, now
    holder.failed_logins += 1
    locked = holder.failed_logins >= policy.max_failures
    if locked:
        holder.locked_until = now + dt.timedelta(seconds=policy.lockout_s)
        holder.failed_logins, holder.first_failed_at = 0, None
    session.add(holder)
    commit(session, f"count a failed sign-in of {who or 'an unknown username'}")
    if who is None:
        log.warning(
            "sign-in refused for an unknown username from %s%s",
            client,
            f": locked until {holder.locked_until}" if locked else "",
        )
    elif locked:
        log.warning(
            "account %s locked until %s after %d wrong passwords within %d s (last from %s)",
            who,
            holder.locked_until,
            policy.max_failures,
            policy.window_s,
            client,
        )
    else:
        log.warning("sign-in refused for %s from %s: wrong password", who, client)
