"""The real-service fixtures (broker, token, postgres, scanner, TSA) for the whole suite, and one
log file per pytest-xdist worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.token",
    "tests.fixtures.postgres",
    "tests.fixtures.scanner",
    "tests.fixtures.tsa",
]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker writes its own `--log-file` (build/test-run-gw0.log …):
    they would otherwise all truncate and write the one file, and the log check
    (`tests.logcheck`) would read whatever the last worker left."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    log_file = config.getoption("log_file", None)
    if worker and log_file:
        path = Path(log_file)
        config.option.log_file = str(path.with_name(f"{path.stem}-{worker}{path.suffix}"))
