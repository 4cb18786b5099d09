"""Command groups whose subcommands are imported when they are run, not when `sohoa` starts.

`sohoa server user list` needs the accounts' code, not the OCR, the PDF signer, the web server
and the sync harness that other subcommands import: loading every package on each start made
every command pay 2-3 s here before doing anything. A `LazyGroup` names its subcommands by
"module:attribute" and imports one only to run it (or to list them all, for `--help`).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


def load_command(target: str, name: str, help_text: str | None) -> Any:
    """The command of `target` ("module:attribute"): a Typer app (a group) or a function (one
    command), named `name`, with `help_text` as its help when given. (A command of Typer's
    private Click: typed Any, as `cli.main` does.)"""
    module, attribute = target.split(":")
    loaded = getattr(importlib.import_module(module), attribute)
    if isinstance(loaded, typer.Typer):
        command: Any = typer.main.get_group(loaded)
    else:
        single = typer.Typer()
        single.command(name)(loaded)
        command = typer.main.get_command(single)
    command.name = name
    if help_text is not None:
        command.help = help_text
    return command


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands `LAZY` names are imported on first use.

    A subclass sets `LAZY` (subcommand name → ("module:attribute", help or None)) and, for
    the subcommands it does not name, may set `REST` ("module:attribute" of a Typer app whose
    commands join the group, imported when one of them is asked for).
    """

    LAZY: ClassVar[dict[str, tuple[str, str | None]]] = {}
    REST: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Any] = {}
        self._rest: TyperGroup | None = None

    def _rest_group(self) -> TyperGroup | None:
        if self._rest is None and self.REST is not None:
            group = load_command(self.REST, self.name or "", None)
            assert isinstance(group, TyperGroup), f"{self.REST} is not a Typer app"
            self._rest = group
        return self._rest

    def list_commands(self, ctx: Any) -> list[str]:
        """Every subcommand's name: the group's own, the lazy ones and the rest's."""
        rest = self._rest_group()
        names = set(super().list_commands(ctx)) | set(self.LAZY)
        if rest is not None:
            names |= set(rest.list_commands(ctx))
        return sorted(names)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The subcommand `cmd_name`, imported now if it is a lazy one."""
        if cmd_name in self.LAZY:
            if cmd_name not in self._loaded:
                target, help_text = self.LAZY[cmd_name]
                self._loaded[cmd_name] = load_command(target, cmd_name, help_text)
            return self._loaded[cmd_name]
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        rest = self._rest_group()
        return rest.get_command(ctx, cmd_name) if rest is not None else None
