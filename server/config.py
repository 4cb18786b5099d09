"""The server's configuration, parsed once at the program's edge into a frozen object.

Sources, strongest first: `SOHOA_SERVER_*` environment variables, then the TOML file given to
`load_server_settings`, then the defaults below. Unknown keys in the file and unknown
`SOHOA_SERVER_*` variables are errors that name them (a typo must not silently fall back to a
default); so is an MQTT key that others can read.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from protocol.enrollment import check_server_url
from protocol.errors import EnrollmentFormatError
from protocol.messages import MAX_RESULT_BYTES
from protocol.receiver import (
    DEFAULT_MAX_CHUNK_BYTES,
    DEFAULT_MAX_STAGED_BYTES_PER_DEVICE,
    DEFAULT_MAX_STAGED_BYTES_TOTAL,
)
from protocol.topics import RESERVED_ID_PREFIX
from server.errors import ConfigError
from server.passwords import HashingCost
from support.settings import PrivateKeyFile, TransportSettings, load_settings

ENV_PREFIX = "SOHOA_SERVER_"
SHARE_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
"""An MQTT v5 share name (section 4.8.2: no '/', '+' or '#'), kept to letters, digits, - and _."""
_SHARE_NAME = re.compile(SHARE_NAME_PATTERN)
_CLIENT_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,40}")


def default_data_dir() -> Path:
    """Where the server keeps its repository and blob store unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sohoa" / "server"


def sqlite_url(data_dir: Path) -> str:
    """The embedded default database: a SQLite file in `data_dir`."""
    return f"sqlite:///{data_dir / 'repository.db'}"


