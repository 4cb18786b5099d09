"""systemd notifications (`support.sdnotify`), received on a real datagram socket as systemd
receives them: READY/STOPPING, the watchdog at half its interval and only for its own process,
an abstract socket, and nothing at all outside systemd."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.sdnotify import Watchdog, notify


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A socket standing where systemd's is, named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(0.5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def _received(sock: socket.socket) -> list[str]:
    got = []
    try:
        while True:
            got.append(sock.recv(256).decode())
    except TimeoutError:
        return got


def test_states_reach_systemds_socket(systemd: socket.socket) -> None:
    assert notify("READY=1") and notify("STOPPING=1")
    assert _received(systemd) == ["READY=1", "STOPPING=1"]


def test_the_watchdog_is_petted_at_half_its_interval(
    systemd: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # 0.4 s: petted every 0.2 s at most
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    watchdog = Watchdog()
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        watchdog.pet()
        time.sleep(0.01)
    assert _received(systemd) == ["WATCHDOG=1"] * 3  # at 0, 0.2 and 0.4 s


def test_a_watchdog_meant_for_another_process_is_left_alone(
    systemd: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    Watchdog().pet()
    assert _received(systemd) == []


def test_an_abstract_socket_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"sohoa-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(0.5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1")
        assert sock.recv(64) == b"READY=1"


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    assert not notify("READY=1")
    Watchdog().pet()  # no socket to reach: does nothing, raises nothing
