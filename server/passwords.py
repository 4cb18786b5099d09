"""Passwords of the API's accounts: hashed with argon2id (argon2-cffi), the only module that
imports it.

Rules of this module:
- A password is never stored, logged or put in an error message; only its PHC-form hash is.
- Checking a password costs the same whether the account exists or not (`dummy_hash`), so
  the time a sign-in takes does not tell which usernames exist.
- A hash is made at the cost `HashingCost` names (`ServerSettings.password_hashing`): production
  unless a test suite says otherwise. Checking reads the cost from the hash itself, so a hash
  made at either cost is checked right.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
"""The shortest password an account may have (NIST SP 800-63B asks at least 8; an officer's
password guards many citizens' records)."""
MAX_PASSWORD_LENGTH = 256
"""The longest: beyond it is a mistake (or an attempt to make hashing costly)."""


class HashingCost(StrEnum):
    """How costly the hash of a new password is (`ServerSettings.password_hashing`)."""

    PRODUCTION = "production"
    """argon2id with RFC 9106's second recommended parameters (64 MiB, t=3, p=4): 0.1-0.8 s a
    hash here, what makes a stolen table slow to guess from. Every real account."""
    TESTS_ONLY = "tests-only"
    """argon2id at its lowest cost (8 KiB, t=1, p=1): for test suites, which sign in hundreds
    of times; a table of such hashes is guessed fast, so never for a real account."""


_HASHERS = {
    HashingCost.PRODUCTION: PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    HashingCost.TESTS_ONLY: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}
_CHECKER = _HASHERS[HashingCost.PRODUCTION]  # `verify` takes the cost from the hash it checks


def password_problem(password: str) -> str | None:
    """Why `password` cannot be an account's password, or None if it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str, cost: HashingCost = HashingCost.PRODUCTION) -> str:
    """The argon2id hash of `password` at `cost`, in PHC form (`$argon2id$v=19$m=...`)."""
    return _HASHERS[cost].hash(password)


@cache
def dummy_hash(cost: HashingCost = HashingCost.PRODUCTION) -> str:
    """A hash no password given matches: checked against when there is no account, so that a
    refusal takes as long as for a real one (made at the accounts' `cost`). Made on first use
    (hashing at production cost takes 0.1 s or more)."""
    return hash_password("a password no account has, for refusals that take as long", cost)


def check_password(password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from (a damaged hash: False)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _CHECKER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
