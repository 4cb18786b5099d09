"""Results being verified or refused by verification, so that their copies are answered at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

- `verification`: one row per (device, result) taken by a worker for verification (`verifying`)
  or refused (`rejected`, with the reason and detail every copy is answered with).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the `verification` table."""
    op.create_table(
        "verification",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "verifying", "rejected", name="verificationstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("device_id", "result_id"),
    )
    op.create_index("ix_verification_started_at", "verification", ["started_at"])


def downgrade() -> None:
    """Drop the `verification` table (copies of refused results are verified again)."""
    op.drop_index("ix_verification_started_at", table_name="verification")
    op.drop_table("verification")
