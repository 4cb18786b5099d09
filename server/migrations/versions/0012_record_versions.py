"""Versions of a document, Nghị định 30's duplicate warning, officers' corrections.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

- `record.natural_key` (indexed in two halves: the current versions' keys, unique, and the
  others'), `record.duplicate_key` (indexed): the document's keys
  (`server.repository.versions`); `version`, `merge_state`, `supersedes`,
  `superseded_by`: its place among its document's versions; `duplicate_warning`; partial
  indexes of the rare states (not current, flagged);
  `corrects`: the version a correction's row corrects.
- `record_correction`: who corrected which field of which version, from what to what, why.

Records stored before this revision get their keys computed here; those sharing a natural key
become versions of one document in the order they were received (the newest current); the
merge's conflict rule is not applied to them (they were all accepted as they came), and the
duplicate warning is set where a duplicate key spans several natural keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from server.repository.versions import keys

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    """Add the columns, the indexes and the corrections table; key the existing records."""
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(
            sa.Column(
                "merge_state",
                sa.Enum(
                    "current",
                    "superseded",
                    "needs_review",
                    name="mergestate",
                    native_enum=False,
                    length=16,
                ),
                server_default="current",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("supersedes", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(length=36), nullable=True))
        batch.add_column(
            sa.Column("duplicate_warning", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("natural_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("duplicate_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("corrects", sa.String(length=36), nullable=True))
    _key_existing_records()
    op.create_index(
        "ix_record_merge_state_other",
        "record",
        ["merge_state"],
        sqlite_where=sa.text("merge_state <> 'current'"),
        postgresql_where=sa.text("merge_state <> 'current'"),
    )
    op.create_index(
        "ix_record_duplicate_warning",
        "record",
        ["duplicate_warning"],
        sqlite_where=sa.text("duplicate_warning = 1"),
        postgresql_where=sa.text("duplicate_warning"),
    )
    op.create_index(
        "ix_record_natural_key_other",
        "record",
        ["natural_key"],
        sqlite_where=sa.text("merge_state <> 'current'"),
        postgresql_where=sa.text("merge_state <> 'current'"),
    )
    op.create_index("ix_record_duplicate_key", "record", ["duplicate_key"])
    op.create_index(
        "ux_record_current_natural_key",
        "record",
        ["natural_key"],
        unique=True,
        sqlite_where=sa.text("merge_state = 'current'"),
        postgresql_where=sa.text("merge_state = 'current'"),
    )
    op.create_table(
        "record_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("corrects", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("read_value", sa.String(length=4096), nullable=True),
        sa.Column("value", sa.String(length=4096), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["corrects"], ["record.id"]),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_record_correction_corrects", "record_correction", ["corrects"])


def _key_existing_records() -> None:
    """Compute the keys of the records already stored, chain those of one natural key (in the
    order received), flag the duplicates."""
    conn = op.get_bind()
    record = sa.table(
        "record",
        sa.column("id"),
        sa.column("co_quan_ban_hanh"),
        sa.column("so_ky_hieu"),
        sa.column("ngay_ban_hanh"),
        sa.column("received_at"),
        sa.column("natural_key"),
        sa.column("duplicate_key"),
        sa.column("version"),
        sa.column("merge_state"),
        sa.column("supersedes"),
        sa.column("superseded_by"),
        sa.column("duplicate_warning"),
    )
    keyed = sa.update(record).where(record.c.id == sa.bindparam("rid"))
    last = ""
    while True:  # keyset pages: a million records never sit in memory at once
        page = conn.execute(
            sa.select(
                record.c.id, record.c.co_quan_ban_hanh, record.c.so_ky_hieu, record.c.ngay_ban_hanh
            )
            .where(record.c.id > last)
            .order_by(record.c.id)
            .limit(BATCH)
        ).all()
        if not page:
            break
        last = page[-1][0]
        updates = []
        for rid, issuer, number, issued in page:
            fields = {"co_quan_ban_hanh": issuer, "so_ky_hieu": number, "ngay_ban_hanh": issued}
            key, dup_key = keys(fields)
            if key is not None:
                updates.append({"rid": rid, "nk": key, "dk": dup_key})
        if updates:
            conn.execute(
                keyed.values(natural_key=sa.bindparam("nk"), duplicate_key=sa.bindparam("dk")),
                updates,
            )
    shared = (
        sa.select(record.c.natural_key)
        .where(record.c.natural_key.is_not(None))
        .group_by(record.c.natural_key)
        .having(sa.func.count() > 1)
    )
    chain = conn.execute(
        sa.select(record.c.id, record.c.natural_key)
        .where(record.c.natural_key.in_(shared))
        .order_by(record.c.natural_key, record.c.received_at, record.c.id)
    ).all()
    links: list[dict[str, Any]] = []
    for i, (rid, key) in enumerate(chain):
        first = i == 0 or chain[i - 1][1] != key
        newest = i == len(chain) - 1 or chain[i + 1][1] != key
        version = 1 if first else links[-1]["v"] + 1
        links.append(
            {
                "rid": rid,
                "v": version,
                "st": "current" if newest else "superseded",
                "sup": None if first else chain[i - 1][0],
                "by": None if newest else chain[i + 1][0],
            }
        )
    for start in range(0, len(links), BATCH):
        conn.execute(
            keyed.values(
                version=sa.bindparam("v"),
                merge_state=sa.bindparam("st"),
                supersedes=sa.bindparam("sup"),
                superseded_by=sa.bindparam("by"),
            ),
            links[start : start + BATCH],
        )
    spanning = (
        sa.select(record.c.duplicate_key)
        .where(record.c.duplicate_key.is_not(None))
        .group_by(record.c.duplicate_key)
        .having(sa.func.count(sa.distinct(record.c.natural_key)) > 1)
    )
    conn.execute(
        sa.update(record).where(record.c.duplicate_key.in_(spanning)).values(duplicate_warning=True)
    )


def downgrade() -> None:
    """Drop them again (the correction rows stay as records of their own)."""
    op.drop_index("ix_record_correction_corrects", table_name="record_correction")
    op.drop_table("record_correction")
    op.drop_index("ux_record_current_natural_key", table_name="record")
    op.drop_index("ix_record_duplicate_key", table_name="record")
    op.drop_index("ix_record_natural_key_other", table_name="record")
    op.drop_index("ix_record_duplicate_warning", table_name="record")
    op.drop_index("ix_record_merge_state_other", table_name="record")
    with op.batch_alter_table("record") as batch:
        for column in (
            "corrects",
            "duplicate_key",
            "natural_key",
            "duplicate_warning",
            "superseded_by",
            "supersedes",
            "merge_state",
            "version",
        ):
            batch.drop_column(column)
