"""The provincial certificate authority: makes the CA and issues every certificate the system uses.

Profiles (RFC 5280 key usages):
- document signing: a device's token key; digitalSignature + nonRepudiation (contentCommitment).
- TLS client: the sync agent's transport key; digitalSignature, extended key usage clientAuth.
- TLS server: the broker; digitalSignature + keyEncipherment, serverAuth, names in subjectAltName.

Every device certificate names its `device_id` as the subject's commonName, so that the broker
(`use_identity_as_username`) and the server read the same identity. Keys here are EC P-256.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.errors import CertificateError
from support.files import write_atomic

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CLOCK_SKEW = dt.timedelta(minutes=5)


class Profile(Enum):
    """What an issued certificate may be used for."""

    DOCUMENT_SIGNING = "document-signing"
    TLS_CLIENT = "tls-client"
    TLS_SERVER = "tls-server"


def new_key() -> ec.EllipticCurvePrivateKey:
    """Make an EC P-256 private key in memory (for the CA, the broker and transport keys)."""
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Write a key as unencrypted PKCS#8 PEM, readable by its owner only (mode 0600), atomically."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(path, data, mode=0o600)


def write_certificate(cert: x509.Certificate, path: Path) -> None:
    """Write a certificate as PEM, atomically."""
    write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def read_certificate(path: Path) -> x509.Certificate:
    """Read a PEM or DER certificate.

    Raises:
        CertificateError: the file is missing or is not a certificate.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CertificateError(f"cannot read certificate {path}: {e.strerror}") from e
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise CertificateError(f"{path} is not a certificate (PEM or DER): {e}") from e


@dataclass(frozen=True)
class CertificateAuthority:
    """The CA's certificate and private key, and the certificates it issues."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(
        cls, common_name: str = "Sohoa Provincial CA", *, valid_days: int = 3650
    ) -> CertificateAuthority:
        """Make a new self-signed CA (EC P-256)."""
        key = new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sohoa"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """Load a CA saved by `save` from `directory`.

        Raises:
            CertificateError: a file is missing or unreadable.
        """
        cert = read_certificate(directory / CA_CERT_FILE)
        key_path = directory / CA_KEY_FILE
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as e:
            raise CertificateError(f"cannot read the CA key {key_path}: {e}") from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{key_path} is not an EC key")
        return cls(cert=cert, key=key)

    def save(self, directory: Path) -> Path:
        """Write the CA certificate and key into `directory`; return the certificate's path."""
        directory.mkdir(parents=True, exist_ok=True)
        write_private_key(self.key, directory / CA_KEY_FILE)
        write_certificate(self.cert, directory / CA_CERT_FILE)
        return directory / CA_CERT_FILE

    def issue(
        self,
        public_key: CertificatePublicKeyTypes,
        common_name: str,
        profile: Profile,
        *,
        unit: str | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        valid_days: int = 825,
        not_before: dt.datetime | None = None,
    ) -> x509.Certificate:
        """Issue a certificate for `public_key` naming `common_name` (a device_id or a host).

        Args:
            public_key: the subject's public key (from a CSR or a key made here).
            common_name: the subject's commonName; a device's `device_id`.
            profile: what the certificate may be used for.
            unit: the administrative unit the device belongs to, put in organizationalUnitName.
            dns_names: subjectAltName DNS names (TLS server).
            ip_addresses: subjectAltName IP addresses (TLS server).
            valid_days: validity from `not_before`.
            not_before: start of validity (default: now, less a few minutes of clock skew).
        """
        attrs = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sohoa"),
        ]
        if unit:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        start = not_before or (_now() - CLOCK_SKEW)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(profile), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if profile is Profile.TLS_CLIENT:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        if profile is Profile.TLS_SERVER:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
            alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
            if not alt:
                raise CertificateError("a TLS server certificate needs a DNS name or IP address")
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_from_csr(
        self,
        csr: x509.CertificateSigningRequest,
        device_id: str,
        profile: Profile,
        *,
        unit: str | None = None,
        valid_days: int = 825,
    ) -> x509.Certificate:
        """Issue a device certificate from its CSR after checking the CSR's own signature.

        The subject is set by the CA (`device_id`, `unit`), whatever the CSR asked for.

        Raises:
            CertificateError: the CSR's signature does not verify (not made with its key).
        """
        if not csr.is_signature_valid:
            raise CertificateError(
                f"the CSR for {device_id} is not signed by its own key: "
                "make a new one on the device"
            )
        return self.issue(csr.public_key(), device_id, profile, unit=unit, valid_days=valid_days)

    def crl(
        self, revoked_serials: Iterable[int], *, next_update_days: int = 7
    ) -> x509.CertificateRevocationList:
        """Make a CRL listing `revoked_serials`, signed by the CA."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + dt.timedelta(days=next_update_days))
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - CLOCK_SKEW)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


def _key_usage(profile: Profile) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=profile is Profile.DOCUMENT_SIGNING,
        key_encipherment=profile is Profile.TLS_SERVER,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
