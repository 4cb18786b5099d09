"""The sync agent's byte-rate cap (a `ByteRateLimiter` driven by made-up times)."""

from __future__ import annotations

import pytest

from edge.sync.ratelimit import ByteRateLimiter


def test_no_cap_never_waits() -> None:
    limiter = ByteRateLimiter(0)
    limiter.take(10**9, 0.0)
    assert limiter.unlimited and limiter.wait(0.0) == 0.0


def test_a_long_run_goes_at_the_rate() -> None:
    rate, size = 10_000.0, 1_500
    limiter = ByteRateLimiter(rate, now=0.0)
    now, sent = 0.0, 0
    while sent < 1_000_000:
        now += limiter.wait(now)
        limiter.take(size, now)
        sent += size
    # All but the first capacity's worth went at the rate.
    assert sent / now == pytest.approx(rate, rel=0.01)


def test_a_message_larger_than_the_capacity_goes_and_the_next_waits_for_the_debt() -> None:
    limiter = ByteRateLimiter(1000.0, capacity=100.0, now=0.0)
    assert limiter.wait(0.0) == 0.0
    limiter.take(1100, 0.0)  # 1000 bytes of debt
    assert limiter.wait(0.0) == pytest.approx(1.0)
    assert limiter.wait(0.5) == pytest.approx(0.5)
    assert limiter.wait(1.0) == 0.0


def test_idle_time_saves_up_at_most_the_capacity() -> None:
    limiter = ByteRateLimiter(1000.0, capacity=200.0, now=0.0)
    limiter.take(200, 0.0)
    assert limiter.wait(100.0) == 0.0  # long idle
    limiter.take(400, 100.0)  # 200 saved, 200 of debt
    assert limiter.wait(100.0) == pytest.approx(0.2)


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ByteRateLimiter(-1)
