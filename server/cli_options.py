"""The options every `sohoa server` command shares, in a module of their own: the account and
audit commands import them without importing the server's run and ingest machinery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Server settings (TOML); SOHOA_SERVER_* environment variables override it.",
        dir_okay=False,
    ),
]
"""`--config TOML`: the server's settings file."""
