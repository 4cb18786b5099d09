"""What the signed PDF's XMP says beside its fields: the page count and the document's id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Existing records keep None in both (their PDFs are still there to read them from).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the page count and the document id."""
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("page_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("document_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("record") as batch:
        batch.drop_column("document_id")
        batch.drop_column("page_count")
