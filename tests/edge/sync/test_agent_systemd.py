"""`sohoa edge sync` as systemd runs it (`provisioning/appliance/sohoa-sync.service`: Type=notify,
WatchdogSec=): the real command, a socket standing in for systemd's. It says READY=1 once up,
keeps petting the watchdog while the broker cannot be reached (its loop turns, connecting or
not), and says STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from provisioning.ca import (
    CertificateAuthority,
    Profile,
    new_key,
    write_certificate,
    write_private_key,
)
from provisioning.province import write_config
from support.sockets import free_port

WATCHDOG_S = 1.0


def _identity(folder: Path) -> dict[str, Path]:
    ca = CertificateAuthority.create("Watchdog Test CA")
    key = new_key()
    write_certificate(ca.cert, folder / "ca.pem")
    write_certificate(ca.issue(key.public_key(), "wd-01", Profile.TLS_CLIENT), folder / "t.pem")
    write_private_key(key, folder / "t-key.pem")
    return {
        "ca_file": folder / "ca.pem",
        "cert_file": folder / "t.pem",
        "key_file": folder / "t-key.pem",
    }


def test_the_agent_says_it_is_ready_pets_its_watchdog_and_says_it_stops(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "edge.toml",
        {
            "device_id": "wd-01",
            "data_dir": tmp_path / "data",
            "broker_host": "127.0.0.1",
            "broker_port": free_port(),  # nobody listens: the agent keeps trying
            **_identity(tmp_path),
        },
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        systemd.settimeout(20.0)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6)),
        }
        agent = subprocess.Popen(
            [sys.executable, "-m", "cli", "edge", "sync", "--config", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert systemd.recv(64) == b"READY=1"
            started = time.monotonic()
            pets = 0
            while time.monotonic() - started < 4 * WATCHDOG_S:
                assert systemd.recv(64) == b"WATCHDOG=1"
                pets += 1
            # Half the interval apart: about 8 in 4 s; never a gap the watchdog would bite.
            assert pets >= 6
            agent.send_signal(signal.SIGTERM)
            said = systemd.recv(64)
            while said == b"WATCHDOG=1":  # the pets already on their way
                said = systemd.recv(64)
            assert said == b"STOPPING=1"
            assert agent.wait(20) == 0
        finally:
            agent.kill()
            agent.wait(10)
