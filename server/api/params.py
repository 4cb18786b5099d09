"""Constraints the API's text parameters share, stated in the OpenAPI description.

PostgreSQL refuses a NUL character in a text value, so a parameter that reaches the database
with one would fail there (a 500) instead of being refused: every text parameter that may reach
it carries `NO_CONTROL`, and a control character is answered 422 before any query runs.
"""

from __future__ import annotations

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""A pattern that any text without control characters (NUL, newlines, ...) matches."""

MAX_OFFSET = 1_000_000_000
"""The largest `offset` of an offset-paged listing: far beyond any repository's size, and
within the databases' integers (SQLite refuses a Python int beyond 64 bits: a 500)."""
