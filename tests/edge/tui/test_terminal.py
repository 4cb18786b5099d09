"""The kiosk in a real terminal (tmux on a private socket): `sohoa edge tui` reaches its lock
screen, the terminal's Ctrl+C, Ctrl+Z and Ctrl+\\ neither stop nor suspend it, and the token's
PIN (SoftHSM) opens the home screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.token import BlankToken

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


class Tmux:
    """One tmux server of our own (`-L`), one 80x24 window."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"tmux {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "kiosk")

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        """Seconds until `text` is on screen; fails the test with the screen after `timeout`."""
        start = time.monotonic()
        while text not in self.screen():
            if time.monotonic() - start > timeout:
                pytest.fail(f"{text!r} never showed; the screen:\n{self.screen()}")
            time.sleep(0.05)
        return time.monotonic() - start

    def alive(self) -> bool:
        return self.run("display-message", "-p", "-t", "kiosk", "#{pane_dead}").strip() == "0"


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run `make test` (scripts/debian-packages.txt)")
    # A server of each test's own: the previous test's may still be exiting with its session.
    server = Tmux(f"sohoa-kiosk-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    yield server
    subprocess.run(["tmux", "-L", server.name, "kill-server"], capture_output=True, check=False)


def start(tmux: Tmux, config: Path, env: dict[str, str]) -> Callable[[], float]:
    # The appliance's own entry point (`sohoa edge tui --demo` below goes through `sohoa`).
    command = [sys.executable, "-m", "edge.tui", "--config", str(config)]
    exports = [f"{k}={v}" for k, v in env.items()]
    tmux.run(
        "new-session", "-d", "-s", "kiosk", "-x", "80", "-y", "24",
        "env", *exports, *command,
    )  # fmt: skip
    tmux.run("set-option", "-t", "kiosk", "remain-on-exit", "on")
    return lambda: tmux.wait_for("Máy đang khóa.")


def _kiosk(tmp_path: Path, blank_token: BlankToken) -> tuple[Path, dict[str, str]]:
    """The appliance's configuration on the blank token, and the kiosk's environment."""
    config = tmp_path / "edge.toml"
    config.write_text(
        f'device_id = "kiosk-tty-01"\ndata_dir = "{tmp_path / "data"}"\n'
        f'pkcs11_module = "{blank_token.module_path}"\ntoken_label = "{blank_token.label}"\n'
    )
    env = {
        "PYTHONPATH": str(REPO),
        "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"],
        "TERM": "xterm-256color",
        "HOME": str(tmp_path),
        # Would give the terminal its signals back in a plain Textual app: not in the kiosk.
        "TEXTUAL_ALLOW_SIGNALS": "1",
    }
    return config, env


def _gone_with_its_terminal(tmux: Tmux, config: Path) -> None:
    """Close the terminal (SIGHUP) and check the kiosk ends within 5 s, its token logged out
    and its outbox closed (by the clean exit or, when Textual's cannot come, the watchdog)."""
    assert [c for c in _processes_mentioning(str(config)) if "-m edge.tui" in c and "tmux" not in c]
    tmux.run("kill-server")
    deadline = time.monotonic() + 5
    while _processes_mentioning(str(config)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(config)) == [], "the kiosk outlived its terminal"
    log = (config.parent / "data" / "logs" / "kiosk.log").read_text(encoding="utf-8")
    assert "kiosk stopping on SIGHUP" in log


def test_the_kiosk_in_a_real_terminal(tmux: Tmux, blank_token: BlankToken, tmp_path: Path) -> None:
    config, env = _kiosk(tmp_path, blank_token)
    seconds = start(tmux, config, env)()
    print(f"start to the lock screen: {seconds:.2f} s")
    for key in ("C-c", "C-z", "C-\\"):
        tmux.run("send-keys", "-t", "kiosk", key)
        time.sleep(0.3)
        assert tmux.alive(), f"{key} ended the kiosk:\n{tmux.screen()}"
        assert "Máy đang khóa." in tmux.screen(), f"{key} left the lock screen"
    assert "Mã PIN không đúng" not in tmux.screen()  # none of them typed into the PIN
    tmux.run("send-keys", "-t", "kiosk", blank_token.user_pin, "Enter")
    tmux.wait_for("Trang chính")
    tmux.wait_for("Token ký số: đã cắm")
    tmux.run("send-keys", "-t", "kiosk", "C-q")
    tmux.wait_for("Chưa đặt mã PIN quản trị")
    assert tmux.alive()
    _gone_with_its_terminal(tmux, config)


