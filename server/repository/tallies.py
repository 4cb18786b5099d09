"""The monthly tallies the progress reports add up (`MonthlyTally`): documents digitized and
reuses recorded per unit and month, in Việt Nam's time.

Kept as results arrive, in the transaction that stores them: `versions.apply` counts a
document's first version (its later versions, corrections and rescans, are the same document),
`results.record_reuse` counts a reuse. Each count is one upsert (`INSERT … ON CONFLICT DO
UPDATE`, on SQLite as on PostgreSQL), so concurrent ingest workers never lose one. What the bulk
path adds (`sohoa server seed`) is tallied afterwards by `rebuild`, which makes the whole table
again from the records and reuses (`sohoa server reports rebuild`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from server.models import MonthlyTally

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
NO_UNIT = ""
"""The unit code of the tally of results of no unit."""


def month_of(moment: dt.datetime) -> str:
    """The month (YYYY-MM) `moment` falls in, in Việt Nam."""
    return moment.astimezone(VIETNAM).strftime("%Y-%m")


def count(
    session: Session,
    unit_code: str | None,
    moment: dt.datetime,
    *,
    digitized: int = 0,
    reused: int = 0,
) -> None:
    """Add to the tally of `unit_code` for the month of `moment` (in the caller's transaction)."""
    table = MonthlyTally.__table__  # type: ignore[attr-defined]
    values = {
        "unit_code": unit_code or NO_UNIT,
        "month": month_of(moment),
        "digitized": digitized,
        "reused": reused,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.values(**values).on_conflict_do_update(
        index_elements=["unit_code", "month"],
        set_={
            "digitized": table.c.digitized + digitized,
            "reused": table.c.reused + reused,
        },
    )
    session.execute(statement)


def _month_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')"
    # SQLite keeps UTC without a zone; Việt Nam has kept UTC+7, without summer time, since 1975.
    return f"strftime('%Y-%m', {column}, '+7 hours')"


def rebuild_statements(dialect: str) -> list[str]:
    """The SQL that makes `monthly_tally` again from the records and reuses."""
    received = _month_sql(dialect, "received_at")
    reused = _month_sql(dialect, "u.reused_at")
    return [
        "DELETE FROM monthly_tally",
        "INSERT INTO monthly_tally (unit_code, month, digitized, reused) "  # noqa: S608 (our SQL only)
        "SELECT unit_code, month, SUM(d), SUM(r) FROM ("
        f"SELECT COALESCE(unit_code, '') AS unit_code, {received} AS month, 1 AS d, 0 AS r "
        "FROM record WHERE version = 1 AND corrects IS NULL "
        "UNION ALL "
        f"SELECT COALESCE(c.unit_code, ''), {reused}, 0, 1 "
        "FROM result_reuse u JOIN record c ON c.id = u.record_id"
        ") AS t GROUP BY unit_code, month",
    ]


def rebuild(session: Session) -> int:
    """Make `monthly_tally` again from the records and reuses; commit. Returns its rows."""
    for statement in rebuild_statements(session.get_bind().dialect.name):
        session.execute(sa.text(statement))
    session.commit()
    return int(session.execute(sa.text("SELECT COUNT(*) FROM monthly_tally")).scalar_one())
