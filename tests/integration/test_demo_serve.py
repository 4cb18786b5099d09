"""`sohoa demo --serve`: the demo, then its web pages left up with an account per role, as a
newcomer finds them from the README; SIGTERM stops the server and the broker with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

_SERVED = re.compile(r"served at (http://127\.0\.0\.1:\d+)/login")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _wait_for_address(process: subprocess.Popen[str], log: Path, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = _SERVED.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(1)
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"no address in {seconds} s: {log.read_text()[-3000:]}")


def test_the_demo_leaves_its_pages_up_for_a_person(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "demo", "--serve", "--workdir", str(workdir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        url = _wait_for_address(process, log, 240)
        listed = (workdir / "accounts.txt").read_text(encoding="utf-8").splitlines()
        assert (workdir / "accounts.txt").stat().st_mode & 0o077 == 0
        accounts = {line.split("\t")[0]: line.split("\t")[2] for line in listed}
        assert set(accounts) == {"demo-admin", "demo-officer", "demo-auditor"}
        with httpx.Client(base_url=url, follow_redirects=False) as web:
            form = web.get("/login")
            csrf = _CSRF.search(form.text)
            assert csrf is not None
            # The cookies are Secure; browsers send them to http://127.0.0.1, httpx does not.
            signed_in = web.post(
                "/login",
                data={
                    "username": "demo-officer",
                    "password": accounts["demo-officer"],
                    "csrf": csrf.group(1),
                },
                headers={"Cookie": f"sohoa_signin={csrf.group(1)}"},
            )
            assert signed_in.status_code == 303, signed_in.text
            assert signed_in.headers["location"] == "/search"
            assert "sohoa_session" in signed_in.headers["set-cookie"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert "stopping the server and the broker" in log.read_text()
        left = subprocess.run(
            ["pgrep", "-f", str(workdir)], capture_output=True, text=True, check=False
        )
        assert left.stdout.strip() == "", f"still running: {left.stdout}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
