"""Errors of the `sohoa` command itself (the demo's orchestration)."""


class DemoError(Exception):
    """A stage of the demo failed; the message names the stage, the cause and where to look."""
