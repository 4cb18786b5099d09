"""A separate process that searches a repository the way an API process does (its own
`SearchIndex` over the shared index folder), for `test_search_processes.py`.

Usage: python -m tests.server.search_probe DB_URL INDEX_ROOT NAME TIMEOUT_S
Prints "ready" after its first search, then "found <seconds>" once NAME is found (exit 0), or
"timeout" (exit 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from server.db import make_engine
from server.search.index import SearchIndex
from server.search.query import SearchQuery, text_words


def main() -> int:
    """Search until the name appears or the time is up."""
    url, root, name, timeout = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    index = SearchIndex(root, make_engine(url), refresh_s=0.2)
    query = SearchQuery(name=text_words(name, "name"))
    index.search(query, 5)
    print("ready", flush=True)
    sys.stdin.readline()  # the test says when the result is merged
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if index.search(query, 5).ids:
            print(f"found {time.monotonic() - start:.2f}", flush=True)
            return 0
        time.sleep(0.05)
    print("timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
