"""The fleet pages: each device's heartbeats by the hour, and its certificate's expiry.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

- `device_heartbeat_hour`: one row per device and hour (UTC) with the hour's heartbeats, its
  deepest queue, the oldest waiting result's largest age, the last free space and link state;
  kept by each heartbeat (`server.repository.devices.record_heartbeat`) for the device page's
  history charts. Starts empty: the heartbeats before this revision were not kept.
- `device.cert_not_after`: when the device's document-signing certificate expires, as given at
  registration (empty for the devices registered before: registering them again fills it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `device_heartbeat_hour`; add `device.cert_not_after`."""
    op.create_table(
        "device_heartbeat_hour",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("max_queue_depth", sa.Integer(), nullable=True),
        sa.Column("max_oldest_pending_age_s", sa.Float(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column(
            "link_state",
            sa.Enum("online", "offline", "stopped", name="linkstate", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.device_id"]),
        sa.PrimaryKeyConstraint("device_id", "hour"),
    )
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("cert_not_after", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop what `upgrade` made (the heartbeats' history is lost)."""
    with op.batch_alter_table("device") as batch:
        batch.drop_column("cert_not_after")
    op.drop_table("device_heartbeat_hour")
