"""A search request, checked: its words in the three forms (`server.search.fold`), its filters,
and the opaque cursor that continues it.

Every parameter is checked here, before anything reaches the index or the database, and a bad
one is a `SearchInputError` naming it. Text is never handed to a query parser: words are
extracted in Python and become term queries, so quotes, operators, SQL or HTML in a parameter
are just characters that match nothing.

The cursor is the position after the last result of a page (rank tier and sort key, and the
first page's total), bound to
the query it continues (a digest of its parameters and of the account) and signed with an
HMAC: a changed, truncated or borrowed cursor is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from server.errors import SearchInputError
from server.search.fold import exact_form, fold, tone_form, words

MAX_QUERY_CHARS = 200
MAX_WORDS = 12
MAX_WORD_CHARS = 40
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 256

_CCCD = re.compile(r"^[0-9]{12}$")
_CODE = re.compile(r"^[0-9A-Za-z.]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Words:
    """A text parameter's words in the forms the index stores."""

    folded: tuple[str, ...]
    tone: tuple[str, ...]
    exact: tuple[str, ...]


@dataclass(frozen=True)
class SearchQuery:
    """A checked search request (every field optional; none: the newest results).

    Attributes:
        text: free text over the fields and the recognised text.
        name: the citizen's name.
        units: the units a result must belong to (a unit's subtree, already expanded, and/or
            what the account may see); None: any.
    """

    text: Words | None = None
    name: Words | None = None
    cccd: str | None = None
    so_ky_hieu: str | None = None
    procedure: str | None = None
    doc_type: str | None = None
    """The result type (loai_van_ban), folded (`doc_type_key`)."""
    units: frozenset[str] | None = None
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None

    def digest(self, who: str) -> str:
        """What a cursor is bound to: this query as `who` asks it."""
        parts = [
            who,
            repr(self.text),
            repr(self.name),
            self.cccd,
            self.so_ky_hieu,
            self.procedure,
            self.doc_type,
            ",".join(sorted(self.units)) if self.units is not None else None,
            str(self.issued_from),
            str(self.issued_to),
        ]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Position:
    """Where a page ended: the rank tier and sort key of its last result, and how many results
    the first page counted (later pages answer that total rather than count again)."""

    tier: int
    key: int
    total: int


def text_words(value: str | None, parameter: str) -> Words | None:
    """A free-text parameter's words, or None when it is absent or blank.

    Raises:
        SearchInputError: it is too long, has control characters, no word, too many words or
            a word too long to be indexed.
    """
    if value is None or not value.strip():
        return None
    if len(value) > MAX_QUERY_CHARS:
        raise SearchInputError(
            parameter,
            f"{parameter} has {len(value)} characters; at most {MAX_QUERY_CHARS}: shorten it",
        )
    if _CONTROL.search(value):
        raise SearchInputError(
            parameter, f"{parameter} contains control characters: send plain text"
        )
    folded = words(fold(value))
    if not folded:
        raise SearchInputError(
            parameter,
            f"{parameter} has no word to search for (letters or digits): e.g. nguyen thi huong",
        )
    if len(folded) > MAX_WORDS:
        raise SearchInputError(
            parameter,
            f"{parameter} has {len(folded)} words; at most {MAX_WORDS}: keep the distinctive ones",
        )
    if any(len(w) > MAX_WORD_CHARS for w in folded):
        raise SearchInputError(
            parameter,
            f"{parameter} has a word longer than {MAX_WORD_CHARS} characters, which no result has",
        )
    return Words(tuple(folded), tuple(words(tone_form(value))), tuple(words(exact_form(value))))


def check_cccd(value: str | None) -> str | None:
    """A CCCD parameter: 12 digits.

    Raises:
        SearchInputError: it is anything else.
    """
    if value is None or value == "":
        return None
    if not _CCCD.match(value):
        raise SearchInputError("cccd", "cccd must be a citizen identity number of 12 digits")
    return value


