"""The repository's tables, one SQLModel family per resource (`XBase`, `XCreate`, `X`, `XPublic`).

Rules of this module:
- Every schema change here comes with an Alembic revision in `server/migrations/versions/`
  (a test compares the two).
- Times are stored in UTC (`UTCDateTime`) and come back timezone-aware on every backend.
- `Record.result_id` is the SHA-256 of the signed PDF: the result's identity, unique, so a
  result delivered twice is still one record (DESIGN.md).
- A record points at two blobs: the PDF exactly as the device sent it (`pdf_path`, never
  changed) and the centre's long-term-validation copy (`ltv_pdf_path`: the same bytes plus a
  DSS and, with a TSA, a document timestamp), made after the record is stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utc_now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL.

    SQLite has no time zones: it would hand back naive values. Naive input is refused, so a
    local time can never be stored as if it were UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Convert an aware datetime to UTC before it is written."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give the time zone (the repository stores UTC)")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Attach UTC to what the database returns."""
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class DeviceStatus(Enum):
    """Whether a device's results are accepted."""

    ACTIVE = "active"
    REVOKED = "revoked"


class LtvStatus(Enum):
    """How far the centre's long-term-validation copy of a record has got (ETSI EN 319 142-1)."""

    PENDING = "pending"
    """No long-term copy yet (being made, waiting for the TSA or a CRL, or LTV is off)."""
    B_LT = "b-lt"
    """The copy embeds the certificates and CRLs that validate the signature (a DSS)."""
    B_LTA = "b-lta"
    """B-LT plus an RFC 3161 document timestamp over it, and the TSA's validation data."""


_LTV_STATUS = sa.Enum(
    LtvStatus,
    name="ltvstatus",
    native_enum=False,
    length=16,
    values_callable=lambda e: [m.value for m in e],
    validate_strings=True,
)

_DEVICE_STATUS = sa.Enum(
    DeviceStatus,
    name="devicestatus",
    native_enum=False,
    length=16,
    values_callable=lambda e: [m.value for m in e],
    validate_strings=True,
)


# --- devices -------------------------------------------------------------------------------------


class DeviceBase(SQLModel):
    """What identifies a device and the signer registered for it."""

    device_id: str = Field(primary_key=True, max_length=64)
    """The device's id: its certificates' commonName and its MQTT username."""
    unit: str = Field(max_length=255)
    """The administrative unit the device belongs to."""
    signing_cert_sha256: str = Field(max_length=64)
    """SHA-256 (lower-case hex) of the DER document-signing certificate registered for it."""


class DeviceCreate(DeviceBase):
    """What registering a device takes."""


class Device(DeviceBase, table=True):
    """A registered appliance."""

    status: DeviceStatus = Field(default=DeviceStatus.ACTIVE, sa_type=_DEVICE_STATUS)
    registered_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DevicePublic(DeviceBase):
    """A device as the API shows it."""

    status: DeviceStatus
    registered_at: dt.datetime


# --- records -------------------------------------------------------------------------------------


class RecordFields(SQLModel):
    """The document's fields (DESIGN.md keys), as the officer confirmed them; NFC text."""

    so_ky_hieu: str | None = None
    ngay_ban_hanh: str | None = None
    co_quan_ban_hanh: str | None = None
    loai_van_ban: str | None = None
    trich_yeu: str | None = None
    ho_ten: str | None = None
    cccd: str | None = None
    ngay_sinh: str | None = None
    nguoi_ky: str | None = None


class RecordBase(RecordFields):
    """A verified result: its identity, origin, fields and signature verdict."""

    result_id: str = Field(max_length=64, unique=True)
    """SHA-256 (lower-case hex) of the signed PDF."""
    device_id: str = Field(max_length=64, foreign_key="device.device_id", index=True)
    """The device that delivered it."""
    signer_common_name: str | None = None
    """The signing certificate's commonName."""
    signature_valid: bool
    """The server's verdict on the PDF signature."""
    signing_time: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the document was signed (from the signature)."""
    received_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    """When the server stored it."""
    pdf_size: int
    """Size of the signed PDF in bytes."""
    ltv_status: LtvStatus = Field(
        default=LtvStatus.PENDING,
        sa_type=_LTV_STATUS,
        sa_column_kwargs={"server_default": LtvStatus.PENDING.value},
        index=True,
    )
    """How far the long-term-validation copy has got."""
    ltv_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the long-term copy was made."""
    ltv_size: int | None = None
    """Size of the long-term copy in bytes."""
    ltv_error: str | None = Field(default=None, max_length=500)
    """Why the last attempt to make the long-term copy failed (no personal data)."""


class Record(RecordBase, table=True):
    """A result in the provincial repository."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    pdf_path: str = Field(max_length=255)
    """Where the signed PDF is, as the device sent it, relative to the blob store's data_dir."""
    ltv_pdf_path: str | None = Field(default=None, max_length=255)
    """Where the long-term-validation copy is, relative to data_dir (None until it is made)."""


class RecordPublic(RecordBase):
    """A record as the API shows it (the blob store's paths stay inside)."""

    id: str


class RecordsPublic(SQLModel):
    """A page of records and how many there are in all."""

    data: list[RecordPublic]
    count: int