class ServerSettings(TransportSettings):
    """Everything `sohoa server run` / `ingest` needs, validated and frozen."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)
    what: ClassVar[str] = "server"
    error: ClassVar[type[Exception]] = ConfigError

    data_dir: Path = Field(default_factory=default_data_dir)
    """The repository's home: the blob store (`blobs/`) and, by default, the SQLite database."""
    database_url: str = ""
    """SQLAlchemy URL: `sqlite:///PATH` (default `<data_dir>/repository.db`) or
    `postgresql://user@host:port/db` (driven by psycopg 3)."""
    broker_host: str = "127.0.0.1"
    """The MQTT broker the ingest workers connect to (TLS)."""
    broker_port: int = Field(default=8883, ge=1, le=65535)
    """The broker's TLS port for the server's clients: its server listener, which takes only
    certificates of the server-clients CA (`provisioning.broker`), not the devices' port."""
    ca_file: Path | None = None
    """The provincial CA certificate (PEM): trust root for the broker's TLS certificate and for
    document signatures."""
    cert_file: Path | None = None
    """The server's MQTT TLS client certificate (PEM)."""
    key_file: PrivateKeyFile = None
    """The private key of `cert_file` (PEM), readable by the server's user only."""
    api_host: str = "127.0.0.1"
    """Address the HTTP API listens on."""
    api_port: int = Field(default=8000, ge=1, le=65535)
    """Port the HTTP API listens on."""
    ingest_workers: int = Field(default=4, ge=1, le=64)
    """How many ingest workers (MQTT shared-subscription members) `run`/`ingest` start. Four
    on the 2-core server: a worker spends much of a message waiting (database commit, blob
    write, broker round trips), so two per core keep both busy; a worker held by a slow result
    leaves the group (`server.consumer`) while three go on; and each holds little memory (one
    message, one result being verified)."""
    ingest_group: str | None = None
    """The share name of the ingest workers' shared subscription (`$share/<group>/...`): a
    per-deployment secret, never given to devices. Mosquitto 2.0 does not check SUBSCRIBE
    against its ACL file, so a device that knew the name could join the group and have the
    results dealt to it dropped. Generate one with `sohoa provision ingest-group` and give the
    same value to every ingest process. Unset: derived from the server's MQTT private key
    (`key_file`), which is as secret and the same wherever the same key is installed."""
    ingest_client_prefix: str | None = None
    """MQTT client ids of this process's ingest workers are `<prefix>-<n>`; stable across
    restarts, so that a restarted worker takes back its broker session and the results the
    broker kept for it. Default `sohoa-ingest-<hostname>`; give each ingest process on one
    machine its own prefix. It must begin with `sohoa`, which no device id may: a device's
    client id is its device id, and one equal to a worker's would take over its session."""
    ingest_session_expiry_s: int = Field(default=86_400, ge=0, le=4_294_967_295)
    """How long the broker keeps a disconnected ingest worker's session, with the results
    dealt to it meanwhile (MQTT v5 section 3.1.2.11.2). 0: sessions end at disconnection."""
    ingest_queue_messages: int = Field(default=1, ge=1, le=1024)
    """The Receive Maximum an ingest worker announces: results the broker may have out to it
    unacknowledged at once, the one in hand included; the others wait at the broker. 1, the
    one value Mosquitto 2.0.11 holds exactly (`server.mqtt`), and nothing queued behind a slow
    result in a worker's memory."""
    ingest_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    """Bytes of messages an ingest worker expects to hold at once beyond the one in hand; more
    (a broker not honouring the Receive Maximum) is taken all the same and logged."""
    max_result_bytes: int = Field(default=MAX_RESULT_BYTES, ge=1024, le=MAX_RESULT_BYTES)
    """The largest result accepted; a larger one is rejected (reason `size`) before a byte of
    it is staged."""
    max_chunk_bytes: int = Field(default=DEFAULT_MAX_CHUNK_BYTES, ge=1024)
    """The largest chunk size accepted for a chunked result."""
    max_staged_bytes_per_device: int = Field(
        default=DEFAULT_MAX_STAGED_BYTES_PER_DEVICE, ge=1024 * 1024
    )
    """The most bytes staged for one device at once, its chunks and its staged manifests (each
    counted as the most a manifest can weigh, `protocol.receiver.STAGED_MANIFEST_BYTES`); beyond
    it nothing more is staged for it, and its resume brings the rest later."""
    max_staged_bytes_total: int = Field(default=DEFAULT_MAX_STAGED_BYTES_TOTAL, ge=1024 * 1024)
    """The most bytes staged for every device together: the cap that keeps chunked transfers
    from filling the repository's disk (staged chunks live in its database). Beyond it nothing
    more is staged for anyone until transfers finish or expire (`staging_expiry_s`); devices'
    resumes bring their chunks later. Keep it well under the database's free disk space."""
    staging_expiry_s: float = Field(default=3 * 86_400, ge=60)
    """Staged parts of a chunked result not touched for this long are deleted (an abandoned
    transfer, chunks that came after a rejection); a device that comes back resumes it."""
    heartbeat_clock_skew_s: float = Field(default=300.0, ge=0, le=86_400)
    """How far ahead of the server's clock a device may date its heartbeat; a later date counts
    as the time the heartbeat was received (a device whose clock runs ahead, or lies, cannot
    hide its next heartbeats)."""
    verify_processes: int = Field(default=2, ge=1, le=64)
    """Verifier processes (`server.sandbox`): untrusted PDFs are parsed and verified there, never
    in the server's own process; a process that dies or hits a limit is replaced. One per core
    (2 on the reference machine): more only queue for the same cores."""
    verify_cpu_s: int = Field(default=2, ge=1, le=600)
    """CPU seconds one verification may use (RLIMIT_CPU, whole seconds: a verification gets
    this to one second more); beyond, the result is rejected with reason `too_complex`. A
    signed result verifies in 10-20 ms and the largest (32 MiB) in under 0.4 s (measured by
    `python -m bench.attack`): 2 s is five times that, and bounds what one hostile result
    costs (a 4 MiB /Fields array written plainly needs about 5 s to parse)."""
    verify_memory_mb: int = Field(default=512, ge=128, le=65_536)
    """Address space (RLIMIT_AS) of a verifier process, in MiB; a verification that needs more
    is rejected with reason `too_complex`. A verifier process starts at about 70 MiB, and the
    largest result (32 MiB) is held about three times while it is received and read: 512 MiB
    is twice what that needs, and bounds the worst case at `verify_processes` x 512 MiB."""
    command_poll_s: float = Field(default=1.0, gt=0, le=60)
    """How often queued commands to devices are looked for and published."""
    crl_path: Path | None = None
    """The CRLs provisioning publishes (`sohoa provision revoke` / `crl`): one PEM or DER file,
    or a folder of them (`*.pem`, `*.crl`, `*.der`), re-read whenever they change. When set, a
    signer must be covered by a current CRL of its CA (a missing or stale one holds results back
    until a fresh CRL is published); when unset, revocation is not checked. Put the TSA's CA's
    CRL in the same folder so that long-term-validation copies embed it too."""
    ltv: bool = True
    """Augment every accepted result's stored copy to PAdES B-LT (certificates and CRLs in a
    DSS), and B-LTA with a document timestamp when `tsa_url` is set. Needs `crl_path`."""
    tsa_url: str | None = None
    """The RFC 3161 time-stamping authority (HTTP or HTTPS) for B-LTA document timestamps."""
    tsa_ca_file: Path | None = None
    """Trust root(s) of the TSA's certificate (PEM, one or more); default `ca_file`."""
    tsa_timeout_s: float = Field(default=10.0, gt=0, le=120)
    """How long one timestamp request may take."""
    ltv_retry_s: float = Field(default=300.0, ge=1)
    """How often records whose augmentation failed (TSA or CRL unavailable) are tried again."""
    token_key_file: PrivateKeyFile = None
    """The secret that signs the API's access tokens (HMAC-SHA256): a file of at least 32
    random bytes, readable by the server's user only. Unset: `<data_dir>/token-key`, made
    (0600, 32 random bytes) by the first `sohoa server run`. Give every API process of one
    repository the same file; replacing it signs everyone out."""
    token_ttl_s: int = Field(default=900, ge=60, le=86_400)
    """How long an access token is good for, in seconds; then the client signs in again."""
    login_max_failures: int = Field(default=5, ge=1, le=100)
    """Wrong passwords for one account within `login_window_s` that lock it."""
    login_window_s: int = Field(default=900, ge=1)
    """The window, in seconds, in which `login_max_failures` failures lock an account."""
    login_lockout_s: int = Field(default=900, ge=1)
    """How long a locked account refuses every sign-in, the right password included."""
    password_hashing: HashingCost = HashingCost.PRODUCTION
    """The cost of the argon2id hash of a new password (`server.passwords`): "production"
    (RFC 9106's 64 MiB, t=3). "tests-only" is the lowest cost, for test suites that sign in
    hundreds of times; its hashes are guessed fast: never set it for real accounts."""
    web_idle_s: int = Field(default=1800, ge=60, le=86_400)
    """A web session unused for this long (seconds) ends: the person signs in again."""
    web_max_s: int = Field(default=12 * 3600, ge=300, le=7 * 86_400)
    """A web session ends this long (seconds) after its sign-in, however busy."""
    web_secure_cookie: bool = True
    """Mark the session cookie `Secure` (sent over HTTPS only; browsers also send it to
    http://localhost). Set false only to try the pages over plain HTTP on another host."""
    search_refresh_s: float = Field(default=1.0, gt=0, le=60)
    """At most how often an API process catches its search index (`<data_dir>/search`) up
    with the database before a search: a merged result is searchable within about this."""
    api_tls_cert_file: Path | None = None
    """The API's HTTPS certificate (PEM, chain after it). Set with `api_tls_key_file` to serve
    HTTPS; enrollment codes pin its key (`sohoa provision device add`). Unset: plain HTTP, for
    a server behind a TLS-terminating proxy (the codes then pin the proxy's key, given to
    `device add --server-cert`)."""
    api_tls_key_file: PrivateKeyFile = None
    """The key of `api_tls_cert_file`, readable by the server's user only."""
    forwarded_allow_ips: str | None = None
    """The load balancers whose `X-Forwarded-For` names the client (comma-separated addresses
    or networks, as uvicorn takes them); unset, the client is the connection's peer."""
    enroll_server_cert_file: Path | None = None
    """The HTTPS certificate appliances meet when they enroll, when it is not
    `api_tls_cert_file` (a TLS-terminating proxy's): enrollment codes pin its key."""
    public_url: str | None = None
    """The address appliances reach the API at (https://HOST[:PORT]), put into enrollment
    QR codes; default https://<api_host>:<api_port>."""
    ca_dir: Path | None = None
    """The provincial CA's folder (`ca.pem`, `ca-key.pem`: `sohoa provision ca`). Set, the
    server enrolls appliances (`POST /api/enroll`) and issues their certificates; unset, it
    refuses enrollments. The key never leaves this machine."""
    broker_dir: Path | None = None
    """The production broker's folder (`sohoa provision broker-config --out`): revoking a device
    reloads it with the new CRL (`sohoa provision broker-reload`). Unset: the broker is
    reloaded by hand after a revocation."""
    device_broker_host: str | None = None
    """The broker's address as appliances reach it (a name or address on its certificate),
    told them at enrollment; default `broker_host`."""
    device_broker_port: int = Field(default=8883, ge=1, le=65535)
    """The broker's TLS port for devices, told them at enrollment."""
    device_cert_days: int = Field(default=825, ge=1, le=3650)
    """How long an appliance's certificates issued at enrollment are valid."""
    enroll_code_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    """How long an enrollment code can be used after it is issued (default 24 h)."""
    enroll_max_failures: int = Field(default=10, ge=1, le=1000)
    """Refused enrollments (unknown, used or expired codes) from one address within
    `enroll_window_s` after which that address is refused for `enroll_lockout_s`."""
    enroll_window_s: int = Field(default=900, ge=1)
    """The window of `enroll_max_failures`, in seconds."""
    enroll_lockout_s: int = Field(default=900, ge=1)
    """How long an address that failed too often is refused, the right code included."""

    @model_validator(mode="before")
    @classmethod
    def _default_database_url(cls, data: Any) -> Any:
        # The default database lives in data_dir, so it can only be filled in once data_dir is
        # known (from the file, the environment or its own default).
        if isinstance(data, dict) and not data.get("database_url"):
            data_dir = Path(data["data_dir"]) if data.get("data_dir") else default_data_dir()
            data = {**data, "database_url": sqlite_url(data_dir)}
        return data

    @field_validator("tsa_url")
    @classmethod
    def _tsa_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value

    @model_validator(mode="after")
    def _tls_cert_and_key_together(self) -> ServerSettings:
        if (self.api_tls_cert_file is None) != (self.api_tls_key_file is None):
            raise ValueError(
                "api_tls_cert_file and api_tls_key_file go together: set both to serve HTTPS, "
                "or neither"
            )
        return self

    @field_validator("public_url")
    @classmethod
    def _public_url_is_https(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                return check_server_url(value)
            except EnrollmentFormatError as e:
                raise ValueError(str(e)) from e
        return value

    @property
    def pinned_cert_file(self) -> Path | None:
        """The certificate whose key enrollment codes pin (`enroll_server_cert_file`, else
        `api_tls_cert_file`)."""
        return self.enroll_server_cert_file or self.api_tls_cert_file

    @property
    def enrollment_url(self) -> str:
        """The address put into enrollment QR codes (`public_url`, or the API's own)."""
        return self.public_url or f"https://{self.api_host}:{self.api_port}"

    @field_validator("ingest_group")
    @classmethod
    def _group_is_a_share_name(cls, value: str | None) -> str | None:
        if value is not None and not _SHARE_NAME.fullmatch(value):
            raise ValueError(f"must be 1-64 letters, digits, '-' or '_' (got {value!r})")
        return value

    @field_validator("ingest_client_prefix")
    @classmethod
    def _prefix_is_a_client_id(cls, value: str | None) -> str | None:
        if value is not None and not _CLIENT_PREFIX.fullmatch(value):
            raise ValueError(f"must be 1-40 letters, digits, '.', '-' or '_' (got {value!r})")
        if value is not None and not value.lower().startswith(RESERVED_ID_PREFIX):
            raise ValueError(
                f"must begin with {RESERVED_ID_PREFIX!r}, which no device id may (got {value!r}): "
                "a device whose id equalled an ingest worker's client id could take over its "
                "broker session"
            )
        return value

    @property
    def verify_wall_s(self) -> float:
        """How long one verification may take by the clock before its verifier process counts
        as stuck (a fault of the server's, not the PDF's: `verify_cpu_s` judges the PDF)."""
        return max(60.0, 10.0 * self.verify_cpu_s)

    @property
    def token_key_path(self) -> Path:
        """Where the token-signing secret is: `token_key_file`, or `<data_dir>/token-key`."""
        return self.token_key_file or self.data_dir / "token-key"

    def ingest_share_group(self) -> str:
        """The share name of the ingest subscription: `ingest_group`, or one derived from the
        server's MQTT private key (a secret devices never see).

        Raises:
            ConfigError: `ingest_group` is unset and `key_file` is unset or unreadable.
        """
        if self.ingest_group is not None:
            return self.ingest_group
        (key_file,) = self.require_files("key_file")
        try:
            key = key_file.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read key_file {key_file}: {e}") from e
        digest = hashlib.sha256(b"sohoa ingest share group\0" + key).hexdigest()
        return f"ingest-{digest[:32]}"

    def ingest_client_id(self, index: int) -> str:
        """The stable MQTT client id of this process's ingest worker `index`."""
        prefix = self.ingest_client_prefix or (
            "sohoa-ingest-" + re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:24]
        )
        return f"{prefix}-{index}"


def load_server_settings(toml_path: Path | None = None) -> ServerSettings:
    """Read the server's settings from `toml_path` (optional) and `SOHOA_SERVER_*` variables.

    Raises:
        ConfigError: the file is missing or unreadable, or a key is unknown or invalid; the
            message names the key and the file.
    """
    return load_settings(ServerSettings, toml_path)
