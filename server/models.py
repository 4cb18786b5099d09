"""The repository's tables, one SQLModel family per resource (`XBase`, `XCreate`, `X`, `XPublic`).

Rules of this module:
- Every schema change here comes with an Alembic revision in `server/migrations/versions/`
  (a test compares the two).
- Times are stored in UTC (`UTCDateTime`) and come back timezone-aware on every backend.
- `Record.result_id` is the SHA-256 of the signed PDF: the result's identity, unique, so a
  result delivered twice is still one record (DESIGN.md).
- A record is one version of a document (`server.repository.versions`): rows are added, never
  rewritten; a later delivery with the same issuer, số ký hiệu and date supersedes the current
  version or waits for review, an officer's correction is a row of its own (`RecordCorrection`
  says who, why, from what), and only the merge's bookkeeping (`merge_state`, `superseded_by`,
  `duplicate_warning`) changes on a stored row.
- A record points at two blobs: the PDF exactly as the device sent it (`pdf_path`, never
  changed) and the centre's long-term-validation copy (`ltv_pdf_path`: the same bytes plus a
  DSS and, with a TSA, a document timestamp), made after the record is stored.
- A chunked result in transit is staged in the database (`Transfer`, `TransferChunk`), keyed by
  device and result, so that any ingest worker can finish a transfer another started; the rows
  go when the result is answered, or expire when the transfer is abandoned.
- A result being verified, or refused by verification, is a `Verification` row (so that its
  copies are answered at once); the rows expire with the staging.
- A device's last heartbeat lives on its `Device` row (what an admin watching hundreds of
  appliances reads); commands to devices and their replies are `DeviceCommand` rows.
- Administrative units are an effective-dated tree (`Unit`, `UnitVersion`): a version is never
  rewritten, a corrected one is superseded by a new row (`server.repository.units`). Procedures
  are a catalogue (`Procedure`). A record keeps its issuer's name as printed and gets a unit and
  a procedure code beside it.
- The people who use the API are `Account` rows: a role, a unit for unit officers, an argon2
  hash of the password (never the password), and the state of the sign-in lock-out.
- Every load of personal data through the API is an `AuditEntry` (Nghị định 13/2023), appended
  only, each carrying the hash of the one before (`server.repository.audit`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from protocol.commands import CommandName, ReplyStatus
from protocol.status import LinkState


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


def _string_enum(enum: type[Enum], name: str) -> sa.Enum:
    """An enum stored as its values in a VARCHAR (no native type: one migration for both
    backends)."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class CommandState(Enum):
    """Where a command to a device stands."""

    QUEUED = "queued"
    """Issued; waiting for a running server to publish it."""
    SENT = "sent"
    """Published on the device's `cmd` topic (the broker keeps it for an offline device)."""
    ANSWERED = "answered"
    """The device replied (see `reply_status`)."""


_LINK_STATE = _string_enum(LinkState, "linkstate")
_COMMAND_NAME = _string_enum(CommandName, "commandname")
_COMMAND_STATE = _string_enum(CommandState, "commandstate")
_REPLY_STATUS = _string_enum(ReplyStatus, "replystatus")


class VerificationState(Enum):
    """Where the verification of a result stands (`Verification`)."""

    VERIFYING = "verifying"
    """A worker took it; its answer follows."""
    REJECTED = "rejected"
    """Refused, with the reason every copy of it is answered with."""


_VERIFICATION_STATE = _string_enum(VerificationState, "verificationstate")


class MergeState(Enum):
    """Where a record stands among the versions of its document (`server.repository.versions`)."""

    CURRENT = "current"
    """The version the repository answers for its document (the newest agreeing one)."""
    SUPERSEDED = "superseded"
    """An older version, kept as it was: a later delivery or a correction supersedes it."""
    NEEDS_REVIEW = "needs_review"
    """Same issuer, số ký hiệu and date as the current version but another citizen or result
    type: kept beside it, neither replacing the other, until an officer looks."""


_MERGE_STATE = _string_enum(MergeState, "mergestate")


# --- devices -------------------------------------------------------------------------------------


