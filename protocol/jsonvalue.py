"""JSON values as plain, checked Python data: the free-form parts of messages (command arguments,
reply data) are JSON objects, and this module checks that what a caller puts there can be written
canonically and read back unchanged (RFC 8259; finite numbers only, string keys only, bounded
depth).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""Any JSON value as Python data."""

JsonObject: TypeAlias = dict[str, JsonValue]
"""A JSON object."""

MAX_DEPTH = 16
"""How deeply free-form JSON may nest (bounds the work of checking and copying it)."""


def check_object(value: object, what: str) -> JsonObject:
    """A deep copy of `value` if it is a JSON object, else raise TypeError naming `what`.

    Raises:
        TypeError: `value` is not a JSON object of strings, finite numbers, booleans, nulls,
            lists and objects nested at most MAX_DEPTH deep.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a JSON object")
    copied = _check(value, what, 0)
    assert isinstance(copied, dict)
    return copied


def _check(value: object, where: str, depth: int) -> JsonValue:
    if depth > MAX_DEPTH:
        raise TypeError(f"{where} nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{where} holds a number JSON cannot carry ({value})")
        return value
    if isinstance(value, list | tuple):
        return [_check(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: JsonObject = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key that is not a string: {k!r}")
            out[k] = _check(v, f"{where}.{k}", depth + 1)
        return out
    raise TypeError(f"{where} holds a {type(value).__name__}, which is not JSON")
