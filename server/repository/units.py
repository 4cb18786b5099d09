"""Administrative units as an effective-dated tree: importing a units file without rewriting
history, the tree and a unit's subtree as of a date, the units whose results an officer of a
unit may see, and which unit a result belongs to.

A unit is its code (`Unit`); what it was between two dates is a `UnitVersion`. Merges are the
versions' `successors`: the units a version went into when it ended. The statistics office
gives the unit formed by a merge the code of one of the merged units, so a code's later version
is the continuation of its earlier ones and needs no successor link.

The tables are small (a province has a few hundred versions): the tree is computed in Python
from the current versions, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.catalogue_files import UnitRow
from server.errors import RepositoryError
from server.models import Device, Unit, UnitVersion, utc_now
from server.repository.common import commit, nfc

log = logging.getLogger(__name__)
T = TypeVar("T")

VIETNAM = dt.timezone(dt.timedelta(hours=7))
"""The units in force are those of the day in Việt Nam."""

KIND_LABELS = {
    "tinh": "Tỉnh",
    "huyen": "Huyện",
    "thi_xa": "Thị xã",
    "thanh_pho": "Thành phố",
    "xa": "Xã",
    "phuong": "Phường",
    "thi_tran": "Thị trấn",
    "dac_khu": "Đặc khu",
}
"""How each kind is written before a unit's name."""

_ISSUER_PREFIX = re.compile(r"^(?:ubnd|ủy ban nhân dân)\s+")
_CODE = re.compile(r"^[0-9]{2,5}$")
_ISSUER_KINDS = (
    ("thị trấn", "thi_tran"),
    ("thị xã", "thi_xa"),
    ("thành phố", "thanh_pho"),
    ("đặc khu", "dac_khu"),
    ("phường", "phuong"),
    ("huyện", "huyen"),
    ("tỉnh", "tinh"),
    ("xã", "xa"),
)


@dataclass(frozen=True)
class ImportSummary:
    """What `import_units` did.

    Attributes:
        added: versions new to the repository.
        superseded: versions the file states otherwise: the old row kept, marked superseded,
            and the file's row added (also counted in `added`).
        unchanged: rows already stored exactly so.
        absent: current versions of the repository the file does not mention (kept).
    """

    added: int
    superseded: int
    unchanged: int
    absent: int


@dataclass
class TreeNode:
    """A unit as of a date and the units under it then."""

    version: UnitVersion
    children: list[TreeNode] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The unit's code."""
        return self.version.code

    def codes(self) -> list[str]:
        """This unit's code and its descendants', depth first."""
        out = [self.code]
        for child in self.children:
            out += child.codes()
        return out


def today() -> dt.date:
    """The day it is now in Việt Nam (the day whose units are in force)."""
    return dt.datetime.now(VIETNAM).date()


def display_name(version: UnitVersion) -> str:
    """The unit's name with its kind, e.g. "Xã Vạn Thắng"."""
    return f"{KIND_LABELS.get(version.kind, version.kind)} {version.name}"


def import_units(session: Session, rows: Sequence[UnitRow]) -> ImportSummary:
    """Store a units file's versions; commit.

    A row is identified by its code and first day. One already stored exactly so changes
    nothing (importing a file twice is harmless); one stored otherwise is not rewritten: the
    stored row is marked superseded and the file's row added, so history stays readable. Stored
    versions the file omits are kept.

    Raises:
        RepositoryError: the database refused the write.
    """
    now = utc_now()
    current = {(v.code, v.valid_from): v for v in current_versions(session)}
    known_codes = set(session.exec(select(Unit.code)).all())
    added = superseded = unchanged = 0
    seen: set[tuple[str, dt.date | None]] = set()
    for row in rows:
        key = (row.code, row.valid_from)
        seen.add(key)
        if row.code not in known_codes:
            session.add(Unit(code=row.code, created_at=now))
            known_codes.add(row.code)
        stored = current.get(key)
        if stored is not None and _same(stored, row):
            unchanged += 1
            continue
        if stored is not None:
            stored.superseded_at = now
            session.add(stored)
            superseded += 1
        session.add(_version(row, now))
        added += 1
    session.flush()
    commit(session, "import the units")
    forget_visible_units()  # this process sees the new tree at once (others: `_fingerprint`)
    absent = len(set(current) - seen)
    log.info(
        "units imported: %d added (%d superseding), %d unchanged, %d kept that the file omits",
        added,
        superseded,
        unchanged,
        absent,
    )
    return ImportSummary(added=added, superseded=superseded, unchanged=unchanged, absent=absent)