class DeviceBase(SQLModel):
    """What identifies a device and the signer registered for it."""

    device_id: str = Field(primary_key=True, max_length=64)
    """The device's id: its certificates' commonName and its MQTT username."""
    unit: str = Field(max_length=255)
    """The administrative unit the device belongs to, as a name (its certificates' OU)."""
    unit_code: str | None = Field(default=None, max_length=16, index=True)
    """That unit's code in the unit tree (`Unit`), when it was registered with one (checked on
    registration; no foreign key, which SQLite could only add by copying a referenced table)."""
    signing_cert_sha256: str = Field(max_length=64)
    """SHA-256 (lower-case hex) of the DER document-signing certificate registered for it."""
    cert_not_after: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When that certificate expires (its notAfter), when the registration gave it."""


class DeviceHeartbeat(SQLModel):
    """A device's last heartbeat (`sohoa.status/1`) as the server recorded it; None where the
    device never said (or its last will, which measures nothing, came after)."""

    link_state: LinkState | None = Field(default=None, sa_type=_LINK_STATE)
    """online, offline (its last will, or a clean shutdown) or stopped (e.g. revoked)."""
    status_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the device measured its last heartbeat (the device's clock)."""
    status_received_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the server received its last heartbeat or last will (the server's clock)."""
    queue_depth: int | None = None
    """Results in its outbox waiting for the server's answer."""
    oldest_pending_age_s: float | None = None
    """Seconds since the oldest waiting result was signed."""
    disk_free_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    """Free space where its outbox lives."""
    token_present: bool | None = None
    """Whether its signing token answered."""
    versions: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    """Its software versions, e.g. {"sohoa": "0.1.0", "protocol": "1"}."""
    last_error: str | None = Field(default=None, max_length=1024)
    """The last problem it reported (no personal data)."""


class Device(DeviceBase, DeviceHeartbeat, table=True):
    """A registered appliance."""

    status: DeviceStatus = Field(default=DeviceStatus.ACTIVE, sa_type=_DEVICE_STATUS)
    registered_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DevicePublic(DeviceBase, DeviceHeartbeat):
    """A device as the API shows it: registration, last heartbeat, last result received."""

    status: DeviceStatus
    registered_at: dt.datetime
    last_result_at: dt.datetime | None = None
    """When the server last stored a result from it."""
    heartbeat_age_s: float | None = None
    """Seconds since the server last heard from it (heartbeat or last will), when it has."""


class DeviceHeartbeatHour(SQLModel, table=True):
    """One hour of a device's heartbeats (hours in UTC), kept for its history charts: one row per
    device and hour, made or updated by each heartbeat (`devices.record_heartbeat`); rows older
    than `devices.HISTORY_DAYS` are deleted as new hours begin."""

    __tablename__ = "device_heartbeat_hour"

    device_id: str = Field(primary_key=True, max_length=64, foreign_key="device.device_id")
    hour: dt.datetime = Field(primary_key=True, sa_type=UTCDateTime)
    """The hour's start (UTC), by the server's clock when the heartbeats came."""
    heartbeats: int = 0
    """Heartbeats received in the hour (last wills not counted)."""
    max_queue_depth: int | None = None
    """The deepest outbox the hour's heartbeats reported."""
    max_oldest_pending_age_s: float | None = None
    """The oldest waiting result's age, at its largest in the hour."""
    disk_free_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    """The free space the hour's last heartbeat reported."""
    link_state: LinkState | None = Field(default=None, sa_type=_LINK_STATE)
    """The link state the hour's last heartbeat (or last will) said."""
    last_received_at: dt.datetime = Field(sa_type=UTCDateTime)
    """When the hour's last heartbeat (or last will) came."""


class DevicesPublic(SQLModel):
    """A page of devices and how many match in all."""

    data: list[DevicePublic]
    count: int


class DeviceSummary(SQLModel):
    """The fleet at a glance, for a province admin watching hundreds of appliances.

    Attributes are counts of registered devices unless said otherwise.
    """

    devices: int
    active: int
    revoked: int
    online: int
    offline: int
    stopped: int
    never_heard: int
    """Registered devices that never sent a heartbeat."""
    silent: int
    """Devices said online whose last heartbeat is older than `silent_after_s`."""
    silent_after_s: float
    with_errors: int
    """Devices whose last heartbeat reports an error."""
    queued_results: int
    """Results waiting on all devices together (from their last heartbeats)."""
    oldest_pending_age_s: float | None
    """The oldest waiting result's age over all devices, in seconds."""


# --- commands to devices ---------------------------------------------------------------------


class DeviceCommandCreate(SQLModel):
    """What issuing a command takes (see `protocol.commands` for each command's args)."""

    name: CommandName
    args: dict[str, Any] = Field(default_factory=dict)


class DeviceCommand(SQLModel, table=True):
    """A command to one device and, once it came, the device's reply."""

    __tablename__ = "device_command"

    command_id: str = Field(primary_key=True, max_length=64)
    """Unique per command (`protocol.commands`); the reply names it."""
    device_id: str = Field(max_length=64, foreign_key="device.device_id", index=True)
    name: CommandName = Field(sa_type=_COMMAND_NAME)
    args: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    issued_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    issued_by: str | None = Field(default=None, max_length=64)
    """Who issued it: the account (API, pages), or `cli:<user>` for `sohoa server command`;
    None for the commands of before this was kept."""
    state: CommandState = Field(default=CommandState.QUEUED, sa_type=_COMMAND_STATE, index=True)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    reply_status: ReplyStatus | None = Field(default=None, sa_type=_REPLY_STATUS)
    reply_detail: str | None = Field(default=None, max_length=4096)
    reply_data: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    replied_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeviceCommandPublic(SQLModel):
    """A command as the API shows it."""

    command_id: str
    device_id: str
    name: CommandName
    args: dict[str, Any]
    issued_at: dt.datetime
    issued_by: str | None
    state: CommandState
    sent_at: dt.datetime | None
    reply_status: ReplyStatus | None
    reply_detail: str | None
    reply_data: dict[str, Any] | None
    replied_at: dt.datetime | None


# --- transfers in progress (chunked results being staged) --------------------------------------


class Transfer(SQLModel, table=True):
    """A chunked result being received: its manifest once it came (`size` is None before), and
    when it was last touched (abandoned transfers expire by it)."""

    device_id: str = Field(primary_key=True, max_length=64, foreign_key="device.device_id")
    result_id: str = Field(primary_key=True, max_length=64)
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    """The whole PDF's size from the manifest (None until the manifest is staged)."""
    chunk_size: int | None = None
    """The manifest's chunk size."""
    result_fields: dict[str, str | None] | None = Field(default=None, sa_type=sa.JSON)
    """The manifest's fields."""
    signed_at: str | None = Field(default=None, max_length=64)
    """The manifest's `created_at` (when the device signed it), as the device wrote it."""
    result_metadata: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    """The manifest's metadata."""
    started_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    touched_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    """The last time a part of it was staged."""


class TransferChunk(SQLModel, table=True):
    """One staged chunk of a `Transfer`: its bytes, checked against its SHA-256 before staging."""

    __tablename__ = "transfer_chunk"

    device_id: str = Field(primary_key=True, max_length=64)
    result_id: str = Field(primary_key=True, max_length=64)
    idx: int = Field(primary_key=True)
    """The chunk's index."""
    size: int = Field(sa_type=sa.BigInteger)
    """The whole result's size it was cut from."""
    chunk_size: int
    """The chunk size it was cut with."""
    sha256: str = Field(max_length=64)
    nbytes: int
    """len(data), summed for a device's staging quota."""
    data: bytes = Field(sa_type=sa.LargeBinary)
    staged_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


# --- verifications (a result between its arrival and its record) -------------------------------


class Verification(SQLModel, table=True):
    """A result a worker is verifying, or has refused: written before the slow step, so that a
    copy of it (a device's resend, the broker's redelivery) is answered at once, never verified
    again. A verified result leaves no row: its `Record` answers its copies."""

    device_id: str = Field(primary_key=True, max_length=64)
    result_id: str = Field(primary_key=True, max_length=64)
    state: VerificationState = Field(sa_type=_VERIFICATION_STATE)
    holder: str | None = Field(default=None, max_length=64)
    """The MQTT client id of the worker verifying it (its claims are abandoned when it starts
    again: it was stopped or killed mid-verification)."""
    attempts: int = 1
    """How many times a worker took it (a verification that never finished is taken again)."""
    started_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    """When the last attempt began (or, refused, when it was refused)."""
    reason: str | None = Field(default=None, max_length=32)
    """The `RejectReason` value of a refusal."""
    detail: str | None = Field(default=None, max_length=1024)
    """The refusal's detail, as the device was told."""


# --- records -------------------------------------------------------------------------------------


class RecordFields(SQLModel):
    """The document's fields (DESIGN.md keys), as the officer confirmed them and the signed PDF's
    XMP carries them (`server.signed_fields`); NFC text."""

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
    device_id: str = Field(max_length=64, foreign_key="device.device_id")
    """The device that delivered it (indexed with `received_at`: a device's latest result is
    one index look-up, `ix_record_device_received`)."""
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
    page_count: int | None = None
    """Its number of pages, as its signed XMP states (`sohoa:PageAmount`)."""
    document_id: str | None = Field(default=None, max_length=128)
    """Its identity as its signed XMP states (`xmpMM:DocumentID`)."""
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
    unit_code: str | None = Field(default=None, max_length=16, index=True)
    """The unit whose result it is: its issuer when `co_quan_ban_hanh` names one unit of the tree
    on its issue date, else its device's unit when it was received (`co_quan_ban_hanh` itself
    is never rewritten)."""
    procedure_code: str | None = Field(default=None, max_length=64, index=True)
    """The procedure that produced it: as the appliance said at capture, else inferred from its
    result type (`server.repository.procedures`)."""
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    """Its place among its document's versions (1, 2, ...; `server.repository.versions`)."""
    merge_state: MergeState = Field(
        default=MergeState.CURRENT,
        sa_type=_MERGE_STATE,
        sa_column_kwargs={"server_default": MergeState.CURRENT.value},
    )
    """current, superseded (a later version took its place; this row is kept as it was) or
    needs_review (it conflicts with the current version of the same number and date)."""
    supersedes: str | None = Field(default=None, max_length=36)
    """The record (id) of the version this one replaced."""
    superseded_by: str | None = Field(default=None, max_length=36)
    """The record (id) of the version that replaced this one."""
    duplicate_warning: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    """Nghị định 30/2020's duplicate warning: another document of the same issuer bears the same
    số ký hiệu in the same year (`server.repository.versions.duplicate_key`)."""
    read_values: dict[str, str | None] | None = Field(default=None, sa_type=sa.JSON)
    """The fields the officer corrected at the appliance before signing, each with its value as
    the appliance read it (None: nothing read); the field's own column holds the corrected
    value. Both are signed (`protocol.signed_metadata.CORRECTED_PROPERTY`). None: nothing was
    corrected."""


class Record(RecordBase, table=True):
    """A result in the provincial repository: one signed delivery, or one officer's correction
    of a version (`corrects`), each a row of its own that is never rewritten."""

    __table_args__ = (
        sa.Index("ix_record_cccd", "cccd"),
        sa.Index("ix_record_device_received", "device_id", "received_at"),
        # At most one current version per document: what the merge's lock guarantees, held by
        # the database too (a partial unique index, on SQLite as on PostgreSQL).
        sa.Index(
            "ux_record_current_natural_key",
            "natural_key",
            unique=True,
            sqlite_where=sa.text("merge_state = 'current'"),
            postgresql_where=sa.text("merge_state = 'current'"),
        ),
        # The other versions' natural keys: with the index above, each record's key is in
        # exactly one index (`versions.IS_CURRENT`, `versions.NOT_CURRENT` spell both).
        sa.Index(
            "ix_record_natural_key_other",
            "natural_key",
            sqlite_where=sa.text("merge_state <> 'current'"),
            postgresql_where=sa.text("merge_state <> 'current'"),
        ),
        # The rare states only (most records are current and unflagged): small indexes that
        # loads barely touch (`records.RecordState` filters spell the same conditions).
        sa.Index(
            "ix_record_merge_state_other",
            "merge_state",
            sqlite_where=sa.text("merge_state <> 'current'"),
            postgresql_where=sa.text("merge_state <> 'current'"),
        ),
        sa.Index(
            "ix_record_duplicate_warning",
            "duplicate_warning",
            sqlite_where=sa.text("duplicate_warning = 1"),
            postgresql_where=sa.text("duplicate_warning"),
        ),
    )

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    pdf_path: str = Field(max_length=255)
    """Where the signed PDF is, as the device sent it, relative to the blob store's data_dir."""
    ltv_pdf_path: str | None = Field(default=None, max_length=255)
    """Where the long-term-validation copy is, relative to data_dir (None until it is made)."""
    ocr_text: str | None = Field(default=None, sa_type=sa.Text)
    """The document's recognised text, for free-text search (`server.search`); None where it
    was not given (the appliance sends the fields; `sohoa server seed` fills it)."""
    natural_key: str | None = Field(default=None, max_length=64)
    """Its document's identity beside the PDF's hash: a hash of its issuer, số ký hiệu and
    issue date, normalised (`server.repository.versions.natural_key`); None when one of them is
    missing (such a record is never grouped with another)."""
    duplicate_key: str | None = Field(default=None, max_length=64, index=True)
    """A hash of its issuer, số ký hiệu and issue year, normalised: what Nghị định 30's
    duplicate warning compares (`server.repository.versions.duplicate_key`)."""
    corrects: str | None = Field(default=None, max_length=36)
    """For a correction's row: the record (id) of the version it corrects (its PDF is that
    version's signed original, unchanged). None for a signed delivery."""


class RecordPublic(RecordBase):
    """A record as the API shows it (the blob store's paths stay inside)."""

    id: str


class RecordCorrection(SQLModel, table=True):
    """An officer's correction of one field of a version: the value as read (signed) and as
    corrected, who, when, why. It made the record `record_id`, a new version; the corrected
    version (`corrects`) is kept as it was."""

    __tablename__ = "record_correction"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=36, foreign_key="record.id", unique=True)
    """The new version this correction made."""
    corrects: str = Field(max_length=36, foreign_key="record.id", index=True)
    """The version it corrected."""
    field: str = Field(max_length=32)
    read_value: str | None = Field(default=None, max_length=4096)
    """The field's value in the corrected version (as read and signed, or as corrected before)."""
    value: str = Field(max_length=4096)
    reason: str = Field(max_length=500)
    username: str = Field(max_length=64)
    role: str = Field(max_length=16)
    corrected_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class ReviewKind(Enum):
    """What a review decides about."""

    CONFLICT = "conflict"
    """A version stored `needs_review` beside the current version of its document."""
    DUPLICATE = "duplicate"
    """Documents under Nghị định 30's duplicate warning (one issuer, one số ký hiệu, one year)."""


