"""systemd's readiness and watchdog notifications (sd_notify(3)), for the long-running services
under a unit with `Type=notify` and `WatchdogSec=`: a datagram of `READY=1`, `WATCHDOG=1` or
`STOPPING=1` to the socket in `$NOTIFY_SOCKET`. Outside systemd (no `$NOTIFY_SOCKET`) every
call does nothing. The protocol is a few lines, so no library is added for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; whether it was sent (False outside systemd or
    when the socket refuses it: a notification is never worth failing for)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: its name begins with a NUL byte
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as e:
        log.warning("could not notify systemd (%s): %s", state.split("=")[0], e)
        return False
    return True


class Watchdog:
    """Pets systemd's watchdog from a service's main loop: `pet()` sends `WATCHDOG=1` at most
    every half of `$WATCHDOG_USEC` (systemd's advice), so a loop that stops turning for longer
    than `WatchdogSec=` gets the service restarted. Without a watchdog, `pet()` does nothing."""

    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())  # the variable may be inherited by a child
        self.interval_s = int(usec) / 2e6 if usec.isdigit() and mine else None
        self._next = 0.0

    def pet(self) -> None:
        """Tell systemd the loop is alive (when it is due)."""
        if self.interval_s is None:
            return
        now = time.monotonic()
        if now >= self._next:
            notify("WATCHDOG=1")
            self._next = now + self.interval_s
