"""`sohoa` imports a package's commands only when one of them runs (`cli.lazy`): the account and
audit commands start without the OCR, the PDF signer, the web server or the ingest workers,
which cost every start 2-3 s here; and every command is still there."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from cli.main import app

HEAVY = ("cv2", "tesserocr", "pyhanko", "uvicorn", "server.ingest", "server.api.main", "edge.cli")
"""What `sohoa server user …` and `sohoa server audit …` must not import."""


def test_the_account_and_audit_commands_start_without_the_heavy_packages() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli.main import app\n"
        "for group in (['server', 'user', 'add', '--help'], ['server', 'audit', 'verify', "
        "'--help']):\n"
        "    assert CliRunner().invoke(app, group).exit_code == 0, group\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported at start: {done.stdout.strip()}"


def test_every_command_is_listed_and_found() -> None:
    runner = CliRunner()
    root = runner.invoke(app, ["--help"])
    assert root.exit_code == 0
    for name in ("demo", "edge", "provision", "server"):
        assert name in root.stdout
    server = runner.invoke(app, ["server", "--help"])
    assert server.exit_code == 0
    for name in ("run", "ingest", "register-device", "units", "seed", "user", "audit"):
        assert name in server.stdout, name
    assert "bench-sync" in server.stdout
    for args in (["edge", "sync", "--help"], ["server", "run", "--help"], ["demo", "--help"]):
        assert runner.invoke(app, args).exit_code == 0, args
    unknown = runner.invoke(app, ["server", "no-such-command"])
    assert unknown.exit_code == 2 and "No such command" in unknown.stderr
