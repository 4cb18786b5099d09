"""`sohoa provision device add | revoke`, on the server's machine (whoever can read its
settings and database): register an appliance for a unit and print its one-time enrollment code
(text and QR code), which the appliance gives to `sohoa edge enroll --server URL --code CODE`;
revoke one everywhere at once (`server.revocation`).

Errors are `ServerError`s (`EnrollmentError` for a taken device id or an unknown unit);
`cli.main` maps them to exit codes.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from provisioning.cli import Reason
from provisioning.enrollment_qr import qr_png, qr_svg, qr_terminal
from server.cli_options import ConfigOption
from server.config import load_server_settings
from server.db import repository_session
from server.enrollment import issue_code, pinned_server_key
from server.revocation import revoke_device
from support.files import write_atomic

app = typer.Typer(no_args_is_help=True)


@app.command("add")
def add(
    device_id: Annotated[
        str, typer.Argument(help="The appliance's id (its certificates' name), e.g. vt-01.kiosk.")
    ],
    unit: Annotated[
        str,
        typer.Option(
            help="Its unit: a code (e.g. 22516, from `sohoa server units import`) or the "
            "People's Committee's name (e.g. 'UBND xã Vạn Thắng').",
        ),
    ],
    config: ConfigOption = None,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server-url",
            help="The address the appliance reaches the API at, put into the QR code "
            "(default: the public_url setting, else https://api_host:api_port).",
        ),
    ] = None,
    server_cert: Annotated[
        Path | None,
        typer.Option(
            "--server-cert",
            help="The HTTPS certificate the appliance will meet (PEM), when it is not the "
            "enroll_server_cert_file or api_tls_cert_file setting's.",
            dir_okay=False,
        ),
    ] = None,
    qr_png_file: Annotated[
        Path | None,
        typer.Option("--qr-png", help="Also write the QR code as a PNG image.", dir_okay=False),
    ] = None,
    qr_svg_file: Annotated[
        Path | None,
        typer.Option("--qr-svg", help="Also write the QR code as an SVG image.", dir_okay=False),
    ] = None,
    no_qr: Annotated[
        bool, typer.Option("--no-qr", help="Do not draw the QR code in the terminal.")
    ] = False,
) -> None:
    """Register an appliance for a unit and print its one-time enrollment code."""
    settings = load_server_settings(config)
    key = pinned_server_key(settings, server_cert)
    with repository_session(settings) as session:
        issued = issue_code(
            session,
            settings,
            device_id,
            unit,
            server_key=key,
            created_by=f"cli:{getpass.getuser()}",
            server_url=server_url,
        )
    for path, data in ((qr_png_file, qr_png), (qr_svg_file, lambda t: qr_svg(t).encode())):
        if path is not None:
            write_atomic(path, data(issued.uri), mode=0o600)
    if not no_qr:
        typer.echo(qr_terminal(issued.uri))
    typer.echo(
        f"device {issued.device_id} added for {issued.unit} "
        f"({issued.unit_code or 'a unit not in the unit tree'})\n"
        f"enrollment code: {issued.code.text()}\n"
        f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, once\n"
        f"on the appliance: sohoa edge enroll --server {issued.server_url} --code "
        f"{issued.code.text()} --config /etc/sohoa/edge.toml"
    )


@app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The appliance's id.")],
    reason: Annotated[
        Reason,
        typer.Option(help="Why, for the CRL: key-compromise for a lost or stolen appliance."),
    ],
    note: Annotated[
        str,
        typer.Option(
            help="Why, in words, sent to the appliance and shown on its kiosk (no personal data)."
        ),
    ] = "thiết bị đã bị thu hồi",
    config: ConfigOption = None,
) -> None:
    """Revoke an appliance everywhere at once: the repository refuses its results, its
    certificates go into a fresh CRL, the broker is reloaded, and it is told to stop."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        done = revoke_device(
            session,
            settings,
            device_id,
            reason=reason.to_reason(),
            note=note,
            issued_by=f"cli:{getpass.getuser()}",
        )
    typer.echo(
        f"device {device_id} revoked: its results are refused from now on; revoke command "
        f"{done.command.command_id} queued for it"
    )
    if done.certificates:
        typer.echo(
            f"certificates revoked: {', '.join(done.certificates)}; CRL published to "
            f"{', '.join(str(p) for p in done.crl_files)}"
        )
    if done.broker_reloaded:
        typer.echo("broker reloaded: the device's next connection is refused")
    for problem in done.problems:
        typer.echo(f"still to do: {problem}", err=True)