class ReviewVerdict(Enum):
    """A reviewer's decision."""

    REPLACE = "replace"
    """The conflicting version replaces the current one (it becomes the next version)."""
    REJECT = "reject"
    """The current version stands; the conflicting one is kept, superseded by it."""
    DISTINCT = "distinct"
    """The documents under the warning are distinct documents: the warning is lifted."""
    DUPLICATE = "duplicate"
    """They are duplicates indeed: the warning stays, and the case leaves the queue."""


class ReviewDecision(SQLModel, table=True):
    """A reviewer's decision on a case of the review queue (`server.repository.reviews`): who,
    when, what and why. Never changed: a later decision on the same case is a row of its own."""

    __tablename__ = "review_decision"

    id: int | None = Field(default=None, primary_key=True)
    kind: ReviewKind = Field(sa_type=_string_enum(ReviewKind, "reviewkind"))
    record_id: str | None = Field(default=None, max_length=36, index=True)
    """The conflicting version decided on (a conflict)."""
    other_id: str | None = Field(default=None, max_length=36)
    """The version it conflicted with, current when decided (a conflict)."""
    duplicate_key: str | None = Field(default=None, max_length=64, index=True)
    """The documents' duplicate key (a duplicate warning)."""
    verdict: ReviewVerdict = Field(sa_type=_string_enum(ReviewVerdict, "reviewverdict"))
    reason: str = Field(max_length=500)
    username: str = Field(max_length=64)
    decided_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class CorrectionPublic(SQLModel):
    """A correction as the API shows it."""

    field: str
    read_value: str | None
    value: str
    reason: str
    username: str
    corrected_at: dt.datetime


