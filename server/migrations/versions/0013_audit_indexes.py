"""The audit log's lookups: by record and by account.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

- `ix_audit_entry_record_id` (record_id, seq): who read this record, newest first.
- `ix_audit_entry_username` (username, seq): what this account read, newest first.

Both serve `GET /api/audit` (`server.repository.audit.list_entries`); without them a filter on a
large log walks it backwards from its newest entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two indexes."""
    op.create_index("ix_audit_entry_record_id", "audit_entry", ["record_id", "seq"])
    op.create_index("ix_audit_entry_username", "audit_entry", ["username", "seq"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_audit_entry_username", table_name="audit_entry")
    op.drop_index("ix_audit_entry_record_id", table_name="audit_entry")
