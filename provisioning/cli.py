"""The `sohoa provision` command group: the provincial CA, what it issues and what it revokes.

Errors are `ProvisioningError`s; `cli.main` turns them into one line and an exit code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from provisioning.broker import new_ingest_group
from provisioning.ca import (
    CA_CERT_FILE,
    CRL_FILE,
    CRL_NEXT_UPDATE_DAYS,
    CertificateAuthority,
    RevocationReason,
    publish_crl,
    read_certificate,
    revoke_certificate,
)
from provisioning.errors import CertificateError

app = typer.Typer(no_args_is_help=True)

CaOption = Annotated[
    Path,
    typer.Option(
        "--ca", help="The CA's folder (ca.pem, ca-key.pem, revocations.json).", file_okay=False
    ),
]
CrlOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help=f"Where to write the CRL (PEM); default CA/{CRL_FILE}.", dir_okay=False
    ),
]
DaysOption = Annotated[
    int, typer.Option("--days", min=1, help="Days until the CRL's nextUpdate: publish before.")
]


class Reason(StrEnum):
    """Revocation reasons as the command line spells them."""

    unspecified = "unspecified"
    key_compromise = "key-compromise"
    affiliation_changed = "affiliation-changed"
    superseded = "superseded"
    cessation_of_operation = "cessation-of-operation"

    def to_reason(self) -> RevocationReason:
        """The CA's own reason."""
        return RevocationReason[self.name.upper()]


@app.command("ca")
def make_ca(
    out: Annotated[Path, typer.Option(help="Folder for ca.pem and ca-key.pem.")],
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "Sohoa Provincial CA",
) -> None:
    """Create a new provincial CA (EC P-256) in OUT; refuses to overwrite an existing one."""
    if (out / CA_CERT_FILE).exists():
        raise CertificateError(f"{out / CA_CERT_FILE} exists already: choose another folder")
    try:
        path = CertificateAuthority.create(name).save(out)
    except OSError as e:
        raise CertificateError(f"cannot write the CA in {out}: {e}") from e
    typer.echo(f"CA certificate: {path}")


@app.command("revoke")
def revoke(
    ca: CaOption,
    cert: Annotated[
        Path,
        typer.Option(
            "--cert",
            help="The certificate to revoke (PEM or DER), e.g. a device's.",
            dir_okay=False,
        ),
    ],
    reason: Annotated[Reason, typer.Option(help="Why (kept in the CRL).")] = Reason.unspecified,
    out: CrlOutOption = None,
    days: DaysOption = CRL_NEXT_UPDATE_DAYS,
) -> None:
    """Revoke a certificate the CA issued and publish a fresh CRL at once.

    Revoke both of a device's certificates (document signing and transport): the server then
    refuses its results and the broker its connection, once they read the new CRL.
    """
    certificate = read_certificate(cert)
    revocation = revoke_certificate(ca, certificate, reason.to_reason())
    path = publish_crl(ca, out, next_update_days=days)
    typer.echo(
        f"revoked {revocation.common_name or '?'} (serial {revocation.serial:x}) at "
        f"{revocation.revoked_at.isoformat()}; CRL published to {path}"
    )


@app.command("crl")
def crl(ca: CaOption, out: CrlOutOption = None, days: DaysOption = CRL_NEXT_UPDATE_DAYS) -> None:
    """Publish a fresh CRL of everything revoked so far (run it daily, before nextUpdate)."""
    path = publish_crl(ca, out, next_update_days=days)
    typer.echo(f"CRL published to {path}")


@app.command("ingest-group")
def ingest_group() -> None:
    """Print a fresh secret share name for the ingest workers (the server's `ingest_group`).

    Put the same value in the settings of every server process of the deployment and give it to
    no device: a device that knew it could join the ingest group at the broker and have results
    dealt to it dropped.
    """
    typer.echo(f'ingest_group = "{new_ingest_group()}"')