def check_code(value: str | None, parameter: str) -> str | None:
    """A unit or procedure code: digits, letters and dots (e.g. 22516, 1.001193)."""
    if value is None or value == "":
        return None
    if not _CODE.match(value):
        raise SearchInputError(
            parameter,
            f"{parameter} must be a code of digits, letters and dots (e.g. 22516 or 1.001193)",
        )
    return value


def check_so_ky_hieu(value: str | None) -> str | None:
    """A document number and symbol ("05/QĐ-UBND"), compared folded, as one term."""
    if value is None or not value.strip():
        return None
    if len(value) > 64 or _CONTROL.search(value):
        raise SearchInputError(
            "so_ky_hieu", "so_ky_hieu must be at most 64 printable characters, e.g. 05/QĐ-UBND"
        )
    return so_ky_hieu_key(value)


def check_doc_type(value: str | None) -> str | None:
    """A result type as printed ("GIẤY KHAI SINH"), compared folded (`doc_type_key`)."""
    if value is None or not value.strip():
        return None
    if len(value) > 200 or _CONTROL.search(value):
        raise SearchInputError(
            "doc_type", "doc_type must be at most 200 printable characters, e.g. GIẤY KHAI SINH"
        )
    return doc_type_key(value)


def doc_type_key(value: str) -> str:
    """How a result type is indexed and looked up: its folded words, one space apart."""
    return " ".join(words(fold(value)))


def so_ky_hieu_key(value: str) -> str:
    """How a số ký hiệu is indexed and looked up: folded, without spaces."""
    return "".join(fold(value).split())


def check_dates(
    issued_from: str | None, issued_to: str | None
) -> tuple[dt.date | None, dt.date | None]:
    """The `from` and `to` parameters (issue dates, YYYY-MM-DD, inclusive).

    Raises:
        SearchInputError: one is not a date, or `from` is after `to`.
    """
    start = _date(issued_from, "from")
    end = _date(issued_to, "to")
    if start is not None and end is not None and start > end:
        raise SearchInputError("from", f"from ({start}) is after to ({end}): swap them")
    return start, end


def _date(value: str | None, parameter: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SearchInputError(
            parameter, f"{parameter} must be a date written YYYY-MM-DD, e.g. 2025-07-01"
        ) from None


def check_limit(limit: int) -> int:
    """A page size: 1 to `MAX_LIMIT`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchInputError("limit", f"limit must be between 1 and {MAX_LIMIT}")
    return limit


class CursorCodec:
    """Makes and reads the opaque cursors of one server (one secret).

    Args:
        key: the secret the cursors are signed with.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, position: Position, digest: str) -> str:
        """The cursor continuing after `position` for the query with `digest`."""
        body = json.dumps(
            [2, position.tier, position.key, position.total, digest], separators=(",", ":")
        ).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def decode(self, cursor: str, digest: str) -> Position:
        """The position a cursor names, if it is one of ours for this query.

        Raises:
            SearchInputError: it is malformed, altered, or continues another query.
        """
        again = "start again without cursor"
        if len(cursor) > MAX_CURSOR_CHARS:
            raise SearchInputError("cursor", f"cursor is too long to be one of ours: {again}")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise SearchInputError(
                "cursor", f"cursor is not one this server gave: {again}"
            ) from None
        body, mac = raw[:-16], raw[-16:]
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        if len(raw) <= 16 or not hmac.compare_digest(mac, expected):
            raise SearchInputError("cursor", f"cursor is not one this server gave: {again}")
        fields = json.loads(body)
        if len(fields) != 5 or fields[0] != 2:  # an earlier server's cursor
            raise SearchInputError("cursor", f"cursor is from an older version: {again}")
        _, tier, key, total, bound = fields
        if bound != digest:
            raise SearchInputError(
                "cursor", f"cursor continues another query (or another account's): {again}"
            )
        return Position(int(tier), int(key), int(total))
