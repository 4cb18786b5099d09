"""`sohoa edge tui`: the kiosk, on the appliance's settings or, with `--demo`, on this machine with
nothing prepared (`cli.kiosk_demo`, imported only then: it starts a broker and the server).

It lives in `cli/` because the demo starts the server: `edge` never imports `server`.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from edge.config import load_edge_settings


def tui(
    config: Annotated[
        Path | None, typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Run on this machine with nothing prepared: a SoftHSM token (its PIN printed), "
            "SANE's pnm backend scanning a sample result, its own broker and server.",
        ),
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="With --demo: keep everything in this folder.")
    ] = None,
) -> None:
    """The kiosk the officers use, full screen, in Vietnamese: it opens with the token's PIN and
    is left only with the admin PIN (`sohoa edge admin-pin`). Its log goes to
    <data_dir>/logs/kiosk.log (the screen is the kiosk's)."""
    # Textual only when the kiosk runs: the other commands start without it.
    from edge.tui.run import run_kiosk

    if not demo:
        run_kiosk(load_edge_settings(config))
        return
    from cli.kiosk_demo import demo_appliance

    with ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kiosk-")))
        typer.echo(f"Preparing the demo appliance, broker and server in {folder} …")
        ready = stack.enter_context(demo_appliance(folder))
        typer.echo(ready.note)
        run_kiosk(
            ready.settings,
            scan=ready.scan,
            note=ready.note,
            batch_stack=ready.stack,
            on_abandon=stack.close,
        )
