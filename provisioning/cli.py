"""The `sohoa provision` command group: the provincial CA and what it issues."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioning.ca import CA_CERT_FILE, CertificateAuthority

app = typer.Typer(no_args_is_help=True)


@app.command("ca")
def make_ca(
    out: Annotated[Path, typer.Option(help="Folder for ca.pem and ca-key.pem.")],
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "Sohoa Provincial CA",
) -> None:
    """Create a new provincial CA (EC P-256) in OUT; refuses to overwrite an existing one."""
    if (out / CA_CERT_FILE).exists():
        typer.echo(f"{out / CA_CERT_FILE} exists already: choose another folder", err=True)
        raise typer.Exit(1)
    path = CertificateAuthority.create(name).save(out)
    typer.echo(f"CA certificate: {path}")
