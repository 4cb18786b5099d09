"""A token bucket that caps the bytes per second the sync agent publishes on a thin field link.

It holds no clock: the caller passes `now` (seconds on a monotonic clock), so tests drive it
with made-up times. A message may go when the bucket is not in debt; sending it takes its size
from the bucket, which may go below zero (a message larger than the bucket still goes, and the
next one waits until the debt is paid). Over any long run the rate is the cap; the largest
burst is the bucket's capacity plus one message.
"""

from __future__ import annotations


class TokenBucket:
    """Bytes-per-second cap.

    Args:
        rate: bytes per second; 0 means no cap (`wait` is always 0).
        capacity: the most bytes saved up while idle (default: a quarter of a second's worth).
        now: the time the bucket starts at, full.
    """

    def __init__(self, rate: float, capacity: float | None = None, *, now: float = 0.0) -> None:
        if rate < 0:
            raise ValueError("the rate cannot be negative")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(rate * 0.25, 1.0)
        self._tokens = self.capacity
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
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, size: int, now: float) -> None:
        """Account for `size` bytes sent at `now`."""
        if self.unlimited:
            return
        self._refill(now)
        self._tokens -= size

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
