"""Reviewers' decisions on the review queue.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

- `review_decision`: a decision on a conflicting version (replace the current one, or reject
  it) or on documents under Nghị định 30's duplicate warning (distinct, or duplicates indeed):
  the case, the verdict, why, who and when (`server.repository.reviews`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `review_decision`."""
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("conflict", "duplicate", name="reviewkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("other_id", sa.String(length=36), nullable=True),
        sa.Column("duplicate_key", sa.String(length=64), nullable=True),
        sa.Column(
            "verdict",
            sa.Enum(
                "replace",
                "reject",
                "distinct",
                "duplicate",
                name="reviewverdict",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_decision_record_id", "review_decision", ["record_id"])
    op.create_index("ix_review_decision_duplicate_key", "review_decision", ["duplicate_key"])


def downgrade() -> None:
    """Drop `review_decision`."""
    op.drop_index("ix_review_decision_duplicate_key", table_name="review_decision")
    op.drop_index("ix_review_decision_record_id", table_name="review_decision")
    op.drop_table("review_decision")
