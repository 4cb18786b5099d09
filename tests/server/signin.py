"""Accounts and bearer tokens for the API tests: an account added through the repository, then
signed in to through `POST /api/auth/token`, as a client would.

Their passwords are hashed at the tests-only cost (`HashingCost.TESTS_ONLY`): the suite signs in
hundreds of times, and a production hash costs up to a second here. Checking a hash reads its
cost from the hash, so the API checks these as it checks production ones;
`tests/server/test_auth.py` checks that production's cost stays the default."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.db import session_scope
from server.models import Role
from server.passwords import HashingCost
from server.repository import accounts

PASSWORD = "correct horse battery staple"


def add_account(
    engine: Engine, name: str, role: Role, unit: str | None = None, password: str = PASSWORD
) -> None:
    """Add an account (argon2id-hashed at the tests-only cost) to the repository behind
    `engine`."""
    with session_scope(engine) as s:
        accounts.add_account(s, name, role, password, unit, hashing=HashingCost.TESTS_ONLY)


def token_for(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in as `name` and return the access token."""
    response = client.post("/api/auth/token", data={"username": name, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    """The request header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


def sign_in(
    client: TestClient,
    engine: Engine,
    role: Role = Role.PROVINCE_ADMIN,
    unit: str | None = None,
    name: str | None = None,
) -> str:
    """Add an account with `role` and make `client` send its token with every request.

    Returns:
        The token.
    """
    name = name or role.value.replace("_", "-")
    add_account(engine, name, role, unit)
    token = token_for(client, name)
    client.headers.update(bearer(token))
    return token
