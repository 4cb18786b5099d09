"""The README's walkthrough "a second appliance on this machine", run as written: the shell block
after `<!-- walkthrough: enroll -->`, by bash, from the project's folder, on free ports and in a
temp folder (its `API`, `MQTT`, `MQTT_SERVER` and `W`). It provisions a province, starts
Mosquitto and `sohoa server run`, adds an appliance, enrolls it on a SoftHSM token, syncs,
renews and revokes it; every command must succeed, and what it leaves must be right."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from support.sockets import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- walkthrough: enroll -->\n```sh\n(.*?)\n```", re.DOTALL)


def test_the_readme_walkthrough_enrolls_syncs_renews_and_revokes(tmp_path: Path) -> None:
    found = _BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found is not None, "the README lost its walkthrough"
    work = tmp_path / "walkthrough"
    ports = {name: str(free_port()) for name in ("API", "MQTT", "MQTT_SERVER")}
    env = {**os.environ, **ports, "W": str(work)}
    env.pop("SOFTHSM2_CONF", None)  # the walkthrough makes its own
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", found.group(1)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        subprocess.run(["pkill", "-f", f"{work}/server.toml"], check=False)
        pid_file = work / "broker" / "mosquitto.pid"
        # Stopped by the walkthrough itself, unless it failed before its end.
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "enrolled as vt-02.kiosk" in done.stdout
    assert "sent 1, accepted 1" in done.stdout  # the sample result, signed on its token
    assert "renewed: the certificates are valid until" in done.stdout
    assert "broker reloaded: the device's next connection is refused" in done.stdout
    crl = x509.load_pem_x509_crl((work / "ca" / "crl.pem").read_bytes())
    assert len(list(crl)) == 4  # both certificates, and both renewed ones
    assert (work / "vt-02.png").stat().st_size > 0
    # The enrolled appliance keeps its outbox sealed by its token: the key only sealed on disk.
    assert (work / "appliance" / "data" / "keys" / "data-key.sealed").stat().st_size > 0
