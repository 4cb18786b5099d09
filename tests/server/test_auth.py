"""Accounts, roles and sign-in on a real repository (SQLite and PostgreSQL): every route but the
sign-in and /healthz refuses an anonymous caller (found by walking `app.routes`, so a new route
cannot be forgotten), each role reaches only its routes, and expired, forged and disabled
credentials and repeated wrong passwords are refused with a reason."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from protocol.messages import sha256_hex
from server.api.main import create_app
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.errors import AccountError, ConfigError, CredentialError
from server.models import Account, Role
from server.repository import accounts, devices, records
from server.repository.accounts import LockoutPolicy
from server.tokens import TokenSigner, load_token_key
from tests.server.signin import PASSWORD, add_account, bearer, sign_in, token_for
from tests.server.test_api import Verdict

OPEN = {("POST", "/api/auth/token"), ("GET", "/healthz")}
"""The routes that answer without a token."""
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""FastAPI's own pages: the API's description, no data."""

ADMIN, OFFICER, AUDITOR = Role.PROVINCE_ADMIN, Role.UNIT_OFFICER, Role.AUDITOR
ALLOWED: dict[tuple[str, str], set[Role]] = {
    ("GET", "/api/auth/me"): {ADMIN, OFFICER, AUDITOR},
    ("GET", "/api/records"): {ADMIN, OFFICER},
    ("GET", "/api/records/{record_id}"): {ADMIN, OFFICER},
    ("GET", "/api/records/{record_id}/pdf"): {ADMIN, OFFICER},
    ("GET", "/api/devices"): {ADMIN, AUDITOR},
    ("GET", "/api/devices/summary"): {ADMIN, AUDITOR},
    ("GET", "/api/devices/{device_id}"): {ADMIN, AUDITOR},
    ("GET", "/api/devices/{device_id}/commands"): {ADMIN, AUDITOR},
    ("POST", "/api/devices/{device_id}/commands"): {ADMIN},
    ("GET", "/api/search"): {ADMIN, OFFICER},
    ("GET", "/api/citizens/{cccd}/results"): {ADMIN, OFFICER},
    ("POST", "/api/results/{record_id}/reuse"): {ADMIN, OFFICER},
}
"""Which roles each route admits. A new route must be added here (the tests say so)."""

