"""`sohoa server bench-sync`, run small: the command a script relies on ends with one JSON line
holding the stable keys (DESIGN.md), and a clean run loses and duplicates nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

STABLE_KEYS = ("sent", "acked", "in_repository", "duplicates", "results_per_s", "p95_s")


def test_bench_sync_ends_with_its_json_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "server",
            "bench-sync",
            "--devices",
            "3",
            "--results",
            "4",
            "--ingest-processes",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in STABLE_KEYS:
        assert key in figures, key
    assert figures["sent"] == figures["acked"] == figures["in_repository"] == 12
    assert figures["duplicates"] == figures["lost"] == figures["invalid_signatures"] == 0
    assert figures["pending_left"] == 0
    assert figures["rejected"] == figures["rejected_but_valid"] == 0
    assert figures["rejections"] == {} and figures["rejection_details"] == []
    assert figures["results_per_s"] > 0
    assert 0 < figures["p50_s"] <= figures["p95_s"]
    assert figures["raw_results_per_s"] > figures["results_per_s"]
    assert 0 < figures["ratio"] < 1
    assert 0 < figures["raw_received"] <= figures["raw_sent"]
    assert figures["seconds"]["anchor"] < 60  # not waiting out messages the broker dropped
    assert 200 <= figures["mean_result_kb"] <= 500
    assert figures["broker_peak_rss_mb"] > 0
    assert all(mb > 0 for mb in figures["server_peak_rss_mb"])