class RecordVersionPublic(RecordPublic):
    """One version of a document in its history, with the correction that made it, if any."""

    corrects: str | None = None
    correction: CorrectionPublic | None = None


class RecordVersionsPublic(SQLModel):
    """A document's history: its versions, oldest first, and those conflicting with it."""

    record_id: str
    """The record asked about."""
    natural_key: str | None
    data: list[RecordVersionPublic]


class RecordsPublic(SQLModel):
    """A page of records and how many there are in all."""

    data: list[RecordPublic]
    count: int


class ResultReuse(SQLModel, table=True):
    """A result reused for a new dossier (hồ sơ): the officer who reused it and when. One row
    per (result, dossier): reusing it again for the same dossier changes nothing."""

    __tablename__ = "result_reuse"
    __table_args__ = (sa.UniqueConstraint("record_id", "dossier_code"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=36, foreign_key="record.id", index=True)
    dossier_code: str = Field(max_length=64)
    """The new dossier's code (Thông tư 01/2018/TT-VPCP: <unit code>-YYMMDD-NNNN)."""
    username: str = Field(max_length=64)
    reused_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


# --- administrative units and procedures --------------------------------------------------------


class Unit(SQLModel, table=True):
    """An administrative unit's code (mã đơn vị hành chính): what devices, records and versions
    point at. A code can outlive a name, and the statistics office reuses codes for the unit
    formed from a merge, so everything else about a unit lives on its versions."""

    code: str = Field(primary_key=True, max_length=16)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class UnitVersion(SQLModel, table=True):
    """What a unit was between two dates: its name, kind, parent and the units it went into.

    Rows are never updated: importing a file that says otherwise about the same (code,
    valid_from) adds a row and marks the old one superseded, so what the repository believed
    at any time stays readable.
    """

    __tablename__ = "unit_version"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, foreign_key="unit.code", index=True)
    name: str = Field(max_length=255)
    """Its proper name without the kind ("Vạn Thắng")."""
    kind: str = Field(max_length=16)
    """tinh, huyen, thi_xa, thanh_pho, xa, phuong, thi_tran or dac_khu."""
    parent_code: str | None = Field(default=None, max_length=16)
    """The unit above it in this period (None for a province)."""
    valid_from: dt.date | None = None
    """First day of this version (None: before the data's horizon)."""
    valid_to: dt.date | None = None
    """Last day of this version (None: still in force)."""
    successors: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    """Codes of the units it was merged into (wholly or in part) when this version ended."""
    confirmed: bool = True
    """False where the data file marks the row as unconfirmed."""
    note: str | None = Field(default=None, max_length=1000)
    recorded_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    superseded_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When a later import corrected this row (None: the current belief)."""


class Procedure(SQLModel, table=True):
    """An administrative procedure of the national catalogue (thủ tục hành chính)."""

    code: str = Field(primary_key=True, max_length=64)
    """Its code, e.g. 1.001193."""
    name: str = Field(max_length=500)
    level: str = Field(max_length=16)
    """Where it is carried out: xa, huyen or tinh."""
    field: str | None = Field(default=None, max_length=255)
    """Its sector (lĩnh vực), e.g. Hộ tịch."""
    result_types: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    """Result titles (`loai_van_ban`, as printed) from which a result's procedure is inferred."""
    confirmed: bool = True
    note: str | None = Field(default=None, max_length=1000)
    updated_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


