"""The first repository schema: devices and records.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `device` and `record`."""
    op.create_table(
        "device",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=False),
        sa.Column("signing_cert_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "revoked", name="devicestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "record",
        sa.Column("so_ky_hieu", sa.String(), nullable=True),
        sa.Column("ngay_ban_hanh", sa.String(), nullable=True),
        sa.Column("co_quan_ban_hanh", sa.String(), nullable=True),
        sa.Column("loai_van_ban", sa.String(), nullable=True),
        sa.Column("trich_yeu", sa.String(), nullable=True),
        sa.Column("ho_ten", sa.String(), nullable=True),
        sa.Column("cccd", sa.String(), nullable=True),
        sa.Column("ngay_sinh", sa.String(), nullable=True),
        sa.Column("nguoi_ky", sa.String(), nullable=True),
        sa.Column("result_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("signer_common_name", sa.String(), nullable=True),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column("signing_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pdf_size", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("pdf_path", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.device_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("result_id"),
    )
    op.create_index("ix_record_device_id", "record", ["device_id"])
    op.create_index("ix_record_received_at", "record", ["received_at"])


def downgrade() -> None:
    """Drop everything `upgrade` made."""
    op.drop_index("ix_record_received_at", table_name="record")
    op.drop_index("ix_record_device_id", table_name="record")
    op.drop_table("record")
    op.drop_table("device")
