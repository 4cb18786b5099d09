"""Search and reuse: the records' recognised text, a CCCD index, and the reuses of results.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

- `record.ocr_text`: nullable text for free-text search (the search index itself lives outside
  the database and is rebuilt from it: `sohoa server search rebuild`).
- `ix_record_cccd`: a citizen's results are looked up by CCCD.
- `result_reuse`: one row per result reused for a new dossier.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the text column, the CCCD index and the reuse table."""
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("ocr_text", sa.Text(), nullable=True))
    op.create_index("ix_record_cccd", "record", ["cccd"])
    op.create_table(
        "result_reuse",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("reused_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "dossier_code"),
    )
    op.create_index("ix_result_reuse_record_id", "result_reuse", ["record_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_result_reuse_record_id", table_name="result_reuse")
    op.drop_table("result_reuse")
    op.drop_index("ix_record_cccd", table_name="record")
    with op.batch_alter_table("record") as batch:
        batch.drop_column("ocr_text")
