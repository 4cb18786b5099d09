"""The audit log of personal data: one hash-chained entry per load through the API.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

- `audit_entry`: who, role, action, record or query, when, client address, purpose; its place
  `seq` (no gaps), the previous entry's hash and its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the `audit_entry` table."""
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("query", sa.String(length=1024), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    """Drop the `audit_entry` table (the log of who read what is lost)."""
    op.drop_table("audit_entry")