def test_the_kiosk_ends_when_its_terminal_closes_right_after_unlock(
    tmux: Tmux, blank_token: BlankToken, tmp_path: Path
) -> None:
    # The screen is busiest then (home drawn, the reading path warming up): Textual's writer
    # thread may die on the hangup before the kiosk lets go of the terminal, and Textual's own
    # exit then never comes. The kiosk still ends, within `HANGUP_GRACE_S`.
    config, env = _kiosk(tmp_path, blank_token)
    start(tmux, config, env)()
    tmux.run("send-keys", "-t", "kiosk", blank_token.user_pin, "Enter")
    tmux.wait_for("Trang chính")
    _gone_with_its_terminal(tmux, config)


def test_the_demo_kiosk_from_unlock_to_the_servers_ack(tmux: Tmux, tmp_path: Path) -> None:
    """`sohoa edge tui --demo` with nothing prepared: unlock with the printed PIN, a new result
    (scanner or camera asked: the demo has both) scanned (SANE pnm), read, signed on SoftHSM,
    and acknowledged by the real server."""
    command = [sys.executable, "-m", "cli", "edge", "tui", "--demo", "--workdir"]
    command.append(str(tmp_path / "demo"))
    env = {
        "PYTHONPATH": str(REPO),
        "PATH": os.environ["PATH"],
        "TERM": "xterm-256color",
        "HOME": str(tmp_path),
    }
    exports = [f"{k}={v}" for k, v in env.items()]
    tmux.run(
        "new-session", "-d", "-s", "kiosk", "-x", "80", "-y", "24",
        "env", "-i", *exports, *command,
    )  # fmt: skip
    tmux.run("set-option", "-t", "kiosk", "remain-on-exit", "on")
    tmux.wait_for("Máy đang khóa.", timeout=60)
    note = next(line for line in tmux.screen().splitlines() if "mã PIN token" in line)
    pin = note.split("mã PIN token ")[1].split(",")[0]
    tmux.run("send-keys", "-t", "kiosk", pin, "Enter")
    tmux.wait_for("Trang chính")
    tmux.wait_for("Máy chủ: đã kết nối")
    tmux.run("send-keys", "-t", "kiosk", "n")
    tmux.wait_for("chọn thủ tục")
    tmux.run("send-keys", "-t", "kiosk", "khai sinh", "Enter")
    # The demo has a camera too (a recorded video): the scanner, here.
    tmux.wait_for("Máy quét")
    tmux.run("send-keys", "-t", "kiosk", "1")
    tmux.wait_for("Đã quét 1 trang.")
    tmux.run("send-keys", "-t", "kiosk", "Enter")
    tmux.wait_for("Kiểm tra —", timeout=60)
    tmux.run("send-keys", "-t", "kiosk", "F2")
    tmux.wait_for("1 máy chủ đã nhận", timeout=60)
    assert tmux.alive()
    # The terminal closes (SIGHUP): the kiosk ends cleanly, and the broker and the server the
    # demo started end with it.
    started_here = _processes_mentioning(str(tmp_path / "demo"))
    assert len(started_here) >= 2  # the broker and the server
    tmux.run("kill-session", "-t", "kiosk")
    deadline = time.monotonic() + 30
    while _processes_mentioning(str(tmp_path / "demo")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(tmp_path / "demo")) == []


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of the running processes that contain `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if entry.name.isdigit() and text in command:
            found.append(command)
    return found
