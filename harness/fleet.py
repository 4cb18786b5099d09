"""A throw-away fleet of simulated appliances for the sync benchmark and the sync fault tests.

`provision_fleet` makes, in one work folder, everything a province has before its first result
arrives (`provisioning.province`): a provincial CA and its CRL, one SoftHSM2 token holding every
appliance's document-signing key (each generated on the token, its CSR signed by the token, its
certificate issued by the CA and stored beside it), each appliance's own transport (TLS client)
key and certificate, the server's MQTT identity, the broker's files, and a migrated repository
with every appliance registered with its signer. `harness.results` then signs realistic results
for the appliances and `harness.audit` checks what arrived.

Why one token for the whole fleet: a SoftHSM token per appliance costs a `softhsm2-util` run
each and a process may log in to a token only once (`edge.signing.token`), so one token with N keys
(selected by CKA_ID) lets one process sign for many appliances. The signing keys still never
leave the token.

Nothing here is a stand-in: the certificates, the token, the signatures, the broker files and
the repository are the real ones the demo makes, multiplied.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from edge.config import EdgeSettings
from edge.errors import TokenError
from edge.signing.token import Token
from provisioning.broker import BrokerFiles
from provisioning.province import ApplianceIdentity, Province, provision_province, write_config
from server.db import make_engine, migrate
from server.repository.devices import register_device

log = logging.getLogger(__name__)

UNIT = "UBND xã Vạn Thắng"
LOCATION = "Vạn Ninh"
TOKEN_LABEL = "sohoa-fleet"  # noqa: S105 (a label, not a secret)


@dataclass(frozen=True)
class Appliance(ApplianceIdentity):
    """One simulated appliance of the fleet: its enrollment (`ApplianceIdentity`: device_id,
    key_id on the fleet's token, registered signer, home folder) and where its files go."""

    @property
    def config_file(self) -> Path:
        """Its `edge.toml` (written by `Fleet.write_edge_config`)."""
        return self.home / "edge.toml"

    @property
    def outbox_dir(self) -> Path:
        """Where its outbox lives (`EdgeSettings.outbox_dir` of its settings)."""
        return self.data_dir / "outbox"


@dataclass(frozen=True)
class TokenAccess:
    """How to open the fleet's token (in this process or a child: set `env()` first)."""

    module_path: Path
    conf_path: Path
    label: str
    pin: str

    def env(self) -> dict[str, str]:
        """The environment SoftHSM2 reads when its module is loaded."""
        return {"SOFTHSM2_CONF": str(self.conf_path)}

    def open(self, attempts: int = 5) -> Token:
        """Open and log in (one `Token` per process, see `edge.signing.token`).

        SoftHSM2's file store answers a login with CKR_GENERAL_ERROR now and then when several
        processes log in to one token holding hundreds of objects at the same instant
        (measured: 1 of 4 processes starting together, 100 keys), and once listed no token at
        all to a process starting beside three others: both are tried again.

        Raises:
            TokenError: the token still cannot be opened after `attempts` tries.
        """
        os.environ.update(self.env())
        for attempt in range(1, attempts + 1):
            try:
                return Token.open(self.module_path, label=self.label, pin=self.pin)
            except TokenError as e:
                transient = "GeneralError" in str(e) or "tokens present: none" in str(e)
                if attempt == attempts or not transient:
                    raise
                log.warning("token login failed (%s); trying again", e)
                time.sleep(0.2 * attempt + random.random() * 0.3)  # noqa: S311 (jitter)
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class Fleet:
    """What `provision_fleet` made.

    Attributes:
        province: the province: CA, CRL, token store, server identity, broker files.
        token: the shared signing token.
        appliances: the appliances, in order.
        database_url: the repository (migrated, every appliance registered).
    """

    province: Province
    token: TokenAccess
    appliances: tuple[Appliance, ...]
    database_url: str

    @property
    def workdir(self) -> Path:
        """The fleet's folder."""
        return self.province.workdir

    @property
    def ca_file(self) -> Path:
        """The provincial CA certificate (trust root of the broker, server and devices)."""
        return self.province.ca_file

    @property
    def crl_path(self) -> Path:
        """The CA's current CRL (nothing revoked)."""
        return self.province.crl_path

    @property
    def broker_files(self) -> BrokerFiles:
        """The broker's files (`harness.broker.Broker` runs them)."""
        return self.province.broker_files

    @property
    def server_dir(self) -> Path:
        """The server's folder: MQTT identity, data_dir (blobs, SQLite), configs, logs."""
        return self.province.server_dir

    @property
    def server_data_dir(self) -> Path:
        """The server's data_dir (blob store)."""
        return self.server_dir / "data"

    def edge_settings(
        self, appliance: Appliance, broker_host: str, broker_port: int, **extra: Any
    ) -> EdgeSettings:
        """The appliance's settings for a broker at `broker_host:broker_port`.

        Args:
            extra: further `EdgeSettings` keys (e.g. `ack_timeout_s`).
        """
        return EdgeSettings(
            **self.province.edge_config(
                appliance, broker_host=broker_host, broker_port=broker_port, **extra
            )
        )

    def write_edge_config(
        self, appliance: Appliance, broker_host: str, broker_port: int, **extra: Any
    ) -> Path:
        """Write the appliance's `edge.toml` (for `sohoa edge sync --config`) and return it."""
        values = self.province.edge_config(
            appliance, broker_host=broker_host, broker_port=broker_port, **extra
        )
        EdgeSettings(**values)  # refuse a bad key here, not in a child process
        return write_config(appliance.config_file, values)

    def write_server_config(
        self,
        broker_host: str,
        broker_port: int,
        *,
        api_port: int,
        name: str = "server.toml",
        **extra: Any,
    ) -> Path:
        """Write a server TOML (for `sohoa server run|ingest --config`) and return it.

        Long-term-validation copies are off unless `extra` turns them on (`ltv = true`): they
        are made after the ack and are no part of ingest.
        """
        values = self.province.server_config(
            database_url=self.database_url,
            data_dir=self.server_data_dir,
            broker_host=broker_host,
            broker_port=broker_port,
            api_port=api_port,
            **{"ltv": False, **extra},
        )
        return write_config(self.server_dir / name, values)


def provision_fleet(
    workdir: Path,
    devices: int,
    *,
    database_url: str | None = None,
    prefix: str = "fleet",
) -> Fleet:
    """Provision a province (CA, token, broker's and server's files) with `devices` appliances
    enrolled, and a migrated repository with every appliance registered.

    Args:
        workdir: the fleet's folder (made if missing).
        devices: how many appliances.
        database_url: the repository (default: SQLite in the server's data_dir).
        prefix: the appliances' ids are `{prefix}-001`, `{prefix}-002`, ...

    Raises:
        ProvisioningError, EdgeError, ServerError: a step failed (message says which).
    """
    province = provision_province(
        workdir,
        ca_name="Sohoa Fleet Provincial CA",
        token_label=TOKEN_LABEL,
        unit=UNIT,
        location=LOCATION,
    )
    soft = province.softhsm
    access = TokenAccess(soft.module_path, soft.conf_path, TOKEN_LABEL, province.user_pin)
    appliances = []
    with access.open() as token:
        for number in range(1, devices + 1):
            device_id = f"{prefix}-{number:03d}"
            identity = province.enroll(
                token,
                device_id,
                number.to_bytes(2, "big"),
                workdir / "appliances" / device_id,
                label=f"signing-{device_id}",
            )
            appliances.append(
                Appliance(
                    identity.device_id, identity.key_id, identity.signing_cert_sha256, identity.home
                )
            )

    server_data = province.server_dir / "data"
    server_data.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{server_data / 'repository.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        with Session(engine) as session:
            for appliance in appliances:
                register_device(session, appliance.device_id, UNIT, appliance.signing_cert_sha256)
            session.commit()
    finally:
        engine.dispose()
    return Fleet(province=province, token=access, appliances=tuple(appliances), database_url=url)
