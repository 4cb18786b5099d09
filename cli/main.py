"""Entry point of the `sohoa` command; maps every package's errors to exit codes in one place."""

from __future__ import annotations

import logging
import sys
from enum import IntEnum

import typer

from cli.demo import demo
from edge.cli import app as edge_app
from edge.errors import EdgeError
from harness.bench_command import bench_sync
from provisioning.cli import app as provision_app
from provisioning.errors import ProvisioningError
from server.cli import app as server_app
from server.errors import ServerError

app = typer.Typer(
    name="sohoa",
    help="Digitize, sign and sync results of administrative procedures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(edge_app, name="edge", help="The appliance: process pages, enroll, sync.")
# The sync benchmark drives edge and server together: a thin entry into the harness.
server_app.command("bench-sync")(bench_sync)
app.add_typer(server_app, name="server", help="The provincial server: API and ingest.")
app.add_typer(provision_app, name="provision", help="CA, devices, broker configuration.")
app.command()(demo)


class ExitCode(IntEnum):
    """Exit statuses of `sohoa` (0 is success; Typer uses 2 for usage errors)."""

    EDGE = 3
    SERVER = 4
    PROVISIONING = 5
    INTERRUPTED = 130


def main() -> None:
    """Run the CLI; an error from our packages becomes one line on stderr and a non-zero exit."""
    logging.basicConfig(
        level=logging.INFO if "-v" in sys.argv else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app()
    except EdgeError as e:
        _fail(e, ExitCode.EDGE)
    except ServerError as e:
        _fail(e, ExitCode.SERVER)
    except ProvisioningError as e:
        _fail(e, ExitCode.PROVISIONING)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)


def _fail(error: Exception, code: ExitCode) -> None:
    print(f"sohoa: error: {error}", file=sys.stderr)
    sys.exit(code)