# --- progress reports ---------------------------------------------------------------------------


class MonthlyTally(SQLModel, table=True):
    """Results digitized and reused per unit and month (in Việt Nam's time): what the progress
    reports add up, kept as results arrive (`server.repository.tallies`) so that a report over a
    million results reads a few hundred rows. Derived: `sohoa server reports rebuild` makes it
    again from the records."""

    __tablename__ = "monthly_tally"

    unit_code: str = Field(primary_key=True, max_length=16)
    """The results' unit (`Record.unit_code`); "" for results of no unit."""
    month: str = Field(primary_key=True, max_length=7)
    """YYYY-MM."""
    digitized: int = 0
    """Documents first stored that month (a document's later versions are not counted again)."""
    reused: int = 0
    """Reuses recorded that month (`ResultReuse`)."""


class IssuedTally(SQLModel, table=True):
    """Results a unit issued in a month and how many of them electronically, as the one-stop
    system reports them (imported: `sohoa server reports import-issued`); the reports' share of
    results issued electronically."""

    __tablename__ = "issued_tally"

    unit_code: str = Field(primary_key=True, max_length=16)
    month: str = Field(primary_key=True, max_length=7)
    issued: int
    electronic: int
    imported_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class UnitTarget(SQLModel, table=True):
    """A unit's digitization target: how many results it holds (to digitize), and by when (its
    plan deadline; None: the plan's tier for that volume, `server.reports.plan`)."""

    __tablename__ = "unit_target"

    unit_code: str = Field(primary_key=True, max_length=16)
    volume: int
    deadline: dt.date | None = None
    set_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


