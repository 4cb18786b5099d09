"""`sohoa`'s exit codes, as a script sees them: one documented code per kind of failure and per
package family, one line on stderr without a traceback, `--verbose` for the log and the
traceback, Click's 2 for usage errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.errors import DemoError
from cli.main import EXIT_CODES, ExitCode, app, exit_code_for
from edge.errors import ConfigError as EdgeConfigError
from edge.errors import EdgeError, IncompleteError, TokenError
from harness.errors import HarnessError
from protocol.errors import ProtocolError, TopicError
from provisioning.errors import CertificateError, ProvisioningError
from server.errors import ConfigError as ServerConfigError
from server.errors import RepositoryError, ServerError

README = Path(__file__).parents[2] / "README.md"


def sohoa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command (`python -m cli`) with no SOHOA_* settings in its environment."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("SOHOA_")}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean | (env or {}),
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command writes on stderr (no traceback, nothing else)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sohoa: error: ") and "Traceback" not in done.stderr
    return lines[0]


def test_a_missing_configuration_gives_the_same_code_under_edge_and_server(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.toml"
    edge = sohoa("edge", "sync", "--config", str(missing))
    server = sohoa("server", "run", "--config", str(missing))
    assert edge.returncode == server.returncode == ExitCode.CONFIG
    assert one_error_line(edge) == f"sohoa: error: edge configuration file not found: {missing}"
    assert one_error_line(server) == (
        f"sohoa: error: server configuration file not found: {missing}"
    )


def test_a_misspelt_variable_is_a_configuration_error_too() -> None:
    done = sohoa("edge", "sync", env={"SOHOA_EDGE_DEVICE_ID": "x", "SOHOA_EDGE_BROKR_HOST": "y"})
    assert done.returncode == ExitCode.CONFIG
    assert "SOHOA_EDGE_BROKR_HOST" in one_error_line(done)


def test_verbose_turns_info_logging_on_and_shows_the_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    quiet = sohoa("edge", "sync", "--config", missing)
    assert " INFO " not in quiet.stderr
    for flag in ("--verbose", "-v"):
        loud = sohoa(flag, "edge", "sync", "--config", missing)
        assert loud.returncode == ExitCode.CONFIG
        assert re.search(r" INFO cli\.main: ", loud.stderr), loud.stderr
        assert "Traceback" in loud.stderr and "edge.errors.ConfigError" in loud.stderr
        assert loud.stderr.splitlines()[0] == quiet.stderr.strip()  # the line comes first


def test_a_demo_stage_that_fails_is_one_line_naming_it(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    done = sohoa("demo", "--workdir", str(blocked / "demo"))
    assert done.returncode == ExitCode.DEMO
    line = one_error_line(done)
    assert line.startswith("sohoa: error: stage 'workdir' failed: ")
    assert f"{blocked / 'demo'}" in line  # where to look


def test_a_demo_stage_missing_its_tool_names_the_tool_and_where_to_look(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    done = sohoa("demo", "--workdir", str(workdir), env={"PATH": str(tmp_path / "no-bin")})
    assert done.returncode == ExitCode.DEMO
    line = one_error_line(done)
    assert line.startswith("sohoa: error: stage 'provision' failed: softhsm2-util is not on PATH")
    assert "apt-get install softhsm2" in line and line.endswith(f"; see {workdir}")


def test_usage_errors_give_2() -> None:
    done = sohoa("edge", "sync", "--no-such-option")
    assert done.returncode == ExitCode.USAGE
    assert "No such option" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["edge", "process"],  # FILES and --out missing
        ["server", "command", "dev-1", "revoke"],  # a revocation needs --reason
        ["server", "command", "dev-1", "ping", "--args", "[1]"],
        ["edge", "sync", "-v"],  # --verbose belongs to the root command, before the command
    ],
)
def test_a_wrong_option_or_argument_is_a_usage_error(args: list[str]) -> None:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == ExitCode.USAGE, done.output


def test_work_done_in_part_exits_1_after_its_own_error_lines(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    done = CliRunner().invoke(app, ["edge", "detect", str(missing)])
    assert done.exit_code == ExitCode.INCOMPLETE
    assert done.stderr.splitlines() == [
        f"sohoa: error: {missing}: no such file: check the path",
        "sohoa: error: 1 file(s) could not be read; see the errors above",
    ]


def test_a_provisioning_error_gives_its_familys_code(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["provision", "ca", "--out", str(tmp_path)]).exit_code == 0
    again = CliRunner().invoke(app, ["provision", "ca", "--out", str(tmp_path)])
    assert again.exit_code == ExitCode.PROVISIONING
    assert (
        again.stderr
        == f"sohoa: error: {tmp_path / 'ca.pem'} exists already: choose another folder\n"
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (EdgeConfigError("x"), ExitCode.CONFIG),
        (ServerConfigError("x"), ExitCode.CONFIG),
        (IncompleteError("x"), ExitCode.INCOMPLETE),
        (TokenError("x"), ExitCode.EDGE),
        (RepositoryError("x"), ExitCode.SERVER),
        (CertificateError("x"), ExitCode.PROVISIONING),
        (TopicError("x"), ExitCode.PROTOCOL),
        (DemoError("x"), ExitCode.DEMO),
        (HarnessError("x"), ExitCode.HARNESS),
        (ValueError("x"), None),  # not ours: a bug, shown with its traceback
    ],
)
def test_every_family_and_kind_has_its_code(error: Exception, code: ExitCode | None) -> None:
    assert exit_code_for(error) is code


def test_every_family_is_mapped_and_every_code_documented() -> None:
    mapped = {kind for kind, _ in EXIT_CODES}
    assert {EdgeError, ServerError, ProvisioningError, ProtocolError, DemoError} <= mapped
    table = README.read_text(encoding="utf-8")
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", table, re.MULTILINE), code
