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
from pathlib import Path

import jwt
import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY
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
from server.errors import AccountError, AccountLockedError, ConfigError, CredentialError
from server.models import Account, LoginFailure, Role
from server.passwords import HashingCost, dummy_hash, hash_password
from server.repository import accounts, devices, records
from server.repository.accounts import LockoutPolicy
from server.tokens import TokenSigner, load_token_key
from tests.server.peers import api_settings_for
from tests.server.signin import PASSWORD, add_account, bearer, sign_in, token_for
from tests.server.test_api import Verdict

OPEN = {
    ("POST", "/api/auth/token"),
    ("POST", "/api/enroll"),
    ("POST", "/api/renew"),
    ("GET", "/healthz"),
}
"""The routes that answer without a token."""

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
    ("POST", "/api/devices/enrollments"): {ADMIN},
    ("GET", "/openapi.json"): {ADMIN, OFFICER, AUDITOR},
    ("GET", "/docs"): {ADMIN, OFFICER, AUDITOR},
    ("GET", "/redoc"): {ADMIN, OFFICER, AUDITOR},
    ("GET", "/api/search"): {ADMIN, OFFICER},
    ("GET", "/api/citizens/{cccd}/results"): {ADMIN, OFFICER},
    ("POST", "/api/results/{record_id}/reuse"): {ADMIN, OFFICER},
    ("GET", "/api/results/{record_id}/export.zip"): {ADMIN, OFFICER},
    ("GET", "/api/audit"): {ADMIN, AUDITOR},
    ("GET", "/api/audit/verify"): {ADMIN, AUDITOR},
    ("GET", "/api/results/{record_id}/versions"): {ADMIN, OFFICER},
    ("POST", "/api/results/{record_id}/corrections"): {ADMIN, OFFICER},
    ("GET", "/api/reports"): {ADMIN, OFFICER},
    ("GET", "/api/review"): {ADMIN, OFFICER},
    ("GET", "/api/review/{kind}/{key}"): {ADMIN, OFFICER},
    ("POST", "/api/review/{kind}/{key}"): {ADMIN, OFFICER},
}
"""Which roles each route admits. A new route must be added here (the tests say so)."""

CHEAP = HashingCost.TESTS_ONLY
"""Passwords here are hashed cheaply (`tests.server.signin`); the dummy hash of a name no
account has is made at the same cost."""
UNIT_A, UNIT_B = "22516", "22528"
"""xã Vạn Thắng and phường Ninh Hòa (Khánh Hòa, since 1 July 2025): unrelated communes."""
MERGED_INTO_A = "22501"
"""xã Vạn Bình, merged into xã Vạn Thắng on 1 July 2025."""