# --- accounts (the people who use the API) -------------------------------------------------------


class Role(Enum):
    """What an account may do through the API (`server.api.deps.require_role`)."""

    PROVINCE_ADMIN = "province_admin"
    """Everything: every unit's results, the devices and their commands."""
    UNIT_OFFICER = "unit_officer"
    """The results of its own unit only (those its unit's devices sent); no device routes."""
    AUDITOR = "auditor"
    """No personal data: the devices as a read-only list (and, later, the audit log)."""


_ROLE = _string_enum(Role, "role")


class AccountBase(SQLModel):
    """Who an account is and what it may see."""

    username: str = Field(primary_key=True, max_length=64)
    role: Role = Field(sa_type=_ROLE)
    unit: str | None = Field(default=None, max_length=255)
    """A unit officer's unit: its code in the unit tree (`Unit.code`, e.g. "22516"); it sees
    the records of `server.repository.units.visible_units`. None for the other roles."""


class Account(AccountBase, table=True):
    """A person who signs in to the API."""

    password_hash: str = Field(max_length=255)
    """The password's argon2id hash in PHC form (`server.passwords`); never the password."""
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it was disabled; its tokens stop working at once (checked on every request)."""
    failed_logins: int = 0
    """Wrong passwords since `first_failed_at` (reset by a good sign-in or a new window)."""
    first_failed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the current window of failures began."""
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Until when every sign-in is refused, after `login_max_failures` failures."""
    last_login_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    token_generation: int = 0
    """Carried by every token issued to the account (`gen`); disabling, enabling and a new
    password count it up, so tokens issued before any of them stop working at once rather
    than when they expire."""


class LoginFailure(SQLModel, table=True):
    """Recent wrong sign-ins under a name no account has, counted like an account's so that
    the lock-out answers an unknown name as it answers a known one (no username discovery).

    Keyed by a keyed hash of the name as typed (`server.repository.accounts`), never the name:
    people type passwords into the name field. A row lives at most `login_window_s` (or
    `login_lockout_s` once locked); older ones are deleted at the next failure.
    """

    __tablename__ = "login_failure"

    name_hash: str = Field(primary_key=True, max_length=64)
    failed_logins: int = 0
    first_failed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A person signed in to the web pages (`server.web`): one row per browser sign-in.

    The browser holds a random secret in an HttpOnly cookie; the row is keyed by its SHA-256,
    so a copy of the database gives no cookie that works. Signing out deletes the row; a row
    unused for `web_idle_s`, older than `web_max_s`, or of an account whose token generation
    moved on (disabled, new password) is refused and deleted when next presented.
    """

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    """SHA-256 (hex) of the cookie's secret."""
    username: str = Field(max_length=64, foreign_key="account.username", index=True)
    generation: int
    """The account's `token_generation` at sign-in: a later one ends the session."""
    csrf: str = Field(max_length=64)
    """The token every form of this session carries (synchronizer token pattern)."""
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    seen_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    """When it was last used (updated at most once a minute: `server.web.sessions`)."""


