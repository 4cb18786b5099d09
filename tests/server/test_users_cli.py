"""`sohoa server user add|list|disable|enable|password` on SQLite and PostgreSQL: the password
from SOHOA_PASSWORD (never an option), a unit officer's unit given by code or name and stored as
a code, refusals with one line and the server's exit codes, and an account the API then admits
or refuses.

Each command runs once as a script (`test_each_command_as_a_script`: what a shell sees, at the
production hashing cost); the other tests run the same commands in-process
(`tests.server.commands`), which spares a process start and the command's imports per call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cli.main import ExitCode
from server.api.main import create_app
from server.db import session_scope
from server.repository import accounts
from tests.server.commands import Done, server_env, sohoa_in_process, sohoa_script
from tests.server.peers import api_settings_for
from tests.server.signin import PASSWORD, bearer, token_for


def _sohoa(db_url: str, data_dir: Path, *args: str, password: str | None = None) -> Done:
    """`sohoa server user ARGS`, in-process."""
    return sohoa_in_process(server_env(db_url, data_dir, password), "server", "user", *args)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_each_command_as_a_script(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    """Each command once through `python -m cli`: its exit status and its output, and the
    production hashing cost when the settings say nothing."""
    data = tmp_path / "data"

    def script(*args: str, password: str | None = None) -> Done:
        env = server_env(db_url, data, password, cheap_hashing=False)
        return sohoa_script(env, "server", "user", *args)

    added = script("add", "Admin", "--role", "province_admin", password=PASSWORD)
    assert (added.returncode, added.stdout) == (
        ExitCode.OK,
        "account admin added: province_admin\n",
    )
    assert PASSWORD not in added.stdout + added.stderr
    with session_scope(db_engine) as s:
        (account,) = accounts.list_accounts(s)
        assert extract_parameters(account.password_hash) == RFC_9106_LOW_MEMORY
    listed = script("list")
    assert (listed.returncode, listed.stdout) == (
        ExitCode.OK,
        "admin\tprovince_admin\t-\tactive\tlast sign-in never\n",
    )
    disabled = script("disable", "admin")
    assert (disabled.returncode, disabled.stdout) == (ExitCode.OK, "account admin disabled\n")
    enabled = script("enable", "admin")
    assert (enabled.returncode, enabled.stdout) == (ExitCode.OK, "account admin enabled\n")
    new = "a new password, long enough"
    changed = script("password", "admin", password=new)
    assert (changed.returncode, changed.stdout) == (
        ExitCode.OK,
        "password of account admin changed\n",
    )
    assert new not in changed.stdout + changed.stderr
    refused = script("disable", "nobody")
    assert refused.returncode == ExitCode.SERVER and refused.stdout == ""
    assert refused.stderr == "sohoa: error: no account nobody: see sohoa server user list\n"


def test_add_list_disable_through_the_command(
    db_url: str, db_engine: Engine, tmp_path: Path, khanh_hoa_units: None
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
    assert (
        added.stdout.strip() == "account officer.b added: unit_officer of unit 22516 (Xã Vạn Thắng)"
    )
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
        "officer.b\tunit_officer\t22516\tactive\tlast sign-in never",
    ]

    settings = api_settings_for(db_url, data)
    with TestClient(create_app(settings, db_engine)) as client:
        token = token_for(client, "officer.b")
        assert client.get("/api/records", headers=bearer(token)).status_code == 200
        disabled = _sohoa(db_url, data, "disable", "officer.b")
        assert disabled.returncode == 0 and disabled.stdout.strip() == "account officer.b disabled"
        assert client.get("/api/records", headers=bearer(token)).status_code == 401
    assert "officer.b\tunit_officer\t22516\tdisabled" in _sohoa(db_url, data, "list").stdout


def test_an_officers_unit_must_be_known(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    args = ("add", "officer", "--role", "unit_officer", "--unit", "22516")
    done = _sohoa(db_url, tmp_path / "data", *args, password=PASSWORD)
    assert done.returncode == ExitCode.SERVER
    assert done.stderr == (
        "sohoa: error: account officer not added: the repository knows no units; import the "
        "units first: sohoa server units import FILE (e.g. server/data/units_khanh_hoa.csv)\n"
    )


def test_enable_and_a_new_password_through_the_command(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert (
        _sohoa(db_url, data, "add", "admin", "--role", "auditor", password=PASSWORD).returncode == 0
    )
    settings = api_settings_for(db_url, data, login_max_failures=2)
    with TestClient(create_app(settings, db_engine)) as client:
        assert _sohoa(db_url, data, "disable", "admin").returncode == 0
        sign_in = {"username": "admin", "password": PASSWORD}
        assert client.post("/api/auth/token", data=sign_in).status_code == 401
        enabled = _sohoa(db_url, data, "enable", "admin")
        assert enabled.returncode == 0 and enabled.stdout.strip() == "account admin enabled"
        assert (
            client.get("/api/devices", headers=bearer(token_for(client, "admin"))).status_code
            == 200
        )

        for _ in range(2):  # locked
            client.post("/api/auth/token", data={"username": "admin", "password": "a wrong guess"})
        assert client.post("/api/auth/token", data=sign_in).status_code == 429
        new = "a new password, long enough"
        changed = _sohoa(db_url, data, "password", "admin", password=new)
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.strip() == "password of account admin changed"
        assert new not in changed.stdout + changed.stderr
        assert token_for(client, "admin", new)  # the lock lifted with the change
        assert client.post("/api/auth/token", data=sign_in).status_code == 401  # the old one
    for args, password, says in (
        (("password", "admin"), "short", "password of admin not changed: "),
        (("password", "admin"), None, "set SOHOA_PASSWORD"),
        (("password", "nobody"), PASSWORD, "no account nobody"),
        (("enable", "nobody"), None, "no account nobody"),
    ):
        done = _sohoa(db_url, data, *args, password=password)
        assert done.returncode == ExitCode.SERVER and says in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("sohoa: error: ")


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
