"""Enrollment codes of appliances.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

- `enrollment`: one row per one-time code (`server.enrollment`), keyed by the SHA-256 of its
  secret, with the device id and unit it enrolls, who issued it, until when, and, once used,
  when, from where, the certificates' serial numbers and the answer sent.
- `device_certificate`: every certificate the CA issued to a device (enrollment, renewals),
  with its purpose, fingerprint, expiry and PEM.
- `enrollment_failure`: refused enrollments per address, for the rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `enrollment`, `device_certificate` and `enrollment_failure`."""
    op.create_table(
        "enrollment",
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_from", sa.String(length=64), nullable=True),
        sa.Column("keys_sha256", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("secret_sha256"),
    )
    op.create_index("ix_enrollment_device_id", "enrollment", ["device_id"])
    op.create_table(
        "device_certificate",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_index("ix_device_certificate_device_id", "device_certificate", ["device_id"])
    op.create_table(
        "enrollment_failure",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    """Drop the three."""
    op.drop_table("enrollment_failure")
    op.drop_index("ix_device_certificate_device_id", table_name="device_certificate")
    op.drop_table("device_certificate")
    op.drop_index("ix_enrollment_device_id", table_name="enrollment")
    op.drop_table("enrollment")
