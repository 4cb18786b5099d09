"""`sohoa server user add|list|disable|enable|password`: the accounts of the API, managed on
the server's machine (whoever can read its settings and database).

The password of `add` and `password` comes from `SOHOA_PASSWORD` or a hidden prompt, asked
twice; never from an option, which other users could read in the process list. Errors are
`ServerError`s (`AccountError` for a taken name or a weak password); `cli.main` maps them to
exit codes.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from server.cli_options import ConfigOption
from server.config import load_server_settings
from server.db import repository_session
from server.errors import AccountError
from server.models import Role, utc_now
from server.passwords import password_problem
from server.repository import accounts, units

PASSWORD_VARIABLE = "SOHOA_PASSWORD"  # noqa: S105 (the variable's name, not a password)

app = typer.Typer(no_args_is_help=True)


class RoleChoice(StrEnum):
    """The roles as the command line spells them."""

    province_admin = "province_admin"
    unit_officer = "unit_officer"
    auditor = "auditor"


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The account's username (lower case).")],
    role: Annotated[RoleChoice, typer.Option(help="What it may do.")],
    unit: Annotated[
        str | None,
        typer.Option(
            help="A unit officer's unit: its code (e.g. 22516) or its committee's name (e.g. "
            "'UBND xã Vạn Thắng'), a unit in force today (`sohoa server units import` first). "
            "The officer sees the results of the unit, the units under it and those merged "
            "into it.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add an account; its password comes from SOHOA_PASSWORD or a hidden prompt."""
    settings = load_server_settings(config)
    password = _new_password("account not added")
    with repository_session(settings) as session:
        account = accounts.add_account(
            session, name, Role(role.value), password, unit, hashing=settings.password_hashing
        )
        where = ""
        if account.unit is not None:
            version = units.version_at(session, account.unit, units.today())
            named = f" ({units.display_name(version)})" if version is not None else ""
            where = f" of unit {account.unit}{named}"
    typer.echo(f"account {account.username} added: {account.role.value}{where}")


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """List the accounts: name, role, unit, state, last sign-in."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        rows = accounts.list_accounts(session)
    for a in rows:
        state = "disabled" if a.disabled_at else "active"
        last = f"{a.last_login_at:%Y-%m-%d %H:%M} UTC" if a.last_login_at else "never"
        typer.echo(f"{a.username}\t{a.role.value}\t{a.unit or '-'}\t{state}\tlast sign-in {last}")
    if not rows:
        typer.echo("no accounts: add one with sohoa server user add NAME --role ROLE")


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="The account's username.")],
    config: ConfigOption = None,
) -> None:
    """Disable an account: it cannot sign in, and its tokens stop working (within 2 s on a
    running API, which keeps an account it checked that long)."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        account = accounts.disable_account(session, name, utc_now())
    typer.echo(f"account {account.username} disabled")


@app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="The account's username.")],
    config: ConfigOption = None,
) -> None:
    """Enable a disabled account: it can sign in again."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        account = accounts.enable_account(session, name)
    typer.echo(f"account {account.username} enabled")


@app.command("password")
def password(
    name: Annotated[str, typer.Argument(help="The account's username.")],
    config: ConfigOption = None,
) -> None:
    """Set a new password (SOHOA_PASSWORD or a hidden prompt); it lifts a lock-out too."""
    settings = load_server_settings(config)
    new = _new_password(f"password of {name} not changed")
    with repository_session(settings) as session:
        account = accounts.set_password(session, name, new, hashing=settings.password_hashing)
    typer.echo(f"password of account {account.username} changed")


def _new_password(refused: str) -> str:
    """A new password: `SOHOA_PASSWORD`, or typed twice at a hidden prompt.

    Args:
        refused: what was not done, to begin an error with ("account not added").

    Raises:
        AccountError: none is given (no variable, no terminal to ask on), or it is too
            short or too long.
    """
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None and not sys.stdin.isatty():
        raise AccountError(
            f"{refused}: no password; set {PASSWORD_VARIABLE} or run in a terminal "
            "to be asked for one"
        )
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem is not None:
        raise AccountError(f"{refused}: {problem}")
    return password
