"""`sohoa server audit verify`: check the audit log's hash chain and name the first entry that
was changed, removed or moved.

Exit 0 when the chain is whole; otherwise an `AuditChainError` (exit SERVER, 4) whose line names
the entry and what happened to it.
"""

from __future__ import annotations

import typer

from server.cli_options import ConfigOption
from server.config import load_server_settings
from server.db import repository_session
from server.errors import AuditChainError
from server.repository import audit

app = typer.Typer(no_args_is_help=True)


@app.callback()
def audit_group() -> None:
    """The audit log of personal data."""


@app.command("verify")
def verify(config: ConfigOption = None) -> None:
    """Check every entry against its hash and its predecessor's; name the first broken one."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        count, broken = audit.verify_chain(session)
    if broken is not None:
        raise AuditChainError(
            f"audit log broken at entry {broken.seq} of {count} read: {broken.what}; the "
            "database was altered outside Sohoa: keep a copy of it as evidence and compare "
            "with a backup"
        )
    typer.echo(f"audit log whole: {count} entries")
