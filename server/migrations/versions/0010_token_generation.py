"""An account's token generation: tokens issued before a password change or a disabling stop.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

- `account.token_generation` (0): every token carries it; disabling, enabling and a new
  password count it up, so `user enable` does not bring back the tokens of before the disabling
  and `user password` voids those of whoever held the old password. Tokens issued before this
  migration carry no generation and are refused: their holders sign in again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `account.token_generation`, 0 for every account."""
    with op.batch_alter_table("account") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop `account.token_generation`."""
    with op.batch_alter_table("account") as batch:
        batch.drop_column("token_generation")
