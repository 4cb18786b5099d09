"""The harness's broker: the private Mosquitto of `provisioning.broker`, which a fault test can
stop, crash and bring back on the same ports; and the settings of a production broker folder
(`provisioning.broker_folder`) on this machine's loopback, for tests and benchmarks."""

from __future__ import annotations

import getpass
import shutil
import time
from pathlib import Path

from provisioning.broker import Mosquitto
from provisioning.broker_folder import BrokerSettings
from provisioning.errors import BrokerError
from support.sockets import LOOPBACK, free_port


def loopback_settings(ca_dir: Path, server_ca_dir: Path) -> BrokerSettings:
    """A broker folder's settings on 127.0.0.1: two free ports (the devices' and the
    server's), its certificate naming localhost and the loopback address, run as this user."""
    port, server_port = free_port(), free_port()
    while server_port == port:
        server_port = free_port()
    return BrokerSettings(
        ca_dir=ca_dir,
        server_ca_dir=server_ca_dir,
        host=LOOPBACK,
        server_host=LOOPBACK,
        port=port,
        server_port=server_port,
        dns_names=("localhost",),
        ip_addresses=(LOOPBACK,),
        user=getpass.getuser(),
    )


class Broker(Mosquitto):
    """The private Mosquitto of `provisioning.broker`, restartable on the same ports.

    `Mosquitto.start` picks fresh ports every time; a restart here keeps them, so that the
    agents and ingest workers configured for it reconnect by themselves, as they would to a
    production broker that restarts.
    """

    def restart(self, *, crash: bool = False, down_s: float = 0.0, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM: it saves its database; or SIGKILL with `crash`: what it
        had not saved is lost), stay down `down_s` seconds, start it again on the same ports.

        Raises:
            BrokerError: it did not come back (the port was taken meanwhile, or it failed).
        """
        port = self.port
        self.down(crash=crash)
        time.sleep(down_s)
        self.up(port, timeout=timeout)

    def down(self, *, crash: bool = False) -> None:
        """Stop the broker: SIGTERM, or SIGKILL with `crash`."""
        if crash and self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        else:
            self.stop()

    def up(self, port: int, *, timeout: float = 10.0) -> None:
        """Start the broker on `port` for the devices (after `down`), and on the server's port
        it had before.

        Raises:
            BrokerError: it did not listen on `port` and the server's port.
        """
        program = shutil.which("mosquitto")
        if program is None:
            raise BrokerError("the MQTT broker program 'mosquitto' is not on PATH")
        self.port = port
        self.files.write_config(port, self.server_port)
        if not self._start_once(program, timeout):
            raise BrokerError(
                f"the broker could not listen on ports {port} and {self.server_port} again (taken?)"
            )
