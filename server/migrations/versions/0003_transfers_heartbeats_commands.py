"""Chunked transfers staged in the database, each device's last heartbeat, commands to devices.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

- `transfer` / `transfer_chunk`: a chunked result being received, keyed by device and result, so
  that any ingest worker can finish a transfer another started (sync protocol v1).
- `device`: the last heartbeat's columns (all nullable: a device that never spoke has none).
- `device_command`: commands to devices (ping, config, catalog, revoke) and their replies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    """Create the staging and command tables; add the heartbeat columns to `device`."""
    op.create_table(
        "transfer",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("chunk_size", sa.Integer(), nullable=True),
        sa.Column("result_fields", sa.JSON(), nullable=True),
        sa.Column("signed_at", sa.String(length=64), nullable=True),
        sa.Column("result_metadata", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.device_id"]),
        sa.PrimaryKeyConstraint("device_id", "result_id"),
    )
    op.create_index("ix_transfer_touched_at", "transfer", ["touched_at"])
    op.create_table(
        "transfer_chunk",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("nbytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "result_id", "idx"),
    )
    op.create_table(
        "device_command",
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column(
            "name", _enum("commandname", "ping", "config", "catalog", "revoke"), nullable=False
        ),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", _enum("commandstate", "queued", "sent", "answered"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "reply_status", _enum("replystatus", "ok", "error", "unsupported"), nullable=True
        ),
        sa.Column("reply_detail", sa.String(length=4096), nullable=True),
        sa.Column("reply_data", sa.JSON(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.device_id"]),
        sa.PrimaryKeyConstraint("command_id"),
    )
    op.create_index("ix_device_command_device_id", "device_command", ["device_id"])
    op.create_index("ix_device_command_issued_at", "device_command", ["issued_at"])
    op.create_index("ix_device_command_state", "device_command", ["state"])
    with op.batch_alter_table("device") as batch:
        batch.add_column(
            sa.Column(
                "link_state", _enum("linkstate", "online", "offline", "stopped"), nullable=True
            )
        )
        batch.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("status_received_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("queue_depth", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("oldest_pending_age_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("token_present", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("versions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` made (staged transfers are lost: devices resume them)."""
    with op.batch_alter_table("device") as batch:
        for column in (
            "last_error",
            "versions",
            "token_present",
            "disk_free_bytes",
            "oldest_pending_age_s",
            "queue_depth",
            "status_received_at",
            "status_at",
            "link_state",
        ):
            batch.drop_column(column)
    op.drop_index("ix_device_command_state", table_name="device_command")
    op.drop_index("ix_device_command_issued_at", table_name="device_command")
    op.drop_index("ix_device_command_device_id", table_name="device_command")
    op.drop_table("device_command")
    op.drop_table("transfer_chunk")
    op.drop_index("ix_transfer_touched_at", table_name="transfer")
    op.drop_table("transfer")