UNIT_A, UNIT_B = "UBND xã Vạn Thắng", "UBND phường Ninh Hiệp"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: ServerSettings, db_engine: Engine) -> FastAPI:
    return create_app(settings, db_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, FastAPI's documentation pages apart; routers
    included in routers too (FastAPI keeps those nested in `app.routes`)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found += [(method, str(context.path)) for method in sorted(context.methods or ())]
        else:
            assert context.path in DOCS, f"a route outside the API: {context.path}"
    assert len(found) >= len(ALLOWED) + len(OPEN)  # the walk found them all, not just a few
    return found


def _call(client: TestClient, method: str, path: str, **kwargs: object) -> tuple[int, str]:
    url = re.sub(r"\{[^}]+\}", "x", path)
    body = {"json": {"name": "ping"}} if method == "POST" else {}
    response = client.request(method, url, **body, **kwargs)  # type: ignore[arg-type]
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = ""
    return response.status_code, detail


# --- 401 for anonymous callers, 403 for the wrong role ------------------------------------------


def test_every_route_but_sign_in_and_health_refuses_an_anonymous_caller(
    app: FastAPI, client: TestClient
) -> None:
    routes = _routes(app)
    assert set(routes) >= OPEN
    for method, path in routes:
        if (method, path) in OPEN:
            continue
        response = client.request(method, re.sub(r"\{[^}]+\}", "x", path), json={"name": "ping"})
        assert response.status_code == 401, f"{method} {path} answers without a token"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "POST /api/auth/token" in response.json()["detail"]


def test_each_role_reaches_exactly_its_routes(
    app: FastAPI, client: TestClient, db_engine: Engine
) -> None:
    tokens = {}
    for role in Role:
        add_account(
            db_engine, role.value.replace("_", "-"), role, UNIT_A if role is OFFICER else None
        )
        tokens[role] = token_for(client, role.value.replace("_", "-"))
    routes = [r for r in _routes(app) if r not in OPEN]
    assert set(routes) == set(ALLOWED), "a route's roles are not in ALLOWED: add them"
    for method, path in routes:
        for role in Role:
            status, detail = _call(client, method, path, headers=bearer(tokens[role]))
            if role in ALLOWED[method, path]:
                assert status not in (401, 405) and "needs the role" not in detail, (
                    f"{role.value} refused at {method} {path}: {status} {detail}"
                )
            else:
                assert status == 403, f"{role.value} let through at {method} {path}: {status}"
                assert (
                    f"({role.value}) may not do this" in detail and "ask a province admin" in detail
                )


def test_a_unit_officer_sees_only_its_units_records(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    mine: list[str] = []
    theirs: list[str] = []
    with session_scope(db_engine) as s:
        for device_id, unit, kept in (
            ("unit-a.kiosk", UNIT_A, mine),
            ("unit-b.kiosk", UNIT_B, theirs),
        ):
            devices.register_device(s, device_id, unit, sha256_hex(device_id.encode()))
            for i in range(2):
                pdf = f"%PDF {device_id} {i}".encode()
                kept.append(
                    records.merge_result(
                        s,
                        result_id=sha256_hex(pdf),
                        device_id=device_id,
                        fields={"ho_ten": "Trần Thị Bích"},
                        verdict=Verdict(),
                        pdf_path=BlobStore(settings.data_dir).put(pdf),
                        pdf_size=len(pdf),
                    ).record_id
                )
    sign_in(client, db_engine, OFFICER, unit=UNIT_A)
    page = client.get("/api/records").json()
    assert page["count"] == 2 and {r["id"] for r in page["data"]} == set(mine)
    assert client.get(f"/api/records/{mine[0]}").status_code == 200
    assert client.get(f"/api/records/{mine[0]}/pdf").status_code == 200
    # Another unit's record and one that does not exist are answered alike: no existence leak.
    for path in (f"/api/records/{theirs[0]}", f"/api/records/{theirs[0]}/pdf"):
        other = client.get(path)
        missing = client.get(path.replace(theirs[0], "no-such-record"))
        assert other.status_code == missing.status_code == 403
        assert other.json()["detail"].replace(theirs[0], "?") == missing.json()["detail"].replace(
            "no-such-record", "?"
        )
        assert UNIT_A in other.json()["detail"] and UNIT_B not in other.json()["detail"]


# --- tokens ---------------------------------------------------------------------------------------


def test_sign_in_answers_a_bearer_token_that_names_the_account(
    client: TestClient, db_engine: Engine, settings: ServerSettings
) -> None:
    add_account(db_engine, "officer.a", OFFICER, UNIT_A)
    response = client.post("/api/auth/token", data={"username": "Officer.A", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == settings.token_ttl_s
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["unit"]) == ("officer.a", "unit_officer", UNIT_A)
    assert claims["exp"] - claims["iat"] == settings.token_ttl_s
    me = client.get("/api/auth/me", headers=bearer(body["access_token"])).json()
    assert (me["username"], me["role"], me["unit"]) == ("officer.a", "unit_officer", UNIT_A)
    assert "password_hash" not in me


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, db_engine: Engine
) -> None:
    add_account(db_engine, "admin", ADMIN)
    wrong = client.post("/api/auth/token", data={"username": "admin", "password": "not it at all"})
    nobody = client.post("/api/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json() == {"detail": accounts.WRONG_CREDENTIALS}
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/auth/token", data={"username": "admin"}).status_code == 422


def _key(settings: ServerSettings) -> bytes:
    return load_token_key(settings.token_key_path)


@pytest.mark.parametrize(
    "forge",
    ["expired", "wrong key", "alg none", "role raised", "not a jwt"],
)
def test_expired_and_forged_tokens_are_refused(
    client: TestClient, db_engine: Engine, settings: ServerSettings, forge: str
) -> None:
    add_account(db_engine, "auditor", AUDITOR)
    now = dt.datetime.now(dt.UTC)
    good = TokenSigner(_key(settings), settings.token_ttl_s).issue("auditor", "auditor", None, now)
    assert client.get("/api/devices", headers=bearer(good)).status_code == 200
    claims = jwt.decode(good, options={"verify_signature": False})
    if forge == "expired":
        token = TokenSigner(_key(settings), 60).issue(
            "auditor", "auditor", None, now - dt.timedelta(seconds=61)
        )
    elif forge == "wrong key":
        token = jwt.encode(claims, os.urandom(32), algorithm="HS256")
    elif forge == "alg none":
        token = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    elif forge == "role raised":  # the payload changed, the signature kept
        header, _, signature = good.split(".")
        raised = jwt.encode({**claims, "role": "province_admin"}, b"k" * 32).split(".")[1]
        token = f"{header}.{raised}.{signature}"
    else:
        token = "not-a-jwt"
    response = client.get("/api/devices", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    expected = "has expired" if forge == "expired" else "is not valid"
    assert expected in response.json()["detail"] and "sign in again" in response.json()["detail"]


def test_a_disabled_accounts_token_stops_working_at_once(
    client: TestClient, db_engine: Engine
) -> None:
    token = sign_in(client, db_engine, ADMIN, name="leaving")
    assert client.get("/api/devices").status_code == 200
    with session_scope(db_engine) as s:
        accounts.disable_account(s, "leaving", dt.datetime.now(dt.UTC))
    refused = client.get("/api/devices", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "account leaving is disabled: ask a province admin"
    again = client.post("/api/auth/token", data={"username": "leaving", "password": PASSWORD})
    assert again.status_code == 401 and "disabled" in again.json()["detail"]
    guess = client.post("/api/auth/token", data={"username": "leaving", "password": "a guess x"})
    assert guess.json()["detail"] == accounts.WRONG_CREDENTIALS  # no news for a guesser


# --- lock-out ------------------------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_account_then_it_opens_again(
    db_url: str, db_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServerSettings(
        database_url=db_url, data_dir=tmp_path / "data", login_max_failures=3, login_lockout_s=2
    )
    add_account(db_engine, "admin", ADMIN)
    wrong = {"username": "admin", "password": "Tr0ub4dor&3-guess"}
    with TestClient(create_app(settings, db_engine)) as client, caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert client.post("/api/auth/token", data=wrong).status_code == 401
        right = {"username": "admin", "password": PASSWORD}
        locked = client.post("/api/auth/token", data=right)
        assert locked.status_code == 429
        assert "sign-in is locked until" in locked.json()["detail"]
        assert 1 <= int(locked.headers["retry-after"]) <= 2
        with session_scope(db_engine) as s:
            until = accounts.get_account(s, "admin").locked_until  # type: ignore[union-attr]
        wait = (until - dt.datetime.now(dt.UTC)).total_seconds() if until else 0
        time.sleep(max(0.0, wait) + 0.1)
        assert client.post("/api/auth/token", data=right).status_code == 200
    logged = caplog.text
    assert "account admin locked until" in logged and "wrong password" in logged
    assert wrong["password"] not in logged and PASSWORD not in logged


def test_failures_spread_beyond_the_window_do_not_lock(db_engine: Engine) -> None:
    add_account(db_engine, "admin", ADMIN)
    policy = LockoutPolicy(max_failures=3, window_s=60, lockout_s=900)
    start = dt.datetime.now(dt.UTC)
    with session_scope(db_engine) as s:
        for minute in (0, 0.5, 1.5, 2.0):  # never three within one minute
            now = start + dt.timedelta(minutes=minute)
            with pytest.raises(CredentialError, match="wrong username or password"):
                accounts.sign_in(s, "admin", "wrong one!", now=now, policy=policy)
        account = accounts.sign_in(
            s, "admin", PASSWORD, now=start + dt.timedelta(minutes=2.1), policy=policy
        )
        assert account.failed_logins == 0 and account.locked_until is None


# --- accounts and their passwords ---------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes_only(db_engine: Engine, db_url: str) -> None:
    add_account(db_engine, "admin", ADMIN)
    with session_scope(db_engine) as s:
        rows = s.exec(select(Account)).all()
    assert len(rows) == 1 and rows[0].password_hash.startswith("$argon2id$v=19$m=65536")
    every_value = " ".join(str(v) for v in rows[0].model_dump().values())
    assert PASSWORD not in every_value
    if db_url.startswith("sqlite:///"):  # nor anywhere in the database's files
        path = Path(db_url.removeprefix("sqlite:///"))
        for part in path.parent.glob(path.name + "*"):
            assert PASSWORD.encode() not in part.read_bytes()


def test_accounts_refuse_bad_names_weak_passwords_and_misplaced_units(db_engine: Engine) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(AccountError, match="at least 12 characters"):
            accounts.add_account(s, "admin", ADMIN, "short")
        with pytest.raises(AccountError, match="not valid"):
            accounts.add_account(s, "bad name", ADMIN, PASSWORD)
        with pytest.raises(AccountError, match="needs --unit"):
            accounts.add_account(s, "officer", OFFICER, PASSWORD)
        with pytest.raises(AccountError, match="only a unit officer has a unit"):
            accounts.add_account(s, "auditor", AUDITOR, PASSWORD, UNIT_A)
        accounts.add_account(s, "admin", ADMIN, PASSWORD)
        with pytest.raises(AccountError, match="exists already"):
            accounts.add_account(s, "ADMIN", ADMIN, PASSWORD)


# --- the token key --------------------------------------------------------------------------------


def test_the_token_key_is_made_private_and_refused_when_open_or_short(tmp_path: Path) -> None:
    path = tmp_path / "data" / "token-key"
    key = load_token_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_token_key(path) == key  # made once, then read
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_token_key(path)
    path.chmod(0o600)
    path.write_bytes(b"too short")
    with pytest.raises(ConfigError, match="fewer than 32"):
        create_app(ServerSettings(data_dir=tmp_path / "data"))
