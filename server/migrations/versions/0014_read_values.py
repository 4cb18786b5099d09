"""The values the appliance read of the fields the officer corrected before signing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

- `record.read_values` (JSON, nullable): for each field the officer corrected at the kiosk, its
  value as read; the field's own column keeps the corrected value. Both come from the signed
  XMP (`protocol.signed_metadata.CORRECTED_PROPERTY`). Records stored before have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("read_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("record") as batch:
        batch.drop_column("read_values")
