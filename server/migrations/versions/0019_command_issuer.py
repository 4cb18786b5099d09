"""Who issued each command to a device.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

- `device_command.issued_by`: the account that issued it through the API or the pages, or
  `cli:<user>` for `sohoa server command`; empty for the commands issued before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `device_command.issued_by`."""
    with op.batch_alter_table("device_command") as batch:
        batch.add_column(sa.Column("issued_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop `device_command.issued_by`."""
    with op.batch_alter_table("device_command") as batch:
        batch.drop_column("issued_by")
