"""`sohoa server user add|list|disable` through the real command in a subprocess, on SQLite and
PostgreSQL: the password from SOHOA_PASSWORD (never an option), refusals with one line and the
server's exit codes, and an account the API then admits or refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cli.main import ExitCode
from server.api.main import create_app
from server.config import ServerSettings
from server.db import session_scope
from server.repository import accounts
from tests.server.signin import PASSWORD, bearer, token_for


def _sohoa(
    db_url: str, data_dir: Path, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SOHOA_")}
    env |= {"SOHOA_SERVER_DATABASE_URL": db_url, "SOHOA_SERVER_DATA_DIR": str(data_dir)}
    if password is not None:
        env["SOHOA_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "cli", "server", "user", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_add_list_disable_through_the_command(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    added = _sohoa(
        db_url,
        data,
        "add",
        "Officer.B",
        "--role",
        "unit_officer",
        "--unit",
        "UBND xã Vạn Thắng",
        password=PASSWORD,
    )
    assert added.returncode == ExitCode.OK, added.stderr
    assert added.stdout.strip() == "account officer.b added: unit_officer of unit UBND xã Vạn Thắng"
    assert PASSWORD not in added.stdout + added.stderr
    assert (
        _sohoa(
            db_url, data, "add", "admin", "--role", "province_admin", password=PASSWORD
        ).returncode
        == 0
    )

    listed = _sohoa(db_url, data, "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        "admin\tprovince_admin\t-\tactive\tlast sign-in never",
        "officer.b\tunit_officer\tUBND xã Vạn Thắng\tactive\tlast sign-in never",
    ]

    settings = ServerSettings(database_url=db_url, data_dir=data)
    with TestClient(create_app(settings, db_engine)) as client:
        token = token_for(client, "officer.b")
        assert client.get("/api/records", headers=bearer(token)).status_code == 200
        disabled = _sohoa(db_url, data, "disable", "officer.b")
        assert disabled.returncode == 0 and disabled.stdout.strip() == "account officer.b disabled"
        assert client.get("/api/records", headers=bearer(token)).status_code == 401
    assert (
        "officer.b\tunit_officer\tUBND xã Vạn Thắng\tdisabled"
        in _sohoa(db_url, data, "list").stdout
    )


@pytest.mark.slow
def test_refusals_are_one_line_with_the_servers_exit_codes(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    cases = [
        (
            ("add", "admin", "--role", "province_admin"),
            "short",
            ExitCode.SERVER,
            "at least 12 characters",
        ),
        (("add", "admin", "--role", "province_admin"), None, ExitCode.SERVER, "set SOHOA_PASSWORD"),
        (("add", "officer", "--role", "unit_officer"), PASSWORD, ExitCode.SERVER, "needs --unit"),
        (("add", "admin", "--role", "superuser"), PASSWORD, ExitCode.USAGE, "superuser"),
        (("disable", "nobody"), None, ExitCode.SERVER, "no account nobody"),
    ]
    for args, password, code, says in cases:
        done = _sohoa(db_url, data, *args, password=password)
        assert done.returncode == code, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
        if code != ExitCode.USAGE:
            assert done.stderr.count("\n") == 1 and done.stderr.startswith("sohoa: error: ")
    assert (
        _sohoa(db_url, data, "add", "admin", "--role", "auditor", password=PASSWORD).returncode == 0
    )
    again = _sohoa(db_url, data, "add", "ADMIN", "--role", "auditor", password=PASSWORD)
    assert again.returncode == ExitCode.SERVER and "exists already" in again.stderr
    with session_scope(db_engine) as s:
        assert [a.username for a in accounts.list_accounts(s)] == ["admin"]
