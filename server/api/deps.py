"""Dependencies of the route handlers, as `Annotated` aliases (`SessionDep`, `BlobsDep`,
`CurrentUser`, ...), and `require_role`, which each resource's router declares.

Everything comes from `app.state`, which `create_app` fills: nothing here is created at import
time, and a test's app gets its own engine and settings.

Authentication: a request names its account with `Authorization: Bearer <token>` (a token from
`POST /api/auth/token`). The token is checked (signature, algorithm, expiry), then the account
is looked up (one primary-key read, kept for a few seconds: `account_cache`): a disabled
account's tokens stop working at once when it is disabled by this process, within
`ACCOUNT_CACHE_S` (2 s) when by another, and its role and unit are the account's as they are
now. No credential, or a bad one: 401 with
`WWW-Authenticate: Bearer`; the wrong role: 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from server.api.account_cache import AccountCache
from server.api.params import NO_CONTROL
from server.blobs import BlobStore
from server.errors import CredentialError
from server.models import Role
from server.repository import accounts
from server.repository.audit import Reader
from server.tokens import TokenClaims, TokenSigner

TOKEN_URL = "/api/auth/token"  # noqa: S105 (a path, not a secret)
SIGN_IN_FIRST = (
    f"not signed in: get a token from POST {TOKEN_URL} (form fields username, password) and "
    "send it as 'Authorization: Bearer <access_token>'"
)

# auto_error=False: the 401 below says what to do, not just "Not authenticated".
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


@dataclass(frozen=True)
class Principal:
    """The account a request is made by, as it is now."""

    username: str
    role: Role
    unit: str | None
    """A unit officer's unit (a code of the unit tree); None for the other roles."""


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    engine: Engine = request.app.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for one request, closed when the response is sent.

    Async on purpose: a session connects only when first used (in the handler, on a worker
    thread), so opening it here costs nothing, and a sync dependency would cost two hops to the
    thread pool per request (about a millisecond here, more than a CCCD lookup's query).
    """
    with Session(get_engine(request)) as session:
        yield session


async def get_blobs(request: Request) -> BlobStore:
    """The blob store holding the signed PDFs."""
    blobs: BlobStore = request.app.state.blobs
    return blobs


async def get_tokens(request: Request) -> TokenSigner:
    """The signer of the app's access tokens."""
    tokens: TokenSigner = request.app.state.tokens
    return tokens


def unauthorized(detail: str) -> HTTPException:
    """A 401 that asks for a bearer token (RFC 6750 section 3)."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def get_current_user(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    token: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    """The account the request's bearer token names, checked now.

    The token's check and the cache are quick and run on the event loop; only a cache miss
    reads the database, on a worker thread.

    Raises:
        HTTPException: 401 without a token, with a bad or expired one, or for an account that
            is gone or disabled.
    """
    if not token:
        raise unauthorized(SIGN_IN_FIRST)
    try:
        claims = (await get_tokens(request)).read(token)
    except CredentialError as e:
        raise unauthorized(str(e)) from e
    cache: AccountCache[Principal] = request.app.state.account_cache
    known = cache.get(claims.username, claims.generation)
    if known is not None:
        return known
    return await run_in_threadpool(_load_principal, request, session, claims)


def _load_principal(request: Request, session: Session, claims: TokenClaims) -> Principal:
    """The account `claims` names, read from the database and kept in the account cache."""
    cache: AccountCache[Principal] = request.app.state.account_cache
    changes = accounts.changes()
    account = accounts.get_account(session, claims.username)
    if account is None:
        raise unauthorized(f"account {claims.username} no longer exists: sign in again")
    if account.disabled_at is not None:
        raise unauthorized(f"account {account.username} is disabled: ask a province admin")
    if claims.generation != account.token_generation:
        raise unauthorized(
            f"this token of account {account.username} was issued before its password was "
            "changed or the account was disabled: sign in again"
        )
    principal = Principal(account.username, account.role, account.unit)
    cache.put(claims.username, claims.generation, principal, changes)
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only accounts with one of `roles` through (others: 403).

    Use it on a router (`dependencies=[Depends(require_role(...))]`) so that none of its
    routes can forget it, or as a handler's parameter to get the principal too.
    """
    allowed = ", ".join(r.value for r in roles)

    async def check_role(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"account {user.username} ({user.role.value}) may not do this: it needs "
                f"the role {allowed}; ask a province admin",
            )
        return user

    return check_role


MAX_PURPOSE = 200


async def get_reader(
    request: Request,
    user: CurrentUser,
    purpose: Annotated[
        str | None,
        Query(
            max_length=MAX_PURPOSE,
            pattern=NO_CONTROL,
            description="Why the data is read (audited).",
        ),
    ] = None,
    x_purpose: Annotated[
        str | None,
        Header(
            max_length=MAX_PURPOSE,
            pattern=NO_CONTROL,
            description="Why the data is read (audited).",
        ),
    ] = None,
) -> Reader:
    """Who reads personal data, from where and why, for the audit log."""
    return Reader(
        username=user.username,
        role=user.role.value,
        client=request.client.host if request.client else "?",
        purpose=purpose or x_purpose,
    )


ReaderDep = Annotated[Reader, Depends(get_reader)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
TokensDep = Annotated[TokenSigner, Depends(get_tokens)]