class AccountPublic(AccountBase):
    """An account as the API and `sohoa server user list` show it (no hash, no lock state)."""

    created_at: dt.datetime
    disabled_at: dt.datetime | None
    last_login_at: dt.datetime | None


class AccessToken(SQLModel):
    """The answer to a sign-in (OAuth2 password flow, RFC 6749 section 5.1)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int
    """Seconds the token is good for."""


# --- the audit log of personal data --------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """One load of personal data through the API: who, as what, which record or query, when,
    from where, for what purpose; chained to the entry before by its hash.

    `seq` is the entry's place (1, 2, ... with no gaps: taken from `AuditHead`, not a sequence
    that a rolled-back transaction would skip); `entry_hash` is the SHA-256 of the entry's
    canonical form (`server.repository.audit.canonical`), `prev_hash` the previous entry's.
    """

    __tablename__ = "audit_entry"
    # An auditor's two usual questions: who read this record, what did this account read
    # (`GET /api/audit?record_id=…|actor=…`, newest first), answered without walking the log.
    __table_args__ = (
        sa.Index("ix_audit_entry_record_id", "record_id", "seq"),
        sa.Index("ix_audit_entry_username", "username", "seq"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: dt.datetime = Field(sa_type=UTCDateTime)
    username: str = Field(max_length=64)
    role: str = Field(max_length=16)
    action: str = Field(max_length=32)
    """What was asked: `record.read`, `record.pdf`, `records.list`, with `.refused` when the
    account could not see it (or it does not exist)."""
    record_id: str | None = Field(default=None, max_length=64)
    query: str | None = Field(default=None, max_length=1024)
    """The listing's parameters, as `key=value&...`."""
    client: str = Field(max_length=64)
    """The client's address."""
    purpose: str | None = Field(default=None, max_length=200)
    """Why, as the caller said (`X-Purpose` header or `purpose` parameter)."""
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The audit log's newest entry: its place and hash, in one row (`id` 1) that every writer
    updates first, so that writers take their turns and the newest entries cannot be removed
    unseen."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    """The newest entry's place (0: none yet)."""
    entry_hash: str = Field(max_length=64)
    """The newest entry's hash (`GENESIS` when there is none)."""


