"""`bench.attack`'s report: the peaks it compares with their limits (the broker's
`memory_limit`, the verifier processes' address-space limits), and its default worker count,
the server's own."""

from __future__ import annotations

import pytest

from bench.attack import main, memory_limits, over_limits
from provisioning.broker import BrokerLimits
from server.config import ServerSettings

MiB = 1024 * 1024


def test_the_limits_are_the_brokers_and_the_verifiers() -> None:
    limits = memory_limits(
        BrokerLimits(memory_limit=1536 * MiB), ServerSettings(verify_processes=2)
    )
    assert limits == {
        "broker_memory_limit_mb": 1536.0,
        "verifiers_memory_limit_mb": 2.0 * ServerSettings().verify_memory_mb,
        "verifier_process_memory_limit_mb": float(ServerSettings().verify_memory_mb),
        "server_process_memory_limit_mb": None,  # none is configured: reported, not judged
    }
    phase = {"broker_peak_rss_mb": 80.0, "verifiers_peak_rss_mb": 300.0}
    assert over_limits(phase, limits) == []
    over = over_limits({**phase, "broker_peak_rss_mb": 1600.0}, limits)
    assert over == ["broker_peak_rss_mb 1600.0 >= broker_memory_limit_mb 1536.0"]


def test_the_default_worker_count_is_the_servers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert f"(default: the server's, {ServerSettings().ingest_workers})" in capsys.readouterr().out
