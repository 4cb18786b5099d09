"""What `sohoa edge tui --demo` prepares: the kiosk on this machine with nothing prepared.

It makes what `sohoa demo` makes — a province's CA, a SoftHSM token holding the appliance's
signing key (its PIN printed, and shown on the lock screen), the server's repository with the
appliance registered, a Mosquitto broker and the server (`sohoa server run`) — and adds what a
kiosk needs: SANE's stand-in configuration with the `pnm` backend as the scanner, scanning a
rendered sample result; a recorded video of pages laid on a desk as the camera; the procedure
catalogue, an admin PIN (printed), and the sync agent on a thread of this process, so that
acknowledgements arrive for real and show on the home screen.
It lives in `cli/` because it starts the server: `edge` never imports `server`.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

import server
from cli.demo import DEVICE_ID, LOCATION, SIGNING_KEY_ID, TOKEN_LABEL, UNIT, register_appliance
from edge.capture.scanner import ColourMode, ScanSettings, write_stand_in_config
from edge.config import EdgeSettings
from edge.sample_document import PAGE_SIZE, render_sample_result
from edge.sample_video import write_desk_video
from edge.signing.token import Token
from edge.sync.agent import SyncAgent
from edge.sync.outbox import Outbox
from provisioning.broker import Mosquitto
from provisioning.province import provision_province, write_config
from server.process import ServerProcess
from support.sockets import free_port

CATALOGUE = Path(server.__file__).parent / "data" / "procedures.csv"


@dataclass(frozen=True)
class DemoKiosk:
    """What the demo prepared for the kiosk."""

    settings: EdgeSettings
    scan: ScanSettings
    user_pin: str
    admin_pin: str
    stack: tuple[Path, ...] = ()
    """Batch mode's stack: sample results with a blank sheet between each two."""

    @property
    def note(self) -> str:
        """The demo's line on the lock screen (Vietnamese, like the rest of it)."""
        return f"Bản demo: mã PIN token {self.user_pin}, mã PIN quản trị {self.admin_pin}."


@contextmanager
def demo_appliance(workdir: Path, *, camera: bool = True) -> Iterator[DemoKiosk]:
    """Provision and start everything the demo kiosk needs in `workdir`; stop it all after.

    With `camera`, a recorded video (`edge.sample_video`) is the kiosk's camera too, and a new
    result asks scanner or camera; without it, the kiosk has a scanner only.

    Raises:
        ProvisioningError, ServerError, EdgeError: a part could not be made or started.
    """
    from edge.tui.services import hash_admin_pin

    province = provision_province(
        workdir,
        ca_name="Sohoa Demo Provincial CA",
        token_label=TOKEN_LABEL,
        unit=UNIT,
        location=LOCATION,
    )
    # SoftHSM and SANE read their configuration when first loaded: both before any use here.
    os.environ.update(province.softhsm.env())
    os.environ["SANE_CONFIG_DIR"] = str(write_stand_in_config(workdir / "sane"))
    with Token.open(
        province.softhsm.module_path, label=TOKEN_LABEL, pin=province.user_pin
    ) as token:
        device = province.enroll(token, DEVICE_ID, SIGNING_KEY_ID, workdir / "device")
    server_dir = province.server_dir
    database_url = f"sqlite:///{server_dir / 'repository.db'}"
    register_appliance(database_url, device, secrets.token_urlsafe(18))
    page = workdir / "page.pgm"
    render_sample_result(0).image.save(page)
    blank = workdir / "blank.pgm"
    Image.new("L", PAGE_SIZE, 235).save(blank)
    stack = [page, blank]
    for seed in (1, 2):
        stack.append(workdir / f"stack-{seed}.pgm")
        render_sample_result(seed).image.save(stack[-1])
        stack.append(blank)
    admin_pin = f"{secrets.randbelow(10**6):06d}"

    with ExitStack() as services:
        broker = services.enter_context(Mosquitto(province.broker_files))
        api_port = free_port()
        config = write_config(
            server_dir / "server.toml",
            province.server_config(
                database_url=database_url,
                data_dir=server_dir,
                broker_host=broker.host,
                broker_port=broker.server_port,
                api_port=api_port,
            ),
        )
        services.enter_context(ServerProcess(config, server_dir / "server.log", api_port=api_port))
        settings = EdgeSettings(
            **province.edge_config(
                device,
                broker_host=broker.host,
                broker_port=broker.port,
                procedures_file=CATALOGUE,
                scanner_device="pnm:0",
                kiosk_admin_pin_hash=hash_admin_pin(admin_pin),
                camera_source=str(write_desk_video(workdir / "camera.avi")) if camera else None,
            )
        )
        outbox = services.enter_context(Outbox(settings.outbox_dir))
        stop = threading.Event()
        agent = threading.Thread(
            target=SyncAgent(settings, outbox).run_forever, args=(stop,), name="sync-agent"
        )
        agent.start()
        services.callback(agent.join, 10)
        services.callback(stop.set)
        scan = ScanSettings(mode=ColourMode.GREY, backend_options={"filename": str(page)})
        yield DemoKiosk(settings, scan, province.user_pin, admin_pin, tuple(stack[:-1]))
