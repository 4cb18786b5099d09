"""A province on one machine, provisioned once: everything the demo and the load-test harness
have before their first result arrives, made the way the province makes it.

`provision_province` writes into a work folder:

    ca/       the provincial CA (certificate and key) and its CRL (nothing revoked yet)
    server-ca/ the server-clients CA: it issues the server's MQTT identity and nothing else,
              and only its certificates get into the broker's server listener
    token/    a private SoftHSM2 store with one initialised token (random PINs)
    server/   the server's MQTT client identity (`mqtt.pem`, `mqtt-key.pem`, from server-ca/)
    broker/   Mosquitto's files (`provisioning.broker.prepare_broker`)

`Province.enroll` then enrolls an appliance as enrollment does: its document-signing key is
generated on the token (it never leaves it), the token signs its CSR, the CA issues the
certificate, which is stored on the token beside the key and as `signing.pem` in the appliance's
folder; its transport (TLS client) key and certificate are made in that folder too.
`Province.server_config` and `Province.edge_config` give the settings of the server and of an
appliance of this province (`write_config` writes them as TOML).

Left to the caller, because provisioning imports neither `edge` nor `server`: opening the token
(`edge.signing.token.Token`, once `softhsm.env()` is in the environment: SoftHSM reads it when
its module is first loaded) and registering the appliances with the server's repository
(`server.repository.devices.register_device`); `cli.demo` and `harness.fleet` do both.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from protocol.topics import SERVER_IDENTITY
from provisioning.broker import BrokerFiles, prepare_broker
from provisioning.ca import (
    CertificateAuthority,
    Profile,
    check_device_id,
    new_key,
    publish_crl,
    write_certificate,
    write_private_key,
)
from provisioning.errors import CertificateError
from provisioning.softhsm import SoftHsmSetup, init_token, write_softhsm_conf
from support.settings import toml_text

SIGNING_KEY_LABEL = "document-signing"


class SigningKeyStore(Protocol):
    """What enrollment needs of a token (`edge.signing.token.Token` is one): make a key pair on
    it, a CSR signed by that key, and store the key's certificate beside it."""

    def generate_signing_key(self, key_id: bytes, label: str) -> None:
        """Generate a document-signing key pair stored under `key_id`."""

    def make_csr(self, key_id: bytes, common_name: str) -> x509.CertificateSigningRequest:
        """A CSR for key `key_id` naming `common_name`, signed by that key."""

    def import_certificate(self, cert: x509.Certificate, key_id: bytes, label: str) -> None:
        """Store `cert` as the certificate of key pair `key_id`."""


@dataclass(frozen=True)
class ApplianceIdentity:
    """What enrollment gave an appliance.

    Attributes:
        device_id: its id (its certificates' commonName, its MQTT username).
        key_id: the CKA_ID of its document-signing key on the token.
        signing_cert_sha256: SHA-256 hex of its document-signing certificate (what the server
            registers for it).
        home: its folder: certificates, transport key, `data/` (its outbox).
    """

    device_id: str
    key_id: bytes
    signing_cert_sha256: str
    home: Path

    @property
    def signing_cert_file(self) -> Path:
        """Its document-signing certificate (also stored on the token)."""
        return self.home / "signing.pem"

    @property
    def cert_file(self) -> Path:
        """Its transport (TLS client) certificate."""
        return self.home / "transport.pem"

    @property
    def key_file(self) -> Path:
        """Its transport key (0600)."""
        return self.home / "transport-key.pem"

    @property
    def data_dir(self) -> Path:
        """Its `data_dir` setting (the outbox lives inside)."""
        return self.home / "data"


