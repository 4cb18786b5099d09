"""`ahead`: results in the items' order whatever their durations, failures in their place, and
no more than `depth` items started before the consumer takes one."""

from __future__ import annotations

import threading
import time

import pytest

from support.ahead import ahead


def test_results_come_in_order_and_failures_in_their_place() -> None:
    def work(n: int) -> int:
        time.sleep(0.02 * (5 - n))  # the first items take longest
        if n == 3:
            raise ValueError("page 3 is unreadable")
        return n * n

    results: list[int | str] = []
    for future in ahead(work, range(5), threads=2, depth=3, name="test"):
        try:
            results.append(future.result())
        except ValueError as e:
            results.append(str(e))
    assert results == [0, 1, 4, "page 3 is unreadable", 16]


def test_no_more_than_depth_items_start_before_the_first_is_taken() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        return n

    window = ahead(work, range(100), threads=2, depth=3, name="test")
    first = next(window)
    assert first.result() == 0
    time.sleep(0.05)
    assert len(started) <= 4  # the three ahead, and the one the consumer took
    window.close()  # the consumer stops: the rest are never started
    assert len(started) <= 4


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(ahead(lambda n: n, [1], threads=0, depth=1, name="test"))
