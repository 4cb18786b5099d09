"""A device's results indexed by when they arrived.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

- `ix_record_device_received` (device_id, received_at) replaces `ix_record_device_id`: a
  device's latest result (the device list's "last result", the device page) is one index
  look-up instead of a walk over all its results (2.7 s for a page of 100 devices at a million
  results).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index (device_id, received_at); drop the device_id index it covers."""
    op.create_index("ix_record_device_received", "record", ["device_id", "received_at"])
    op.drop_index("ix_record_device_id", table_name="record")


def downgrade() -> None:
    """Back to the device_id index."""
    op.create_index("ix_record_device_id", "record", ["device_id"])
    op.drop_index("ix_record_device_received", table_name="record")
