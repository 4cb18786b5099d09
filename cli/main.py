"""Entry point of the `sohoa` command; maps every package's errors to exit codes in one place.

Commands never choose an exit status: they return (0), or raise an error of their package, and
`SohoaGroup` below turns it into one line on stderr and the code `EXIT_CODES` gives its class
(as OCRmyPDF's `ExitCode`). Click's own usage errors exit 2. `--verbose` also logs the error's
traceback.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Annotated, Any, ClassVar

import typer

from cli.errors import DemoError
from cli.lazy import LazyGroup
from edge.errors import ConfigError as EdgeConfigError
from edge.errors import EdgeError, IncompleteError
from harness.errors import HarnessError
from protocol.errors import ProtocolError
from provisioning.errors import ProvisioningError
from server.errors import ConfigError as ServerConfigError
from server.errors import ServerError

log = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """The exit statuses of `sohoa`, documented in README.md's table.

    The same kind of failure gives the same code under every command: settings that are
    missing, unknown, invalid or insecure are CONFIG whether `edge sync`, `edge process --sign`,
    `server run` or any other command reads them; a wrong option is USAGE everywhere; work done
    only in part is INCOMPLETE. Any other error gets the code of the package family it comes
    from (EDGE, SERVER, PROVISIONING, PROTOCOL), whichever command meets it. The demo and the
    load-test harness run the other packages' code, so they report a failure as theirs (DEMO,
    HARNESS), naming the stage or the process that failed and the cause.
    """

    OK = 0
    INCOMPLETE = 1
    """The command finished, but part of its work did not (pages unreadable, results still
    waiting for the server); each failure was reported on its own line."""
    USAGE = 2
    """A wrong option or argument (Click's own code)."""
    EDGE = 3
    """The appliance failed: token, PIN, certificate, OCR, outbox, broker, a revoked appliance."""
    SERVER = 4
    """The server failed: repository, migration, broker, API address."""
    PROVISIONING = 5
    """Provisioning failed: CA, certificate, token initialisation, broker configuration."""
    CONFIG = 6
    """The settings (TOML file or SOHOA_EDGE_* / SOHOA_SERVER_* variables) are missing,
    unknown, invalid or insecure; the message names the key, the variable or the file."""
    PROTOCOL = 7
    """A sync protocol rule was broken (a device id or topic outside the grammar, a message
    that cannot be read)."""
    DEMO = 8
    """A stage of `sohoa demo` failed; the line names the stage, the cause and where to look."""
    HARNESS = 9
    """The load-test harness (`sohoa server bench-sync`) failed, or results were lost,
    duplicated or badly signed in the run."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C before it finished (128 + SIGINT, as shells report it)."""


EXIT_CODES: tuple[tuple[type[Exception], ExitCode], ...] = (
    # Kinds that cut across families first: the same kind of failure, the same code.
    (EdgeConfigError, ExitCode.CONFIG),
    (ServerConfigError, ExitCode.CONFIG),
    (IncompleteError, ExitCode.INCOMPLETE),
    # Then each family's base class (a subclass before its base).
    (EdgeError, ExitCode.EDGE),
    (ServerError, ExitCode.SERVER),
    (ProvisioningError, ExitCode.PROVISIONING),
    (ProtocolError, ExitCode.PROTOCOL),
    (HarnessError, ExitCode.HARNESS),
    (DemoError, ExitCode.DEMO),
)
"""Which error gives which exit status: the first class that matches wins."""


def exit_code_for(error: Exception) -> ExitCode | None:
    """The exit status `error` gives, or None if it is not one of our errors (a bug)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None


class SohoaGroup(LazyGroup):
    """The root command group: runs a command and turns our errors into exit codes.

    Each package's commands are imported only when one of them runs (`cli.lazy`).
    """

    LAZY: ClassVar[dict[str, tuple[str, str | None]]] = {
        "demo": ("cli.demo:demo", None),
    }

    def invoke(self, ctx: Any) -> Any:  # a Click context (Typer keeps its Click private)
        """Run the command `ctx` names; our error → one line on stderr and its `ExitCode`.

        Raises:
            typer.Exit: a command raised one of our errors, or was interrupted.
        """
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as e:
            code = exit_code_for(e)
            if code is None:
                raise  # not ours: a bug, and its traceback is what a person needs
            typer.echo(f"sohoa: error: {e}", err=True)
            log.info("the error's traceback (shown with --verbose):", exc_info=e)
            raise typer.Exit(code) from e


class ServerGroup(LazyGroup):
    """`sohoa server`: `server.cli`'s commands, the accounts, the audit log and the sync
    benchmark, each imported only when it runs."""

    LAZY: ClassVar[dict[str, tuple[str, str | None]]] = {
        "user": (
            "server.users_cli:app",
            "Accounts of the API: add, list, disable, enable, password.",
        ),
        "audit": ("server.audit_cli:app", "The audit log of personal data: verify."),
        # The sync benchmark drives edge and server together: a thin entry into the harness.
        "bench-sync": ("harness.bench_command:bench_sync", None),
    }
    REST = "server.cli:app"


class ProvisionGroup(LazyGroup):
    """`sohoa provision`: `provisioning.cli`'s commands (the CA, the broker), and the
    appliances' enrollment codes, which live in the server's repository (`server.devices_cli`)."""

    LAZY: ClassVar[dict[str, tuple[str, str | None]]] = {
        "device": (
            "server.devices_cli:app",
            "Appliances: add one (a one-time enrollment code and its QR code).",
        ),
    }
    REST = "provisioning.cli:app"


class EdgeGroup(LazyGroup):
    """`sohoa edge`: `edge.cli`'s commands and the kiosk, each imported only when it runs. The
    kiosk's command is `cli.kiosk`'s: its `--demo` starts the server, which edge never imports."""

    LAZY: ClassVar[dict[str, tuple[str, str | None]]] = {"tui": ("cli.kiosk:tui", None)}
    REST = "edge.cli:app"


app = typer.Typer(
    name="sohoa",
    cls=SohoaGroup,
    help="Digitize, sign and sync results of administrative procedures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(
    typer.Typer(cls=EdgeGroup, no_args_is_help=True),
    name="edge",
    help="The appliance: detect and process pages, sync, the kiosk.",
)
app.add_typer(
    typer.Typer(cls=ProvisionGroup, no_args_is_help=True),
    name="provision",
    help="CA, devices, broker configuration.",
)
app.add_typer(
    typer.Typer(cls=ServerGroup, no_args_is_help=True),
    name="server",
    help="The provincial server: API and ingest.",
)


@app.callback()
def sohoa(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Log what the command does (INFO), and an error's traceback; give it before "
            "the command: sohoa -v edge sync …",
        ),
    ] = False,
) -> None:
    """Digitize, sign and sync results of administrative procedures."""
    if verbose:
        logging.getLogger().setLevel(logging.INFO)


def main() -> None:
    """Run the `sohoa` command (the console script and `python -m cli`)."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app()
