"""Passwords of the API's accounts: hashed with argon2id (argon2-cffi), the only module that
imports it.

Rules of this module:
- A password is never stored, logged or put in an error message; only its PHC-form hash is.
- Checking a password costs the same whether the account exists or not (`dummy_hash`), so
  the time a sign-in takes does not tell which usernames exist.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
"""The shortest password an account may have (NIST SP 800-63B asks at least 8; an officer's
password guards many citizens' records)."""
MAX_PASSWORD_LENGTH = 256
"""The longest: beyond it is a mistake (or an attempt to make hashing costly)."""

_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters (64 MiB, t=3)


def password_problem(password: str) -> str | None:
    """Why `password` cannot be an account's password, or None if it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of `password`, in PHC form (`$argon2id$v=19$m=...`)."""
    return _HASHER.hash(password)


@cache
def dummy_hash() -> str:
    """A hash no password given matches: checked against when there is no account, so that a
    refusal takes as long as for a real one. Made on first use (hashing costs ~0.1 s)."""
    return _HASHER.hash("a password no account has, for refusals that take as long")


def check_password(password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from (a damaged hash: False)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
