"""The byte-rate cap of the sync agent: at most so many bytes a second on a thin field link.

The algorithm is the classic token bucket, here counted in bytes (the word "token" is kept for
the PKCS#11 token, `edge.signing.token`): an allowance fills at the rate up to a capacity, and
sending takes a message's size from it.

It holds no clock: the caller passes `now` (seconds on a monotonic clock), so tests drive it
with made-up times. A message may go when the allowance is not in debt; sending it takes its
size from the allowance, which may go below zero (a message larger than the capacity still
goes, and the next one waits until the debt is paid). Over any long run the rate is the cap;
the largest burst is the capacity plus one message.
"""

from __future__ import annotations


class ByteRateLimiter:
    """Bytes-per-second cap.

    Args:
        rate: bytes per second; 0 means no cap (`wait` is always 0).
        capacity: the most bytes saved up while idle (default: a quarter of a second's worth).
        now: the time the limiter starts at, with its allowance full.
    """

    def __init__(self, rate: float, capacity: float | None = None, *, now: float = 0.0) -> None:
        if rate < 0:
            raise ValueError("the rate cannot be negative")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(rate * 0.25, 1.0)
        self._allowance = self.capacity
        self._at = now

    @property
    def unlimited(self) -> bool:
        """Whether there is no cap."""
        return self.rate == 0

    def wait(self, now: float) -> float:
        """Seconds until the next message may go (0 if it may go now)."""
        if self.unlimited:
            return 0.0
        self._refill(now)
        return 0.0 if self._allowance >= 0 else -self._allowance / self.rate

    def take(self, size: int, now: float) -> None:
        """Account for `size` bytes sent at `now`."""
        if self.unlimited:
            return
        self._refill(now)
        self._allowance -= size

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._allowance = min(self.capacity, self._allowance + (now - self._at) * self.rate)
            self._at = now
