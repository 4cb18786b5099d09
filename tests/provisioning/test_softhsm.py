"""`softhsm2-util` never gets a PIN on its command line (issue 14, item 6): every local user can
read a process's arguments (`ps`, /proc/<pid>/cmdline). The real tool is run through a shim on
PATH that records the command line it was really given, then becomes the tool (exec: same
process), and the token it makes opens with the PIN typed to it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edge.errors import TokenError
from edge.signing.token import Token
from provisioning.errors import TokenInitError
from provisioning.softhsm import SoftHsmSetup, init_token

SO_PIN = "so-1357-secret"
USER_PIN = "user-2468-secret"


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the shim writes the command line `softhsm2-util` was run with (one line a run)."""
    real = shutil.which("softhsm2-util")
    assert real is not None
    log = tmp_path / "cmdlines"
    shim = tmp_path / "bin" / "softhsm2-util"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        f"tr '\\000' ' ' < /proc/$$/cmdline >> '{log}'\n"
        f"echo >> '{log}'\n"
        f"exec '{real}' \"$@\"\n"
    )
    shim.chmod(0o700)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_the_pins_never_reach_the_command_line(softhsm: SoftHsmSetup, recorded: Path) -> None:
    label = f"pin-{os.getpid()}"
    init_token(softhsm, label, so_pin=SO_PIN, user_pin=USER_PIN)
    (line,) = recorded.read_text().splitlines()
    assert "--init-token" in line and label in line  # the shim saw the real run...
    assert SO_PIN not in line and USER_PIN not in line  # ...and no PIN in it
    assert "--pin" not in line and "--so-pin" not in line
    with Token.open(softhsm.module_path, label=label, pin=USER_PIN):
        pass  # the PIN typed to the tool is the token's PIN
    with pytest.raises(TokenError):
        Token.open(softhsm.module_path, label=label, pin="not-the-pin")


@pytest.mark.parametrize("pin", ["12", "x" * 256, "1234\n5678", "12\x0334"])
def test_a_pin_the_tool_would_ask_for_again_is_refused_before_it_runs(
    softhsm: SoftHsmSetup, recorded: Path, pin: str
) -> None:
    with pytest.raises(TokenInitError, match="PIN"):
        init_token(softhsm, "never-made", so_pin=SO_PIN, user_pin=pin)
    assert not recorded.exists()  # refused before the tool was run