def current_versions(session: Session) -> Sequence[UnitVersion]:
    """Every version the repository currently holds true (none superseded)."""
    return session.exec(
        select(UnitVersion)
        .where(col(UnitVersion.superseded_at).is_(None))
        .order_by(col(UnitVersion.code), col(UnitVersion.valid_from))
    ).all()


def version_at(session: Session, code: str, day: dt.date) -> UnitVersion | None:
    """What unit `code` was on `day`, or None if it did not exist then."""
    for version in _versions_of(session, code):
        if _in_force(version, day):
            return version
    return None


def tree_as_of(session: Session, day: dt.date) -> list[TreeNode]:
    """The unit tree on `day`: its roots (the provinces then), each with its children."""
    in_force = [v for v in current_versions(session) if _in_force(v, day)]
    nodes = {v.code: TreeNode(v) for v in in_force}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.version.parent_code or "")
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.code)
    return sorted(roots, key=lambda n: n.code)


def subtree_as_of(session: Session, code: str, day: dt.date) -> TreeNode | None:
    """Unit `code` and the units under it on `day`; None if it did not exist then."""
    stack = tree_as_of(session, day)
    while stack:
        node = stack.pop()
        if node.code == code:
            return node
        stack += node.children
    return None


def visible_units(session: Session, code: str) -> frozenset[str]:
    """The units whose results an officer of unit `code` may see.

    The unit, every unit that was ever under it, and every unit merged into one of those
    (wholly or in part), transitively: an officer of a commune formed in 2025 sees the results
    of the communes merged into it, and of those merged into them in 2024. Empty if the
    repository knows no unit `code`.
    """
    versions = current_versions(session)
    if not any(v.code == code for v in versions):
        return frozenset()
    below: dict[str, set[str]] = {}
    for v in versions:
        if v.parent_code is not None:
            below.setdefault(v.parent_code, set()).add(v.code)
        for successor in v.successors:
            below.setdefault(successor, set()).add(v.code)
    seen = {code}
    stack = [code]
    while stack:
        for other in below.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return frozenset(seen)


_VISIBLE: dict[tuple[Any, ...], object] = {}
_VISIBLE_LOCK = threading.Lock()
_VISIBLE_MAX = 10_000


def cached_visible_units(session: Session, code: str) -> frozenset[str]:
    """`visible_units(session, code)`, kept while the unit tree is unchanged (`tree_cached`).

    Computing it reads every unit version (8–12 ms on SQLite): too much for every request of
    an officer.
    """
    return tree_cached(session, ("visible", code), lambda: visible_units(session, code))