@dataclass(frozen=True)
class Province:
    """What `provision_province` made (paths only: it can be handed to a child process).

    Attributes:
        workdir: the province's folder.
        ca_file: the provincial CA certificate, trust root of the broker, server and appliances.
        crl_path: the CA's current CRL.
        softhsm: the private SoftHSM2 store holding the token.
        token_label: the token's label.
        user_pin: the token's user PIN.
        unit: the administrative unit the appliances belong to.
        location: where they sign (the signature's location).
        broker_files: the broker's files (`provisioning.broker.Mosquitto` runs them).
        server_identity: the commonName of the server's MQTT client certificate.
    """

    workdir: Path
    ca_file: Path
    crl_path: Path
    softhsm: SoftHsmSetup
    token_label: str
    user_pin: str = field(repr=False)
    unit: str
    location: str
    broker_files: BrokerFiles
    server_identity: str = SERVER_IDENTITY

    @property
    def server_dir(self) -> Path:
        """The server's folder (its MQTT identity; callers put its data and configs there)."""
        return self.workdir / "server"

    @property
    def server_ca_dir(self) -> Path:
        """The server-clients CA (certificate and key): it issues the server's MQTT identity."""
        return self.workdir / "server-ca"

    @property
    def server_cert_file(self) -> Path:
        """The server's MQTT client certificate."""
        return self.server_dir / "mqtt.pem"

    @property
    def server_key_file(self) -> Path:
        """The server's MQTT client key (0600)."""
        return self.server_dir / "mqtt-key.pem"

    def enroll(
        self,
        token: SigningKeyStore,
        device_id: str,
        key_id: bytes,
        home: Path,
        *,
        label: str = SIGNING_KEY_LABEL,
    ) -> ApplianceIdentity:
        """Enroll appliance `device_id`: a signing key generated on `token` under `key_id` and
        certified by the CA, and a transport key and certificate, written into `home`.

        Raises:
            ProvisioningError: `device_id` is invalid or reserved (`CertificateError`: the
                server's identity, a name with an MQTT wildcard or a `$`), the CA cannot be
                loaded or a file cannot be written.
            Whatever `token` raises (`edge.errors.TokenError` for `edge.signing.token.Token`).
        """
        # Before anything is made on the token: a refused name leaves nothing behind.
        check_device_id(device_id)
        if device_id == self.server_identity:
            raise CertificateError(
                f"no certificate issued: {device_id!r} is this province's server identity; "
                "enroll the appliance under another name"
            )
        ca = CertificateAuthority.load(self.ca_file.parent)
        token.generate_signing_key(key_id, label=label)
        csr = token.make_csr(key_id, device_id)
        cert = ca.issue_from_csr(csr, device_id, Profile.DOCUMENT_SIGNING, unit=self.unit)
        token.import_certificate(cert, key_id, label=label)
        identity = ApplianceIdentity(
            device_id, key_id, cert.fingerprint(hashes.SHA256()).hex(), home
        )
        write_certificate(cert, identity.signing_cert_file)
        _issue_tls_client(ca, device_id, identity.cert_file, identity.key_file, self.unit)
        return identity

    def server_config(
        self,
        *,
        database_url: str,
        data_dir: Path,
        broker_host: str,
        broker_port: int,
        api_port: int,
        **extra: Any,
    ) -> dict[str, Any]:
        """The settings of this province's server (`server.config.ServerSettings` keys), its API
        on 127.0.0.1:`api_port`; `extra` adds or overrides keys. `broker_port` is the broker's
        server listener (`provisioning.broker.Mosquitto.server_port`), not the devices'."""
        return {
            "database_url": database_url,
            "data_dir": data_dir,
            "broker_host": broker_host,
            "broker_port": broker_port,
            "ca_file": self.ca_file,
            "crl_path": self.crl_path,
            "cert_file": self.server_cert_file,
            "key_file": self.server_key_file,
            "api_host": "127.0.0.1",
            "api_port": api_port,
            **extra,
        }

    def edge_config(
        self, appliance: ApplianceIdentity, *, broker_host: str, broker_port: int, **extra: Any
    ) -> dict[str, Any]:
        """The settings of an appliance of this province (`edge.config.EdgeSettings` keys);
        `extra` adds or overrides keys (e.g. `ack_timeout_s`)."""
        return {
            "device_id": appliance.device_id,
            "data_dir": appliance.data_dir,
            "broker_host": broker_host,
            "broker_port": broker_port,
            "ca_file": self.ca_file,
            "cert_file": appliance.cert_file,
            "key_file": appliance.key_file,
            "pkcs11_module": self.softhsm.module_path,
            "token_label": self.token_label,
            "signing_key_id": appliance.key_id.hex(),
            "organisation": self.unit,
            "location": self.location,
            **extra,
        }


def provision_province(
    workdir: Path,
    *,
    ca_name: str,
    token_label: str,
    unit: str,
    location: str,
    server_identity: str = SERVER_IDENTITY,
) -> Province:
    """Make a province's CA and CRL, its token, the server-clients CA and the server's MQTT
    identity, and the broker's files in `workdir` (made if missing).

    Args:
        workdir: the province's folder.
        ca_name: the CA's commonName.
        token_label: the label of the token the appliances' signing keys go on.
        unit: the administrative unit of the appliances.
        location: where they sign.
        server_identity: the commonName of the server's MQTT client certificate.

    Raises:
        ProvisioningError: a step failed (the message says which and what to do).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir = workdir / "ca"
    ca = CertificateAuthority.create(ca_name)
    ca_file = ca.save(ca_dir)
    crl_path = publish_crl(ca_dir)  # none revoked: the server and the broker check against it
    # The server's MQTT identity comes from a CA of its own, so that the broker's server
    # listener, which lets its clients pick their client ids, takes no device's certificate.
    server_ca = CertificateAuthority.create(f"{ca_name} - server clients")
    server_ca.save(workdir / "server-ca")
    softhsm = write_softhsm_conf(workdir / "token")
    user_pin = secrets.token_hex(4)
    init_token(softhsm, token_label, so_pin=secrets.token_hex(8), user_pin=user_pin)
    province = Province(
        workdir=workdir,
        ca_file=ca_file,
        crl_path=crl_path,
        softhsm=softhsm,
        token_label=token_label,
        user_pin=user_pin,
        unit=unit,
        location=location,
        broker_files=prepare_broker(
            workdir / "broker", ca, server_ca=server_ca, server_identity=server_identity
        ),
        server_identity=server_identity,
    )
    _issue_tls_client(
        server_ca, server_identity, province.server_cert_file, province.server_key_file, unit=None
    )
    return province


def write_config(path: Path, values: Mapping[str, Any]) -> Path:
    """Write `values` as a flat TOML file (strings, paths, numbers, booleans) and return `path`
    (a settings file of a throw-away province: no fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_text(values))
    return path


def _issue_tls_client(
    ca: CertificateAuthority, name: str, cert_file: Path, key_file: Path, unit: str | None
) -> None:
    key = new_key()
    write_private_key(key, key_file)
    write_certificate(ca.issue(key.public_key(), name, Profile.TLS_CLIENT, unit=unit), cert_file)
