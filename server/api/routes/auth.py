"""`/api/auth`: signing in (OAuth2 password flow, RFC 6749 section 4.3) and who one is.

`POST /api/auth/token` takes the form fields `username` and `password` and answers a bearer
token good for `token_ttl_s`; repeated wrong passwords lock the account (`login_*` settings),
answered 429 with `Retry-After`. It is the one `/api` route open without a token.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import CurrentUser, SessionDep, TokensDep, unauthorized
from server.api.responses import errors
from server.errors import AccountLockedError, CredentialError
from server.models import AccessToken, AccountPublic, utc_now
from server.repository import accounts

router = APIRouter(prefix="/auth", tags=["auth"])

_REFUSALS = errors(
    400,
    401,
    429,
    _401="Wrong username or password, or a disabled account.",
    _429="Locked after repeated wrong passwords; `Retry-After` says for how many seconds.",
)


@router.post("/token", responses=_REFUSALS)
def sign_in(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> AccessToken:
    """Sign in with a username and password; answers a bearer token for the other routes."""
    if any(ord(c) < 32 or ord(c) == 127 for c in form.username):
        # No account's name has one, and PostgreSQL cannot even compare a NUL: refused here.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "username"),
                    "msg": "username contains control characters: send the account's name",
                    "input": form.username,
                }
            ]
        )
    now = utc_now()
    try:
        account = accounts.sign_in(
            session,
            form.username,
            form.password,
            now=now,
            policy=request.app.state.lockout,
            client=request.client.host if request.client else "?",
        )
    except AccountLockedError as e:
        wait = max(1, math.ceil((e.until - now).total_seconds()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, detail=str(e), headers={"Retry-After": str(wait)}
        ) from e
    except CredentialError as e:
        raise unauthorized(str(e)) from e
    token = tokens.issue(
        account.username, account.role.value, account.unit, now, account.token_generation
    )
    return AccessToken(access_token=token, expires_in=tokens.ttl_s)


@router.get("/me", responses=errors(401))
def who_am_i(session: SessionDep, user: CurrentUser) -> AccountPublic:
    """The account the token belongs to: name, role, unit."""
    account = accounts.get_account(session, user.username)
    return AccountPublic.model_validate(account)
