"""JSON values as plain, checked Python data: the free-form parts of messages (command arguments,
reply data) are JSON objects, and this module checks that what a caller puts there can be written
canonically and read back unchanged (RFC 8259; finite numbers only, string keys only, bounded
depth), and that a decoded message holds nothing a repository cannot store (`unstorable`).
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

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""The integers every repository column (SQLite INTEGER, PostgreSQL BIGINT) and every JSON
reader that maps numbers to 64-bit integers can hold."""


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


def unstorable(value: object, where: str) -> str | None:
    """Why decoded JSON `value` holds something a database cannot store, or None if it holds
    nothing of the kind.

    JSON (RFC 8259 section 7) lets a string escape a lone UTF-16 surrogate ("\\ud800"), which is
    no Unicode text: Python decodes it into a `str` that cannot be encoded as UTF-8, so SQLite
    and PostgreSQL refuse it at the write. PostgreSQL text cannot hold U+0000 either; JSON
    integers have no bound, repository columns have 64 bits; a number such as 1e400 decodes to
    infinity. Checking all of them once, at decoding, turns them into a refusal with a reason
    instead of a crash in a worker that already did half its work.

    Args:
        value: what `json.loads` returned.
        where: the name of `value` for the answer ("header").

    Returns:
        A sentence naming the member and what is wrong with it, or None.
    """
    todo: list[tuple[object, str]] = [(value, where)]
    while todo:
        item, path = todo.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                return f"{path} {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return f"{path} is an integer beyond 64 bits, which no repository column holds"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path} is a number too large for a 64-bit float"
        elif isinstance(item, list):
            todo.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem is not None:
                    return f"a member name in {path} {problem}"
                todo.append((v, f"{path}.{key:.64}"))
    return None


def storable_text(text: str) -> str | None:
    """Why `text` cannot be stored as text (a lone surrogate, a NUL), or None if it can."""
    return _text_problem(text)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (U+0000), which PostgreSQL text cannot store"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return (
            "holds a lone UTF-16 surrogate (U+D800-U+DFFF), which is not text and cannot be "
            "stored: correct the value and send it again"
        )
    return None
