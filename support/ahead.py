"""`ahead`: run a function over items on a few threads, a bounded number of items ahead of the
consumer, handing the results back in order.

For a pipeline whose stages are busy in different threads: the pages of a document are loaded
and captured on two threads while the consumer hands the previous ones to OCR and encodes them,
so that the OCR workers never wait for a page. The bound keeps memory flat (a captured page is
tens of MB).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")


def ahead(
    function: Callable[[A], R], items: Iterable[A], *, threads: int, depth: int, name: str
) -> Generator[Future[R], None, None]:
    """`function(item)` for each item, run on `threads` threads, at most `depth` items ahead.

    Yields one future per item, in the items' order; its `result()` is what `function`
    returned, or raises what it raised. When the consumer stops early, the items not yet
    started are dropped.

    Args:
        function: the work for one item (runs on a background thread).
        items: the inputs, taken lazily as the window moves on.
        threads: how many items are worked on at once.
        depth: how many items may be started before the consumer takes the first one.
        name: the threads' name prefix, for logs and profilers.
    """
    if threads < 1 or depth < 1:
        raise ValueError(f"threads {threads}, depth {depth}: give at least 1 of each")
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    window: deque[Future[R]] = deque()
    try:
        for item in items:
            window.append(pool.submit(function, item))
            if len(window) > depth:
                yield window.popleft()
        while window:
            yield window.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
