"""Progress reports: monthly tallies per unit, results issued (imported), units' targets.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

- `monthly_tally`: documents digitized and reuses recorded per unit and month (Việt Nam's time),
  kept as results arrive; filled here from the records and reuses already stored.
- `issued_tally`: results a unit issued in a month, and how many electronically, as imported
  from the one-stop system.
- `unit_target`: a unit's digitization target (results held) and its plan deadline.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables; tally what is already stored."""
    op.create_table(
        "monthly_tally",
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("digitized", sa.Integer(), nullable=False),
        sa.Column("reused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("unit_code", "month"),
    )
    op.create_table(
        "issued_tally",
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("electronic", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit_code", "month"),
    )
    op.create_table(
        "unit_target",
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit_code"),
    )
    # The tallies of what is already stored (as `server.repository.tallies.rebuild`, frozen
    # here as it was when this migration was written).
    if op.get_bind().dialect.name == "postgresql":
        received = "to_char(received_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')"
        reused = "to_char(u.reused_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')"
    else:
        received = "strftime('%Y-%m', received_at, '+7 hours')"
        reused = "strftime('%Y-%m', u.reused_at, '+7 hours')"
    op.execute(
        "INSERT INTO monthly_tally (unit_code, month, digitized, reused) "  # noqa: S608 (our SQL only)
        "SELECT unit_code, month, SUM(d), SUM(r) FROM ("
        f"SELECT COALESCE(unit_code, '') AS unit_code, {received} AS month, 1 AS d, 0 AS r "
        "FROM record WHERE version = 1 AND corrects IS NULL "
        "UNION ALL "
        f"SELECT COALESCE(c.unit_code, ''), {reused}, 0, 1 "
        "FROM result_reuse u JOIN record c ON c.id = u.record_id"
        ") AS t GROUP BY unit_code, month"
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("unit_target")
    op.drop_table("issued_tally")
    op.drop_table("monthly_tally")
