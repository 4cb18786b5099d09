"""The accounts the API has just checked, kept for a few seconds: a request with a bearer token
otherwise reads its account from the database every time (`deps.get_current_user`).

What a disabling (or a new password) must still do: stop the account's tokens. Each entry is
the account as read for one token generation (`Account.token_generation`, which a disabling,
an enabling and a new password all raise), and it is kept:
- until any of those changes is made in this process (`accounts.changes`): at once;
- at most `ttl_s` (`ACCOUNT_CACHE_S`, 2 s) otherwise: a change made by another process
  (`sohoa server user disable`, another API worker) takes effect within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.repository import accounts

ACCOUNT_CACHE_S = 2.0
"""How long an account read from the database answers for its tokens in this process."""
MAX_ENTRIES = 10_000

P = TypeVar("P")


@dataclass(frozen=True)
class _Entry(Generic[P]):
    principal: P
    until: float
    changes: int


class AccountCache(Generic[P]):
    """Principals by (username, token generation), kept `ttl_s` seconds at most.

    Args:
        ttl_s: how long an entry answers (0: never cached).
    """

    def __init__(self, ttl_s: float = ACCOUNT_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, int], _Entry[P]] = {}
        self._lock = threading.Lock()

    def get(self, username: str, generation: int) -> P | None:
        """The principal kept for this token's account, if still fresh."""
        with self._lock:
            entry = self._entries.get((username, generation))
        if entry is None:
            return None
        if entry.until < time.monotonic() or entry.changes != accounts.changes():
            with self._lock:
                self._entries.pop((username, generation), None)
            return None
        return entry.principal

    def put(self, username: str, generation: int, principal: P, changes: int) -> None:
        """Keep `principal`, read from the database when `accounts.changes()` was `changes`
        (read before the account, so a change made meanwhile voids the entry)."""
        if self.ttl_s <= 0:
            return
        entry = _Entry(principal, time.monotonic() + self.ttl_s, changes)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[(username, generation)] = entry
