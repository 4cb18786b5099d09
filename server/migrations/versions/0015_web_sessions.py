"""Browser sessions of the web pages.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

- `web_session`: one row per browser sign-in (`server.web.sessions`), keyed by the SHA-256 of
  the cookie's secret, with the account, its token generation, the session's CSRF token and
  when it was made and last used.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `web_session`."""
    op.create_table(
        "web_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["account.username"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_session_username", "web_session", ["username"])


def downgrade() -> None:
    """Drop `web_session`."""
    op.drop_index("ix_web_session_username", table_name="web_session")
    op.drop_table("web_session")
