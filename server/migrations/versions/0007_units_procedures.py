"""Administrative units as an effective-dated tree, the procedure catalogue, and where devices
and records stand in them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

- `unit` (one row per code) and `unit_version` (what a unit was between two dates; rows are
  superseded, never updated).
- `procedure`: the procedure catalogue.
- `device.unit_code`, `record.unit_code`, `record.procedure_code`: nullable; existing rows keep
  None until a device is registered again with its unit.
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
    """Create the unit and procedure tables and the columns that point at them."""
    op.create_table(
        "unit",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "unit_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("successors", sa.JSON(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_unit_version_code", "unit_version", ["code"])
    op.create_index("ix_unit_version_superseded_at", "unit_version", ["superseded_at"])
    op.create_table(
        "procedure",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=True),
        sa.Column("result_types", sa.JSON(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("unit_code", sa.String(length=16), nullable=True))
        batch.create_index("ix_device_unit_code", ["unit_code"])
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("unit_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("procedure_code", sa.String(length=64), nullable=True))
        batch.create_index("ix_record_unit_code", ["unit_code"])
        batch.create_index("ix_record_procedure_code", ["procedure_code"])


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("record") as batch:
        batch.drop_index("ix_record_procedure_code")
        batch.drop_index("ix_record_unit_code")
        batch.drop_column("procedure_code")
        batch.drop_column("unit_code")
    with op.batch_alter_table("device") as batch:
        batch.drop_index("ix_device_unit_code")
        batch.drop_column("unit_code")
    op.drop_table("procedure")
    op.drop_index("ix_unit_version_superseded_at", table_name="unit_version")
    op.drop_index("ix_unit_version_code", table_name="unit_version")
    op.drop_table("unit_version")
    op.drop_table("unit")
