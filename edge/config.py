"""The appliance's configuration, parsed once at the program's edge into a frozen object.

Sources, strongest first: `SOHOA_EDGE_*` environment variables, then the TOML file given to
`load_edge_settings`, then the defaults below. Unknown keys and unknown `SOHOA_EDGE_*` variables
are errors that name them (a typo must not silently fall back to a default); so is a transport
key that others can read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from edge.capture.limits import MAX_DOCUMENT_PAGES, MAX_PAGE_PIXELS, PageLimits
from edge.errors import ConfigError
from edge.signing.box_text import DEFAULT_FONT, DEFAULT_TEMPLATE, check_template
from protocol.errors import TopicError
from protocol.topics import validate_device_id
from support.settings import PrivateKeyFile, TransportSettings, load_settings

ENV_PREFIX = "SOHOA_EDGE_"
DEFAULT_PKCS11_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


def default_data_dir() -> Path:
    """Where the appliance keeps its outbox unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sohoa" / "edge"


class EdgeSettings(TransportSettings):
    """Everything the appliance needs (capture, signing, outbox, sync), validated and frozen."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)
    what: ClassVar[str] = "edge"
    error: ClassVar[type[Exception]] = ConfigError

    device_id: str
    """This appliance's id: the commonName of its certificates and its MQTT username."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """The appliance's home: the outbox database and the content-addressed PDFs."""
    broker_host: str = "127.0.0.1"
    """The provincial MQTT broker (TLS); must be a name or address its certificate carries."""
    broker_port: int = Field(default=8883, ge=1, le=65535)
    """The broker's TLS port."""
    ca_file: Path | None = None
    """The provincial CA certificate (PEM): the broker's certificate must chain to it."""
    cert_file: Path | None = None
    """The appliance's transport (TLS client) certificate, naming `device_id`."""
    key_file: PrivateKeyFile = None
    """The transport key (PEM), readable by the sync agent's user only."""
    server_url: str | None = None
    """The provincial server's address (https://HOST[:PORT]), where certificates are renewed;
    written by `sohoa edge enroll`."""
    server_pin: str | None = None
    """The pin of the server's HTTPS key (`protocol.enrollment.pin_of`, from the enrollment
    code): renewal talks only to a server holding that key."""
    signing_cert_file: Path | None = None
    """The document-signing certificate as last issued (enrollment, renewal). The token keeps
    its own copy; a newer one here is stored on the token when the kiosk next opens it."""
    renew_window_days: float = Field(default=30.0, gt=0, le=365)
    """Renew both certificates when the transport certificate has fewer days left than this
    (`sohoa edge renew`, daily)."""
    pkcs11_module: Path = DEFAULT_PKCS11_MODULE
    """The PKCS#11 module of the signing token (appliance HSM, USB token driver, SoftHSM)."""
    token_label: str | None = None
    """The label of the token that holds the document-signing key."""
    token_serial: str | None = None
    """The token's serial number: selects the token when labels are not unique (with or
    instead of `token_label`)."""
    signing_key_id: str | None = None
    """The CKA_ID of the document-signing key on the token, in hex (e.g. "01")."""
    organisation: str | None = None
    """The administrative unit named in signatures (e.g. "UBND xã Vạn Thắng")."""
    location: str | None = None
    """Where documents are signed, named in signatures."""
    signature_box: bool = True
    """Draw the visible signature box (Nghị định 30/2020) at the top right of the first page;
    false signs invisibly."""
    signature_box_text: str = DEFAULT_TEMPLATE
    """The box's lines (one per "\\n") with {organisation} and {time} (ISO 8601, +07:00)."""
    signature_font: Path = DEFAULT_FONT
    """A TrueType font with Vietnamese letters for the box, embedded as a subset."""
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    """How long the broker keeps this appliance's MQTT session (and the acks queued for it)
    while it is offline (MQTT v5 section 3.1.2.11.2)."""
    ack_timeout_s: float = Field(default=30.0, gt=0)
    """The least wait for the server's application ack before sending a result again: the
    agent learns the wait from the acks' round trips (`protocol.sender`, never below this), and
    it doubles at each resend, up to `ack_timeout_max_s`."""
    ack_timeout_max_s: float = Field(default=600.0, gt=0)
    """The longest wait between two resends of a result the server does not answer."""
    sync_window: int = Field(default=8, ge=1, le=1000)
    """The most results published and waiting for their ack at once."""
    sync_window_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    """The most bytes of results published and waiting for their ack at once (a larger result
    still goes, alone)."""
    chunk_size: int = Field(default=256 * 1024, ge=1024, le=4 * 1024 * 1024)
    """The size of the chunks a large result is cut into; smaller chunks lose less on a link
    that drops often (a resumed result sends only the chunks the server lacks)."""
    whole_max_bytes: int = Field(default=512 * 1024, ge=0, le=32 * 1024 * 1024)
    """The largest result sent whole, in one message; larger ones go in chunks (0: always)."""
    max_bytes_per_s: int = Field(default=0, ge=0)
    """A cap on what the sync agent publishes, in bytes per second, for metered or thin field
    links (0: no cap)."""
    heartbeat_s: float = Field(default=60.0, ge=1.0)
    """How often the appliance publishes its heartbeat (also sooner, when its state changes)."""
    reconnect_max_s: float = Field(default=60.0, ge=1.0)
    """The longest wait between two attempts to reach the broker (the wait doubles from 1 s,
    with jitter, so that a province of appliances does not come back all at once)."""
    outbox_retention_days: float = Field(default=30.0, ge=0)
    """How long a result the server answered stays in the outbox (for the officer to see)
    before it and its file are deleted."""
    outbox_shared_with_group: bool = False
    """Share the outbox with the users of `data_dir`'s group (folders 2770, files 0660): on an
    appliance the kiosk and the sync agent run as two users of group `sohoa`, so that only the
    agent's user reads the transport key (`provisioning/appliance/`). False: the outbox is its
    user's only (0700, 0600)."""
    outbox_sealing: bool = False
    """Encrypt the outbox at rest (`edge.sync.sealing`): its PDFs and fields under a data key
    that is kept only sealed by a key generated on the token (`token_label`/`token_serial`), so
    that the storage card alone does not open them; `sohoa edge wipe` and the server's `wipe`
    command destroy that key. Turning it on seals an existing outbox when it is next opened;
    once sealed, an outbox is opened only with it on; the kiosk's drafts are sealed with the
    same key. Off by default, because the tests, the harness and the demo open their outboxes
    directly, without a token; turn it on on every appliance (its edge.toml, or
    SOHOA_EDGE_OUTBOX_SEALING=true in its units), with a hardware token: SoftHSM2 keeps the
    sealing key in clear in its token directory, on the same card."""
    max_page_pixels: int = Field(default=MAX_PAGE_PIXELS, ge=1_000_000)
    """The most pixels a page image may have (A4 at 600 dpi is 35 Mpx); a larger one is
    refused from its header, before it is decoded (a 9400 x 9500 px page costs ~1.1 GB)."""
    max_document_pages: int = Field(default=MAX_DOCUMENT_PAGES, ge=1, le=1000)
    """The most pages one document (one signed result) may have."""
    kiosk_idle_lock_s: float = Field(default=300.0, gt=0)
    """The kiosk locks itself (the token is logged out) after this many seconds without a key
    press, click or touch; the officer unlocks it with the token PIN."""
    scanner_device: str | None = None
    """The SANE device the kiosk scans with (e.g. "fujitsu:fi-7160:1234"); None: the first
    scanner found."""
    scanner_source: Literal["flatbed", "adf", "adf-duplex"] = "flatbed"
    """Where the kiosk's scanner takes the paper: the glass, or the document feeder."""
    camera_source: str | None = None
    """The camera the kiosk can capture with, besides the scanner: a V4L2 index ("0"), a device
    path ("/dev/video0"), a stream URL, or a recorded video (tests, the demo); None: no camera,
    the kiosk scans only."""
    procedures_file: Path | None = None
    """The unit's procedure catalogue (the server's procedures CSV), for the kiosk's
    type-to-search; None: the officer types the procedure's code."""
    kiosk_admin_pin_hash: str | None = None
    """The argon2 hash of the admin PIN that leaves the kiosk (and opens its settings); made by
    `sohoa edge admin-pin`. None: the kiosk cannot be left from its screen at all."""

    @field_validator("kiosk_admin_pin_hash")
    @classmethod
    def _argon2_hash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("$argon2"):
            raise ValueError(
                "must be an argon2 hash (`sohoa edge admin-pin` makes one), never the PIN itself"
            )
        return value

    @field_validator("device_id")
    @classmethod
    def _valid_device_id(cls, value: str) -> str:
        try:
            return validate_device_id(value)
        except TopicError as e:
            raise ValueError(str(e)) from e

    @field_validator("signing_key_id")
    @classmethod
    def _hex_key_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if not bytes.fromhex(value):
                raise ValueError("empty")
        except ValueError as e:
            raise ValueError(f"must be the key's id in hex, e.g. '01' (got {value!r})") from e
        return value.lower()

    @field_validator("signature_box_text")
    @classmethod
    def _valid_box_text(cls, value: str) -> str:
        return check_template(value)

    @model_validator(mode="after")
    def _ack_timeouts_in_order(self) -> EdgeSettings:
        if self.ack_timeout_max_s < self.ack_timeout_s:
            raise ValueError(
                f"ack_timeout_max_s ({self.ack_timeout_max_s}) must be at least ack_timeout_s "
                f"({self.ack_timeout_s})"
            )
        return self

    @model_validator(mode="after")
    def _sealing_has_a_token(self) -> EdgeSettings:
        if self.outbox_sealing and self.token_label is None and self.token_serial is None:
            raise ValueError(
                "outbox_sealing needs the token whose key seals the outbox: set token_label or "
                "token_serial"
            )
        return self

    @property
    def page_limits(self) -> PageLimits:
        """The caps on page pixels and document pages."""
        return PageLimits(self.max_page_pixels, self.max_document_pages)

    @property
    def outbox_dir(self) -> Path:
        """Where the outbox keeps its database and PDFs."""
        return self.data_dir / "outbox"

    @property
    def outbox_retention_s(self) -> float:
        """`outbox_retention_days` in seconds."""
        return self.outbox_retention_days * 24 * 3600

    @property
    def signing_key_id_bytes(self) -> bytes | None:
        """`signing_key_id` as bytes (CKA_ID), or None."""
        return bytes.fromhex(self.signing_key_id) if self.signing_key_id else None


def load_edge_settings(toml_path: Path | None = None) -> EdgeSettings:
    """Read the appliance's settings from `toml_path` (optional) and `SOHOA_EDGE_*` variables.

    Raises:
        ConfigError: the file is missing or unreadable, or a key is unknown, missing or invalid;
            the message names the key and the file.
    """
    return load_settings(EdgeSettings, toml_path)