API_PATHS = ("/api/", "/healthz", "/openapi.json", "/docs", "/redoc")
"""The API's paths (and its description's); the rest are the web pages
(`tests/server/web/test_page_roles.py` walks those)."""
STATIC = "/static"
"""The pages' stylesheet: the one mount, serving files that hold no data."""


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, API and pages; routers included in routers too
    (FastAPI keeps those nested in `app.routes`). The stylesheet's mount is the only route not
    of FastAPI's own making."""
    found = []
    for context in iter_route_contexts(app.routes):
        if str(context.path) == STATIC:
            continue
        assert isinstance(context.original_route, APIRoute), f"a route of its own: {context.path}"
        found += [(method, str(context.path)) for method in sorted(context.methods or ())]
    return found


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the API, its description and its readers included."""
    found = [r for r in every_route(app) if r[1].startswith(API_PATHS)]
    assert len(found) >= len(ALLOWED) + len(OPEN)  # the walk found them all, not just a few
    return found


def _call(client: TestClient, method: str, path: str, **kwargs: object) -> tuple[int, str]:
    url = re.sub(r"\{[^}]+\}", "x", path)
    body = {"json": {"name": "ping"}} if method == "POST" else {}
    response = client.request(method, url, **body, **kwargs)  # type: ignore[arg-type]
    try:
        answer = response.json()
    except ValueError:
        answer = None
    detail = str(answer.get("detail", "")) if isinstance(answer, dict) else ""
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


def _store(settings: ServerSettings, engine: Engine, device_id: str, unit_code: str | None) -> str:
    """A record sent by `device_id`, a device of unit `unit_code` (None: of no unit in the tree)."""
    pdf = f"%PDF {device_id}".encode()
    with session_scope(engine) as s:
        if devices.get_device(s, device_id) is None:
            devices.register_device(
                s, device_id, "Tổ một cửa", sha256_hex(device_id.encode()), unit_code=unit_code
            )
        return records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields={"ho_ten": "Trần Thị Bích"},
            verdict=Verdict(),
            pdf_path=BlobStore(settings.data_dir).put(pdf),
            pdf_size=len(pdf),
        ).record_id


def test_a_unit_officer_sees_only_its_units_records(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    mine = [_store(api_settings, db_engine, f"unit-a-{i}.kiosk", UNIT_A) for i in range(2)]
    theirs = [_store(api_settings, db_engine, "unit-b.kiosk", UNIT_B)]
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


def test_an_officer_of_a_merged_commune_sees_the_results_of_the_communes_merged_into_it(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    """xã Vạn Thắng (22516) took in xã Vạn Bình (22501) on 1 July 2025: its officer sees a
    result of Vạn Bình's, not one of phường Ninh Hòa's, nor one of no unit in the tree (that
    one only a province admin sees)."""
    van_binh = _store(api_settings, db_engine, "van-binh.kiosk", MERGED_INTO_A)
    ninh_hoa = _store(api_settings, db_engine, "ninh-hoa.kiosk", UNIT_B)
    nowhere = _store(api_settings, db_engine, "no-unit.kiosk", None)
    with session_scope(db_engine) as s:
        assert records.get_record(s, van_binh).unit_code == MERGED_INTO_A  # type: ignore[union-attr]
        assert records.get_record(s, nowhere).unit_code is None  # type: ignore[union-attr]
    sign_in(client, db_engine, OFFICER, unit=UNIT_A, name="officer-van-thang")
    page = client.get("/api/records").json()
    assert [r["id"] for r in page["data"]] == [van_binh] and page["count"] == 1
    assert client.get(f"/api/records/{van_binh}").status_code == 200
    assert client.get(f"/api/records/{ninh_hoa}").status_code == 403
    assert client.get(f"/api/records/{nowhere}").status_code == 403
    add_account(db_engine, "admin", ADMIN)
    admin = token_for(client, "admin")
    every = client.get("/api/records", headers=bearer(admin)).json()
    assert {r["id"] for r in every["data"]} == {van_binh, ninh_hoa, nowhere}


# --- tokens ---------------------------------------------------------------------------------------


def test_sign_in_answers_a_bearer_token_that_names_the_account(
    client: TestClient, db_engine: Engine, api_settings: ServerSettings
) -> None:
    add_account(db_engine, "officer.a", OFFICER, UNIT_A)
    response = client.post("/api/auth/token", data={"username": "Officer.A", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == api_settings.token_ttl_s
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["unit"]) == ("officer.a", "unit_officer", UNIT_A)
    assert claims["exp"] - claims["iat"] == api_settings.token_ttl_s
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
    client: TestClient, db_engine: Engine, api_settings: ServerSettings, forge: str
) -> None:
    add_account(db_engine, "auditor", AUDITOR)
    now = dt.datetime.now(dt.UTC)
    good = TokenSigner(_key(api_settings), api_settings.token_ttl_s).issue(
        "auditor", "auditor", None, now
    )
    assert client.get("/api/devices", headers=bearer(good)).status_code == 200
    claims = jwt.decode(good, options={"verify_signature": False})
    if forge == "expired":
        token = TokenSigner(_key(api_settings), 60).issue(
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


@pytest.mark.parametrize("change", ["disabled then enabled", "new password"])
def test_tokens_issued_before_a_disabling_or_a_new_password_stay_void(
    client: TestClient, db_engine: Engine, change: str
) -> None:
    """Enabling an account again must not bring back the tokens of before its disabling, and a
    new password must void the tokens of whoever held the old one."""
    old = sign_in(client, db_engine, ADMIN, name="changed")
    assert client.get("/api/devices", headers=bearer(old)).status_code == 200
    with session_scope(db_engine) as s:
        if change == "new password":
            accounts.set_password(s, "changed", PASSWORD + "-new")
        else:
            accounts.disable_account(s, "changed", dt.datetime.now(dt.UTC))
            accounts.enable_account(s, "changed")
    refused = client.get("/api/devices", headers=bearer(old))
    assert refused.status_code == 401
    assert "sign in again" in refused.json()["detail"]
    password = PASSWORD + "-new" if change == "new password" else PASSWORD
    fresh = token_for(client, "changed", password)
    assert client.get("/api/devices", headers=bearer(fresh)).status_code == 200


# --- lock-out ------------------------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_account_then_it_opens_again(
    db_url: str, db_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A lock of 4 s: long enough that a loaded machine still asks again while it holds.
    settings = api_settings_for(db_url, tmp_path / "data", login_max_failures=3, login_lockout_s=4)
    add_account(db_engine, "admin", ADMIN)
    wrong = {"username": "admin", "password": "Tr0ub4dor&3-guess"}
    with TestClient(create_app(settings, db_engine)) as client, caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert client.post("/api/auth/token", data=wrong).status_code == 401
        right = {"username": "admin", "password": PASSWORD}
        locked = client.post("/api/auth/token", data=right)
        assert locked.status_code == 429
        assert "sign-in is locked until" in locked.json()["detail"]
        assert 1 <= int(locked.headers["retry-after"]) <= 4
        with session_scope(db_engine) as s:
            until = accounts.get_account(s, "admin").locked_until  # type: ignore[union-attr]
        wait = (until - dt.datetime.now(dt.UTC)).total_seconds() if until else 0
        time.sleep(max(0.0, wait) + 0.1)
        assert client.post("/api/auth/token", data=right).status_code == 200
    logged = caplog.text
    assert "account admin locked until" in logged and "wrong password" in logged
    assert wrong["password"] not in logged and PASSWORD not in logged


def _answers(client: TestClient, username: str, passwords: list[str]) -> list[tuple[int, str]]:
    """What sign-ins as `username` with each of `passwords` are answered (the name blanked)."""
    answers = []
    for password in passwords:
        response = client.post("/api/auth/token", data={"username": username, "password": password})
        detail = str(response.json().get("detail", "")).replace(username, "NAME")
        answers.append((response.status_code, re.sub(r"\d\d:\d\d", "HH:MM", detail)))
    return answers


def test_an_unknown_name_is_answered_like_a_known_one_through_the_lock_out(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    """Only a name that exists used to lock: 429 after a few guesses told a guesser which
    names exist. An unknown name gets the same answers, in the same order."""
    settings = api_settings_for(db_url, tmp_path / "data", login_max_failures=3, login_lockout_s=60)
    add_account(db_engine, "tran.lan", ADMIN)
    guesses = ["guess number one", "guess number two", "guess number three", PASSWORD, "four"]
    with TestClient(create_app(settings, db_engine)) as client:
        known = _answers(client, "tran.lan", guesses)
        unknown = _answers(client, "tran.mai", guesses)
    assert [status for status, _ in known] == [401, 401, 401, 429, 429]
    assert unknown == known
    with session_scope(db_engine) as s:  # the table keeps no name typed
        (row,) = s.exec(select(LoginFailure)).all()
        assert "tran.mai" not in str(row.model_dump()) and row.locked_until is not None


def test_failures_of_unknown_names_are_forgotten_once_over(db_engine: Engine) -> None:
    policy = LockoutPolicy(
        max_failures=3, window_s=60, lockout_s=120, name_key=b"k" * 32, hashing=CHEAP
    )
    start = dt.datetime.now(dt.UTC)
    with session_scope(db_engine) as s:
        for i in range(20):  # a guesser trying many names, each once
            with pytest.raises(CredentialError):
                accounts.sign_in(s, f"name-{i}", "wrong one!", now=start, policy=policy)
        for _ in range(3):  # and one name until it locks
            with pytest.raises(CredentialError):
                accounts.sign_in(s, "locked", "wrong one!", now=start, policy=policy)
        assert len(s.exec(select(LoginFailure)).all()) == 21
        later = start + dt.timedelta(seconds=61)  # the window is over, the lock is not
        with pytest.raises(CredentialError):
            accounts.sign_in(s, "another", "wrong one!", now=later, policy=policy)
        assert len(s.exec(select(LoginFailure)).all()) == 2  # the locked name and "another"
        with pytest.raises(AccountLockedError):
            accounts.sign_in(s, "locked", "wrong one!", now=later, policy=policy)


def test_failures_spread_beyond_the_window_do_not_lock(db_engine: Engine) -> None:
    add_account(db_engine, "admin", ADMIN)
    policy = LockoutPolicy(max_failures=3, window_s=60, lockout_s=900, hashing=CHEAP)
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
    """At production's cost unless told otherwise: the settings' default, the repository's and
    the password module's (the other tests hash at the tests-only cost, for speed)."""
    assert ServerSettings().password_hashing is HashingCost.PRODUCTION
    with session_scope(db_engine) as s:
        accounts.add_account(s, "admin", ADMIN, PASSWORD)
        rows = s.exec(select(Account)).all()
    assert len(rows) == 1 and rows[0].password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    for made in (rows[0].password_hash, hash_password(PASSWORD), dummy_hash()):
        assert extract_parameters(made) == RFC_9106_LOW_MEMORY  # argon2id, 64 MiB, t=3, p=4
    every_value = " ".join(str(v) for v in rows[0].model_dump().values())
    assert PASSWORD not in every_value
    if db_url.startswith("sqlite:///"):  # nor anywhere in the database's files
        path = Path(db_url.removeprefix("sqlite:///"))
        for part in path.parent.glob(path.name + "*"):
            assert PASSWORD.encode() not in part.read_bytes()


