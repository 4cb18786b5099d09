"""Sockets: the options the MQTT clients of the appliance and the server share, and a free port
for the services the demo, the tests and the harness start on this machine."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on right now (bound to port 0, released).

    Another process may take it before the caller binds it: whoever starts a service on it
    retries with a fresh one when the bind fails (`provisioning.broker.Mosquitto` does).
    """
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def disable_nagle(sock: object) -> None:
    """Turn Nagle's algorithm off on a connected TCP socket (paho leaves it on).

    Our protocol's small packets (PUBACKs, acks, chunk headers) would otherwise wait up to the
    peer's delayed-ACK timer (40 ms on Linux) whenever an earlier one is still unacknowledged:
    publishing a result in 33 chunks took 0.97 s with Nagle on and 0.03–0.2 s with it off.
    Anything that is not a TCP socket (paho's socket before connecting, a Unix socket) is left
    alone.
    """
    if not isinstance(sock, socket.socket):  # ssl.SSLSocket is one
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        log.debug("cannot set TCP_NODELAY: %s", e)
