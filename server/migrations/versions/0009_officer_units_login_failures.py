"""A unit officer's unit becomes a unit code; wrong sign-ins under unknown names are counted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

- `account.unit` held a unit's name as devices carry it ("UBND xã Vạn Thắng"); it now holds the
  unit's code in the unit tree ("22516"), and an officer sees the records of that unit's
  subtree and of the units merged into it. An officer's name is replaced by the code its
  devices were registered with (`device.unit_code` of a device whose `unit` is that name)
  when they agree on one; an officer left with a name sees nothing until a province admin adds
  the account again with `--unit CODE` (`sohoa server user list` shows it).
- `login_failure`: recent wrong sign-ins under names no account has, keyed by a keyed hash of
  the name, so that the lock-out treats an unknown name as a known one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Replace officers' unit names by codes where the devices say which; create
    `login_failure`."""
    connection = op.get_bind()
    officers = connection.execute(
        sa.text(
            "SELECT username, unit FROM account WHERE role = 'unit_officer' AND unit IS NOT NULL"
        )
    ).all()
    for username, unit in officers:
        codes = connection.execute(
            sa.text(
                "SELECT DISTINCT unit_code FROM device WHERE unit = :unit AND unit_code IS NOT NULL"
            ),
            {"unit": unit},
        ).all()
        if len(codes) == 1:
            connection.execute(
                sa.text("UPDATE account SET unit = :code WHERE username = :username"),
                {"code": codes[0][0], "username": username},
            )
    op.create_table(
        "login_failure",
        sa.Column("name_hash", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name_hash"),
    )


def downgrade() -> None:
    """Drop `login_failure`; officers' units stay codes (the names are not kept)."""
    op.drop_table("login_failure")