def test_an_officers_unit_is_a_code_given_as_a_code_or_a_name(
    db_engine: Engine, khanh_hoa_units: None
) -> None:
    with session_scope(db_engine) as s:
        by_code = accounts.add_account(s, "officer-1", OFFICER, PASSWORD, UNIT_A)
        by_name = accounts.add_account(s, "officer-2", OFFICER, PASSWORD, "UBND xã Vạn Thắng")
        assert by_code.unit == by_name.unit == UNIT_A
        with pytest.raises(AccountError, match="no unit 99999 is in force"):
            accounts.add_account(s, "officer-3", OFFICER, PASSWORD, "99999")
        with pytest.raises(AccountError, match="no unit 571 is in force"):  # a former district
            accounts.add_account(s, "officer-3", OFFICER, PASSWORD, "571")
        with pytest.raises(AccountError, match=r"no unit in force on .* is named 'Tổ một cửa'"):
            accounts.add_account(s, "officer-3", OFFICER, PASSWORD, "Tổ một cửa")
        # in force on the day given: Vạn Bình, before it merged
        early = accounts.add_account(
            s, "officer-4", OFFICER, PASSWORD, "UBND xã Vạn Bình", day=dt.date(2025, 6, 1)
        )
        assert early.unit == MERGED_INTO_A


def test_an_officer_is_refused_until_the_units_are_imported(db_engine: Engine) -> None:
    with session_scope(db_engine) as s, pytest.raises(AccountError) as refused:
        accounts.add_account(s, "officer", OFFICER, PASSWORD, UNIT_A)
    assert "import the units first: sohoa server units import" in str(refused.value)


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


def test_the_openapi_description_names_the_sign_in(client: TestClient, db_engine: Engine) -> None:
    sign_in(client, db_engine, AUDITOR)
    assert client.get("/docs").headers["content-type"].startswith("text/html")
    schema = client.get("/openapi.json").json()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/auth/token"
    assert "429" in schema["paths"]["/api/auth/token"]["post"]["responses"]
