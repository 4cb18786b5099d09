"""`/api/auth`: signing in (OAuth2 password flow, RFC 6749 section 4.3) and who one is.

`POST /api/auth/token` takes the form fields `username` and `password` and answers a bearer
token good for `token_ttl_s`; repeated wrong passwords lock the account (`login_*` settings),
answered 429 with `Retry-After`. It is the one `/api` route open without a token.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import CurrentUser, SessionDep, TokensDep, unauthorized
from server.errors import AccountLockedError, CredentialError
from server.models import AccessToken, AccountPublic, utc_now
from server.repository import accounts

router = APIRouter(prefix="/auth", tags=["auth"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong username or password, or a disabled account."},
    429: {"description": "Locked after repeated wrong passwords; see Retry-After."},
}


@router.post("/token", responses=_REFUSALS)
def sign_in(
    request: Request,
    session: SessionDep,
    tokens: TokensDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> AccessToken:
    """Sign in with a username and password; answers a bearer token for the other routes."""
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


@router.get("/me")
def who_am_i(session: SessionDep, user: CurrentUser) -> AccountPublic:
    """The account the token belongs to: name, role, unit."""
    account = accounts.get_account(session, user.username)
    return AccountPublic.model_validate(account)