class Enrollment(SQLModel, table=True):
    """A one-time enrollment code issued for an appliance (`server.enrollment`,
    `protocol.enrollment`): for which device id and unit, by whom, until when, and what its
    redemption issued.

    Only the SHA-256 of the code's secret is kept, so a copy of the database enrolls nothing.
    A code is used once: its redemption sets `used_at` in the transaction that registers the
    device. The certificates it issued are kept (`answer`), so that an appliance whose answer
    was lost on the way can ask again with the same two keys and get the same certificates;
    any other second use is refused.
    """

    __tablename__ = "enrollment"

    secret_sha256: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(max_length=64, index=True)
    unit: str = Field(max_length=255)
    """The unit's name (what the device's certificates and signatures name)."""
    unit_code: str | None = Field(default=None, max_length=16)
    created_by: str = Field(max_length=64)
    """The admin who issued the code (an account, or `cli:<user>` from the command line)."""
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_from: str | None = Field(default=None, max_length=64)
    """The address the redemption came from."""
    keys_sha256: str | None = Field(default=None, max_length=64)
    """SHA-256 of the two CSRs' public keys (signing, then transport): a retry with the same
    keys gets `answer` again."""
    answer: str | None = Field(default=None, sa_type=sa.Text)
    """The `sohoa.enrolled/1` answer (JSON; certificates and settings, no secret)."""


class DeviceCertificate(SQLModel, table=True):
    """A certificate the server's CA issued to a device, at its enrollment or a renewal: what a
    revocation revokes, what a renewal re-certifies, and the signing certificates whose
    signatures ingest accepts from that device (its latest, and earlier ones still valid:
    results signed before a renewal may arrive after it)."""

    __tablename__ = "device_certificate"

    serial: str = Field(primary_key=True, max_length=40)
    """Its serial number (lower-case hex)."""
    device_id: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=16)
    """`signing` (the token's document-signing key) or `transport` (the MQTT TLS key)."""
    sha256: str = Field(max_length=64)
    """SHA-256 of its DER encoding (lower-case hex)."""
    not_after: dt.datetime = Field(sa_type=UTCDateTime)
    issued_at: dt.datetime = Field(sa_type=UTCDateTime)
    pem: str = Field(sa_type=sa.Text)


class EnrollmentFailure(SQLModel, table=True):
    """Recent refused enrollments from one address (unknown, used or expired codes), counted as
    wrong passwords are: `enroll_max_failures` within `enroll_window_s` refuse that address for
    `enroll_lockout_s`."""

    __tablename__ = "enrollment_failure"

    source: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    first_failed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