def tree_cached(session: Session, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """`compute()`, a function of the unit tree only, kept under `key` while the tree is
    unchanged.

    Kept under a fingerprint of the unit table (`_fingerprint`, one small aggregate query per
    call) that every import changes, so a tree imported by any process (`sohoa server units
    import`, another API worker) is seen by the next request; an import in this process also
    empties the cache at once (`forget_visible_units`).
    """
    full = (*_fingerprint(session), *key)
    with _VISIBLE_LOCK:
        if full in _VISIBLE:
            return cast(T, _VISIBLE[full])
    found = compute()
    with _VISIBLE_LOCK:
        if len(_VISIBLE) >= _VISIBLE_MAX:
            _VISIBLE.clear()
        _VISIBLE[full] = found
    return found


def forget_visible_units() -> None:
    """Empty this process's cache of `tree_cached` (after an import)."""
    with _VISIBLE_LOCK:
        _VISIBLE.clear()


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """What changes whenever an import changes the unit versions: their number (an import
    adds rows, never deletes), the newest recorded time (each added row) and the newest
    superseded time (each superseded row)."""
    return tuple(
        session.exec(
            select(
                func.count(),
                func.max(UnitVersion.recorded_at),
                func.max(UnitVersion.superseded_at),
            )
        ).one()
    )


def unit_for_issuer(session: Session, issuer: str | None, day: dt.date) -> str | None:
    """The unit an issuer's name designates on `day`, when it designates exactly one.

    Only a People's Committee's name is read ("UBND xã Vạn Thắng", "ỦY BAN NHÂN DÂN THỊ TRẤN
    VẠN GIÃ"): its kind and name must match one unit in force on `day`. Anything else (a
    district office, a misspelling, a name two units had) gives None, never a guess.
    """
    parsed = _committee_of(issuer) if issuer else None
    if parsed is None:
        return None
    kind, name = parsed
    found = {
        v.code
        for v in session.exec(
            select(UnitVersion).where(
                col(UnitVersion.superseded_at).is_(None), col(UnitVersion.kind) == kind
            )
        ).all()
        if _in_force(v, day) and " ".join(v.name.casefold().split()) == name
    }
    return found.pop() if len(found) == 1 else None


def resolve_unit(session: Session, text: str, day: dt.date) -> tuple[str | None, str]:
    """A unit named by a code or a People's Committee's name, as (code, name) on `day`.

    A code must be a unit in force on `day`; a name ("UBND xã Vạn Thắng") gives its unit's code
    when it designates exactly one, else (None, the name as given).

    Raises:
        RepositoryError: `text` is a code of no unit in force on `day`.
    """
    text = nfc(text.strip())
    if _CODE.match(text):
        version = version_at(session, text, day)
        if version is None:
            raise RepositoryError(
                f"no unit {text} is in force on {day}: import the units first "
                "(sohoa server units import FILE) or give the unit's current code"
            )
        kind = KIND_LABELS.get(version.kind, version.kind)
        return text, f"UBND {kind[0].lower()}{kind[1:]} {version.name}"
    return unit_for_issuer(session, text, day), text


def unit_for_result(
    session: Session,
    *,
    device_id: str,
    issuer: str | None,
    issued: str | None,
    received_at: dt.datetime,
) -> str | None:
    """The unit a result belongs to: the one its issuer names on its issue date (else the day
    it was received), else its device's unit (as registered when it is received)."""
    day = _parse_day(issued) or received_at.date()
    by_issuer = unit_for_issuer(session, issuer, day)
    if by_issuer is not None:
        return by_issuer
    device = session.get(Device, device_id)
    return device.unit_code if device is not None else None


# --- helpers -------------------------------------------------------------------------------------


def _committee_of(issuer: str) -> tuple[str, str] | None:
    """(kind, case-folded name) of a People's Committee's name, or None for any other issuer."""
    text = " ".join(nfc(issuer).casefold().replace("uỷ", "ủy").split())
    match = _ISSUER_PREFIX.match(text)
    if match is None:
        return None
    rest = text[match.end() :]
    for words, kind in _ISSUER_KINDS:
        if rest.startswith(words + " "):
            return kind, rest[len(words) + 1 :].strip()
    return None


def _versions_of(session: Session, code: str) -> Sequence[UnitVersion]:
    return session.exec(
        select(UnitVersion).where(
            col(UnitVersion.code) == code, col(UnitVersion.superseded_at).is_(None)
        )
    ).all()


def _in_force(version: UnitVersion, day: dt.date) -> bool:
    return (version.valid_from is None or version.valid_from <= day) and (
        version.valid_to is None or day <= version.valid_to
    )


def _parse_day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _same(stored: UnitVersion, row: UnitRow) -> bool:
    return (
        stored.name == row.name
        and stored.kind == row.kind
        and stored.parent_code == row.parent
        and stored.valid_to == row.valid_to
        and list(stored.successors) == list(row.successors)
        and stored.confirmed == row.confirmed
        and stored.note == row.note
    )


def _version(row: UnitRow, now: dt.datetime) -> UnitVersion:
    return UnitVersion(
        code=row.code,
        name=row.name,
        kind=row.kind,
        parent_code=row.parent,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        successors=list(row.successors),
        confirmed=row.confirmed,
        note=row.note,
        recorded_at=now,
    )
