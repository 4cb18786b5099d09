"""Helpers of the web pages' tests: a repository with synthetic results and one account per
role, and signing in through the sign-in form as a browser does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.models import MergeState, Record, Role
from server.seed import seed
from tests.server.signin import PASSWORD, add_account

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HTTPS = "https://testserver"
"""The test client's address: the session cookie is Secure, so it travels over HTTPS only."""


@dataclass(frozen=True)
class Repository:
    """What a pages test finds in its repository."""

    unit: str
    """The officer's unit (the unit with most results)."""
    mine: str
    """A current result of that unit."""
    theirs: str
    """A result of another unit, none of the officer's."""


ACCOUNTS = {
    "admin": (Role.PROVINCE_ADMIN, None),
    "auditor": (Role.AUDITOR, None),
}


def fill(engine: Engine, data_dir: Path, results: int = 150) -> Repository:
    """Seed `results` synthetic results and add the accounts admin, auditor and officer (of
    the unit with the most results)."""
    seed(engine, data_dir, results, seed_value=7)
    with Session(engine) as s:
        count = sa.func.count()
        unit = s.exec(
            select(Record.unit_code).group_by(col(Record.unit_code)).order_by(count.desc())
        ).first()
        assert unit is not None
        mine = s.exec(
            select(Record.id).where(
                Record.unit_code == unit, Record.merge_state == MergeState.CURRENT
            )
        ).first()
        theirs = s.exec(select(Record.id).where(Record.unit_code != unit)).first()
    assert mine is not None and theirs is not None
    for name, (role, _) in ACCOUNTS.items():
        add_account(engine, name, role)
    add_account(engine, "officer", Role.UNIT_OFFICER, unit)
    return Repository(unit, mine, theirs)


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "") -> str:
    """Sign in through the form as `name`; returns the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={
            "username": name,
            "password": password,
            "csrf": csrf_of(form.text),
            "next": next_path,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get(response.headers["location"])
    assert home.status_code == 200, home.text
    return csrf_of(home.text)
