"""Running `sohoa server …` commands in tests: as a script (`python -m cli` in a subprocess, the
exit-code and output contract a shell sees) or in-process through Typer's runner (the same
command and error mapping, without paying the command's imports again, ~2-3 s a process here).

Both read their settings from `SOHOA_SERVER_*` variables only: every `SOHOA_*` variable of the
test's own environment is left out. A test keeps one script run per command for its contract
and runs the rest in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from server.passwords import HashingCost


@dataclass(frozen=True)
class Done:
    """How a command ended: its exit status and what it wrote."""

    returncode: int
    stdout: str
    stderr: str


def server_env(
    db_url: str, data_dir: Path, password: str | None = None, *, cheap_hashing: bool = True
) -> dict[str, str]:
    """The `SOHOA_*` variables of a command on `db_url`: the password in `SOHOA_PASSWORD` when
    given, passwords hashed at the tests-only cost unless `cheap_hashing` is False."""
    env = {"SOHOA_SERVER_DATABASE_URL": db_url, "SOHOA_SERVER_DATA_DIR": str(data_dir)}
    if cheap_hashing:
        env["SOHOA_SERVER_PASSWORD_HASHING"] = HashingCost.TESTS_ONLY.value
    if password is not None:
        env["SOHOA_PASSWORD"] = password
    return env


def _without_sohoa() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SOHOA_")}


def sohoa_script(env: dict[str, str], *args: str) -> Done:
    """Run `sohoa ARGS` as a script, in a subprocess, with `env`'s `SOHOA_*` variables."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_without_sohoa() | env,
        stdin=subprocess.DEVNULL,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def sohoa_in_process(env: dict[str, str], *args: str) -> Done:
    """Run `sohoa ARGS` in this process (Typer's runner: no terminal on stdin), with `env`'s
    `SOHOA_*` variables and none of the test's own."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.upper().startswith("SOHOA_")}
    done = CliRunner().invoke(app, list(args), env=unset | env)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception  # a bug, not one of our errors: its traceback is the report
    return Done(done.exit_code, done.stdout, done.stderr)
