"""The API's access tokens: short-lived JWTs signed with HMAC-SHA256 (PyJWT, the only module
that imports it), and the secret that signs them.

Rules of this module:
- Only HS256 is accepted when a token is read: a token signed with another algorithm, or with
  none (`alg: none`), is refused before its claims are looked at.
- A token names its account, role and unit and expires (`token_ttl_s`); what it says is not
  trusted beyond that: the API looks the account up (kept at most 2 s,
  `server.api.account_cache`), so disabling an account ends its tokens within seconds.
- The secret is a file only the server's user can read, made with 32 random bytes when it is
  missing; there is no default secret in the code.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import jwt

from server.errors import ConfigError, CredentialError
from support.files import private_dir

ALGORITHM = "HS256"
ISSUER = "sohoa"
MIN_KEY_BYTES = 32
"""RFC 7518 section 3.2: an HS256 key is at least as long as the hash (256 bits)."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is, the role and unit it was issued for, until when."""

    username: str
    role: str
    unit: str | None
    expires_at: dt.datetime
    generation: int
    """The account's `token_generation` when issued: a token of an earlier one is void."""


class TokenSigner:
    """Issues and reads the access tokens of one repository (one secret, one lifetime).

    Args:
        key: the secret (`load_token_key`).
        ttl_s: how long a token is good for, in seconds.
    """

    def __init__(self, key: bytes, ttl_s: int) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(f"the token key has {len(key)} bytes; it needs {MIN_KEY_BYTES}")
        self._key = key
        self.ttl_s = ttl_s

    def issue(
        self, username: str, role: str, unit: str | None, now: dt.datetime, generation: int = 0
    ) -> str:
        """A token for `username` with `role` and `unit`, good for `ttl_s` from `now`, of the
        account's token `generation`."""
        claims = {
            "iss": ISSUER,
            "sub": username,
            "role": role,
            "unit": unit,
            "gen": generation,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def read(self, token: str) -> TokenClaims:
        """The claims of `token`, checked: our signature, our algorithm, not expired.

        Raises:
            CredentialError: expired, forged, damaged or not ours; the message says which
                and what to do (sign in again).
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "sub", "role", "gen"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise CredentialError("the access token has expired: sign in again") from e
        except jwt.PyJWTError as e:
            raise CredentialError(
                "the access token is not valid (damaged, forged or from another server): "
                "sign in again"
            ) from e
        unit = claims.get("unit")
        generation = claims["gen"]
        if (
            not isinstance(claims["sub"], str)
            or not isinstance(claims["role"], str)
            or type(generation) is not int
        ):
            raise CredentialError("the access token is not valid (bad claims): sign in again")
        return TokenClaims(
            username=claims["sub"],
            role=claims["role"],
            unit=unit if isinstance(unit, str) else None,
            expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
            generation=generation,
        )


def load_token_key(path: Path) -> bytes:
    """The token-signing secret in `path`, made (32 random bytes, mode 0600) if missing.

    Several processes starting at once agree on one secret: it is written to a temp file and
    linked into place, and whoever links second reads the first one's.

    Raises:
        ConfigError: the file is open to other users, too short, or cannot be read or made.
    """
    try:
        if not path.exists():
            _make_key(path)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"token key {path} is open to other users (mode {stat.filemode(mode)}): "
                f"run 'chmod 600 {path}'"
            )
        key = path.read_bytes()
    except OSError as e:
        raise ConfigError(
            f"cannot read or make the token key {path}: {e}; check token_key_file and the "
            "folder's owner and permissions"
        ) from e
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"token key {path} has {len(key)} bytes, fewer than {MIN_KEY_BYTES}: replace it "
            "with random bytes (head -c 32 /dev/urandom) or delete it to have one made"
        )
    return key


def _make_key(path: Path) -> None:
    if not path.parent.is_dir():
        private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(MIN_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        temp.unlink()
