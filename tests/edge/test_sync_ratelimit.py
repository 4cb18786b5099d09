"""The sync agent's byte-rate cap (a token bucket driven by made-up times)."""

from __future__ import annotations

import pytest

from edge.ratelimit import TokenBucket


def test_no_cap_never_waits() -> None:
    bucket = TokenBucket(0)
    bucket.take(10**9, 0.0)
    assert bucket.unlimited and bucket.wait(0.0) == 0.0


def test_a_long_run_goes_at_the_rate() -> None:
    rate, size = 10_000.0, 1_500
    bucket = TokenBucket(rate, now=0.0)
    now, sent = 0.0, 0
    while sent < 1_000_000:
        now += bucket.wait(now)
        bucket.take(size, now)
        sent += size
    # All but the first bucketful went at the rate.
    assert sent / now == pytest.approx(rate, rel=0.01)


def test_a_message_larger_than_the_bucket_goes_and_the_next_waits_for_the_debt() -> None:
    bucket = TokenBucket(1000.0, capacity=100.0, now=0.0)
    assert bucket.wait(0.0) == 0.0
    bucket.take(1100, 0.0)  # 1000 bytes of debt
    assert bucket.wait(0.0) == pytest.approx(1.0)
    assert bucket.wait(0.5) == pytest.approx(0.5)
    assert bucket.wait(1.0) == 0.0


def test_idle_time_saves_up_at_most_the_capacity() -> None:
    bucket = TokenBucket(1000.0, capacity=200.0, now=0.0)
    bucket.take(200, 0.0)
    assert bucket.wait(100.0) == 0.0  # long idle
    bucket.take(400, 100.0)  # 200 saved, 200 of debt
    assert bucket.wait(100.0) == pytest.approx(0.2)


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        TokenBucket(-1)
