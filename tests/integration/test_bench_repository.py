"""`python -m bench.repository`, run small on both backends: it loads, serves, queries and ends
with its JSON line holding every figure the closing note quotes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_repository_ends_with_its_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.repository", "--results", "2000", "--backend", "both",
         "--queries", "10"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for backend in ("sqlite", "postgres"):
        assert figures[backend]["results"] == 2000
        for key in ("load_per_s", "index_per_s", "db_mb", "index_mb"):
            assert figures[backend][key] > 0
        for kind in ("cccd_lookup", "name_search", "free_text", "unit_date_range"):
            measured = figures[backend]["queries"][kind]
            assert measured["api"]["p95_ms"] > 0 and measured["floor"]["p95_ms"] > 0
