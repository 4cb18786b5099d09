"""Loading results for the search and reuse routes, and recording reuses.

Every route that answers a citizen's personal data from a search or a citizen lookup loads it
through one of the two `load_*` functions here, so that the audit of personal data can be
written where the data is loaded (one place per kind: search hits, a citizen's results, a
result being reused). Each function takes the units the caller may see and never returns a
record outside them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from server.errors import RepositoryError
from server.models import MergeState, Record, ResultReuse, utc_now
from server.repository import tallies, units
from server.repository.common import MAX_PAGE


def subtree_of(session: Session, code: str) -> frozenset[str]:
    """`units.visible_units(session, code)`, cached while the unit tree is unchanged
    (`units.cached_visible_units`)."""
    return units.cached_visible_units(session, code)


def visible_units_of(session: Session, unit: str) -> frozenset[str]:
    """The unit codes an officer of `unit` may see: `unit` is a code, or a committee's name
    ("UBND xã Vạn Thắng") that designates one unit today; empty if it designates none.
    Cached while the unit tree is unchanged (`units.tree_cached`)."""
    today = dt.datetime.now(dt.UTC).date()
    return units.tree_cached(
        session, ("officer", unit, today), lambda: _visible_units_of(session, unit, today)
    )


def _visible_units_of(session: Session, unit: str, today: dt.date) -> frozenset[str]:
    code: str | None
    try:
        code, _ = units.resolve_unit(session, unit, today)
    except RepositoryError:
        code = unit  # a code no longer in force: its merges may still be known
    return units.visible_units(session, code) if code else frozenset()


def load_search_results(
    session: Session, ids: Sequence[str], *, visible: frozenset[str] | None
) -> list[Record]:
    """The records `ids` (a search's hits) in that order, those outside `visible` left out
    (None: every unit)."""
    if not ids:
        return []
    statement = select(Record).where(col(Record.id).in_(list(ids)))
    if visible is not None:
        statement = statement.where(col(Record.unit_code).in_(sorted(visible)))
    by_id = {r.id: r for r in session.exec(statement)}
    return [by_id[i] for i in ids if i in by_id]


def load_citizen_results(
    session: Session, cccd: str, *, visible: frozenset[str] | None, limit: int = MAX_PAGE
) -> list[Record]:
    """What is on file for the citizen with CCCD `cccd`, newest issue first (then newest
    received), within `visible` (None: every unit): each document's current version and those
    waiting for review, never a superseded one (`server.repository.versions`)."""
    statement = select(Record).where(
        Record.cccd == cccd, col(Record.merge_state) != MergeState.SUPERSEDED
    )
    if visible is not None:
        statement = statement.where(col(Record.unit_code).in_(sorted(visible)))
    statement = statement.order_by(
        col(Record.ngay_ban_hanh).desc(), col(Record.received_at).desc(), col(Record.id)
    ).limit(max(1, min(limit, MAX_PAGE)))
    return list(session.exec(statement))


def load_result_for_reuse(
    session: Session, record_id: str, *, visible: frozenset[str] | None
) -> Record | None:
    """The record `record_id` if it exists within `visible` (None: every unit), else None."""
    record = session.get(Record, record_id)
    if record is None or (visible is not None and record.unit_code not in visible):
        return None
    return record


def reuse_counts(session: Session, record_ids: Sequence[str]) -> dict[str, int]:
    """How many dossiers reused each of `record_ids` (absent: none)."""
    if not record_ids:
        return {}
    rows = session.exec(
        select(ResultReuse.record_id, func.count())
        .where(col(ResultReuse.record_id).in_(list(record_ids)))
        .group_by(col(ResultReuse.record_id))
    )
    return {record_id: int(n) for record_id, n in rows}


def record_reuse(session: Session, record_id: str, dossier_code: str, username: str) -> bool:
    """Record that `username` reused result `record_id` for dossier `dossier_code`; commit.

    Returns:
        True if recorded now, False if that dossier had already reused it (nothing changes).

    Raises:
        RepositoryError: the database refused the write.
    """
    now = utc_now()
    record = session.get(Record, record_id)
    session.add(
        ResultReuse(
            record_id=record_id, dossier_code=dossier_code, username=username, reused_at=now
        )
    )
    try:
        # Counted in the same transaction: a reuse refused as a repeat is not counted either.
        tallies.count(session, record.unit_code if record else None, now, reused=1)
        session.commit()
    except IntegrityError:
        session.rollback()  # the unique (record, dossier) pair: reused for it before
        return False
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot record the reuse of result {record_id}: {e}") from e
    return True
