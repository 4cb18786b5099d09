"""The API keeps the accounts it checked for a few seconds (`server.api.account_cache`), and
yet a disabling stops the account's tokens at once when this process made it (tested in
`test_auth.py`) and within `ACCOUNT_CACHE_S` when another process did: `sohoa server user
disable` beside a running API, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.api.account_cache import ACCOUNT_CACHE_S
from server.api.main import create_app
from server.config import ServerSettings
from server.models import Role
from tests.server.signin import sign_in

ROOT = Path(__file__).parents[2]


def test_a_disabling_by_another_process_stops_the_tokens_within_the_cache_time(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    settings = ServerSettings(database_url=db_url, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, db_engine)) as client:
        sign_in(client, db_engine, Role.AUDITOR, name="leaving")
        assert client.get("/api/devices").status_code == 200  # the account is cached now
        done = subprocess.run(
            [sys.executable, "-c", "from cli.main import main; main()", "server", "user",
             "disable", "leaving"],
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "SOHOA_SERVER_DATABASE_URL": db_url,
                "SOHOA_SERVER_DATA_DIR": str(tmp_path / "data"),
            },
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "disabled" in done.stdout, done.stdout + done.stderr
        disabled_at = time.monotonic()
        while (status := client.get("/api/devices").status_code) == 200:
            if time.monotonic() - disabled_at > ACCOUNT_CACHE_S + 1.0:
                break
            time.sleep(0.05)
        assert status == 401, "the disabled account's token still works"
        refused = client.get("/api/devices")
        assert refused.json()["detail"] == "account leaving is disabled: ask a province admin"
