"""The centre's long-term-validation copy of each record: its blob, status, size and time.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Existing records get `ltv_status = 'pending'`, so a server with LTV on augments them too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the long-term copy's columns and the index the pending-copy sweep uses."""
    with op.batch_alter_table("record") as batch:
        batch.add_column(
            sa.Column(
                "ltv_status",
                sa.Enum("pending", "b-lt", "b-lta", name="ltvstatus", native_enum=False, length=16),
                server_default="pending",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("ltv_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ltv_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ltv_error", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("ltv_pdf_path", sa.String(length=255), nullable=True))
        batch.create_index("ix_record_ltv_status", ["ltv_status"])


def downgrade() -> None:
    """Drop what `upgrade` added (the long-term copies stay in the blob store)."""
    with op.batch_alter_table("record") as batch:
        batch.drop_index("ix_record_ltv_status")
        batch.drop_column("ltv_pdf_path")
        batch.drop_column("ltv_error")
        batch.drop_column("ltv_size")
        batch.drop_column("ltv_at")
        batch.drop_column("ltv_status")
