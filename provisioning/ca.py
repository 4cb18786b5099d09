"""The provincial certificate authority: makes the CA and issues every certificate the system uses.

Profiles (RFC 5280 key usages):
- document signing: a device's token key; digitalSignature + nonRepudiation (contentCommitment).
- TLS client: the sync agent's transport key; digitalSignature, extended key usage clientAuth.
- TLS server: the broker; digitalSignature + keyEncipherment, serverAuth, names in subjectAltName.

Every device certificate names its `device_id` as the subject's commonName, so that the broker
(`use_identity_as_username`) and the server read the same identity. Keys here are EC P-256.

Revocation (RFC 5280 section 5): the CA folder keeps the list of revoked certificates
(`revocations.json`, the CA's own record) beside its key; `revoke_certificate` adds one and
`publish_crl` writes a fresh CRL (PEM, `crl.pem` by default) signed by the CA, numbered one above
the last. The same file serves the broker (`crlfile`) and the server (`crl_path`), which re-reads
it when it changes. A CRL is valid until its nextUpdate: publish again before then (a daily timer),
or the server stops accepting results until it has a current one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol.errors import TopicError
from protocol.topics import validate_device_id
from provisioning.errors import CertificateError
from support.files import write_atomic

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CRL_FILE = "crl.pem"
"""Where `publish_crl` writes the CA's CRL unless told otherwise (in the CA folder)."""
REVOCATIONS_FILE = "revocations.json"
"""The CA's record of what it revoked, from which every CRL is made."""
CLOCK_SKEW = dt.timedelta(minutes=5)
CRL_NEXT_UPDATE_DAYS = 7
"""How long a published CRL stays current by default."""


class RevocationReason(Enum):
    """Why a certificate was revoked (RFC 5280 section 5.3.1 CRLReason), values as RFC 5280 names
    them."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"

    @property
    def flag(self) -> x509.ReasonFlags:
        """The same reason as `cryptography` names it."""
        return x509.ReasonFlags(self.value)


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate, as the CA records it.

    Attributes:
        serial: the certificate's serial number.
        revoked_at: when it was revoked (UTC).
        reason: why.
        common_name: the certificate's subject commonName (a device_id or host), for people
            reading the list; never personal data.
    """

    serial: int
    revoked_at: dt.datetime
    reason: RevocationReason = RevocationReason.UNSPECIFIED
    common_name: str | None = None


class Profile(Enum):
    """What an issued certificate may be used for."""

    DOCUMENT_SIGNING = "document-signing"
    TLS_CLIENT = "tls-client"
    TLS_SERVER = "tls-server"


def check_device_id(device_id: str) -> str:
    """Return `device_id` if a device may be enrolled under it, else raise CertificateError.

    A device's certificates name it as their commonName, which the broker takes as the MQTT
    username its ACL is matched against: a reserved name (the server's identity) or one holding
    an MQTT wildcard or a `$` would give the device rights that are not its own.
    """
    try:
        return validate_device_id(device_id)
    except TopicError as e:
        raise CertificateError(f"no certificate issued: {e}") from e


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
            CertificateError: `device_id` is not a valid device id or is reserved (the server's
                identity `sohoa-server`, a name with an MQTT wildcard or a `$`: see
                `protocol.topics`), or the CSR's signature does not verify (not made with its
                key).
        """
        check_device_id(device_id)
        if not csr.is_signature_valid:
            raise CertificateError(
                f"the CSR for {device_id} is not signed by its own key: "
                "make a new one on the device"
            )
        return self.issue(csr.public_key(), device_id, profile, unit=unit, valid_days=valid_days)

    def crl(
        self,
        revoked: Iterable[int | Revocation],
        *,
        next_update_days: int = CRL_NEXT_UPDATE_DAYS,
        number: int | None = None,
    ) -> x509.CertificateRevocationList:
        """Make a CRL listing `revoked`, signed by the CA (RFC 5280 section 5).

        Args:
            revoked: the revoked certificates: `Revocation`s, or bare serial numbers (revoked
                now, reason unspecified).
            next_update_days: how long the CRL stays current.
            number: its cRLNumber; default: the current Unix time, which only grows.
        """
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + dt.timedelta(days=next_update_days))
            .add_extension(x509.CRLNumber(number or int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        for item in revoked:
            entry = item if isinstance(item, Revocation) else Revocation(item, now - CLOCK_SKEW)
            revoked_cert = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
            )
            # RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent.
            if entry.reason is not RevocationReason.UNSPECIFIED:
                revoked_cert = revoked_cert.add_extension(
                    x509.CRLReason(entry.reason.flag), critical=False
                )
            builder = builder.add_revoked_certificate(revoked_cert.build())
        return builder.sign(self.key, hashes.SHA256())

    def issued(self, cert: x509.Certificate) -> bool:
        """Whether this CA issued `cert` (its issuer name and signature match this CA)."""
        if cert.issuer != self.cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


# --- revocation ----------------------------------------------------------------------------------


def load_revocations(ca_dir: Path) -> list[Revocation]:
    """The certificates the CA in `ca_dir` has revoked (none if it never revoked one).

    Raises:
        CertificateError: the record exists but cannot be read.
    """
    return _read_record(ca_dir)[1]


def revoke_certificate(
    ca_dir: Path,
    cert: x509.Certificate,
    reason: RevocationReason = RevocationReason.UNSPECIFIED,
    *,
    at: dt.datetime | None = None,
) -> Revocation:
    """Record that `cert` is revoked, in the CA folder `ca_dir` (then `publish_crl`).

    Revoking an already revoked certificate changes nothing and returns its first revocation.

    Args:
        ca_dir: the CA's folder (`CertificateAuthority.save`).
        cert: the certificate to revoke; it must have been issued by this CA.
        reason: why (kept in the CRL).
        at: when it was revoked (default: now).

    Raises:
        CertificateError: the CA cannot be loaded, did not issue `cert`, or the record cannot be
            read or written.
    """
    ca = CertificateAuthority.load(ca_dir)
    if not ca.issued(cert):
        raise CertificateError(
            f"certificate {cert.serial_number:x} ({cert.subject.rfc4514_string()}) was not "
            f"issued by the CA in {ca_dir}: revoke it at the CA that issued it"
        )
    number, revocations = _read_record(ca_dir)
    for known in revocations:
        if known.serial == cert.serial_number:
            return known
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    revocation = Revocation(
        serial=cert.serial_number,
        revoked_at=(at or _now()).astimezone(dt.UTC),
        reason=reason,
        common_name=str(names[0].value) if names else None,
    )
    _write_record(ca_dir, number, [*revocations, revocation])
    return revocation


def publish_crl(
    ca_dir: Path, out: Path | None = None, *, next_update_days: int = CRL_NEXT_UPDATE_DAYS
) -> Path:
    """Write a fresh CRL of the CA in `ca_dir` (PEM, atomically) and return where it went.

    Each CRL is numbered one above the last one published from this folder.

    Args:
        ca_dir: the CA's folder.
        out: where to write it (default `ca_dir/crl.pem`).
        next_update_days: how long it stays current; publish again before then.

    Raises:
        CertificateError: the CA or its record cannot be read, or the CRL cannot be written.
    """
    if next_update_days < 1:
        raise CertificateError("a CRL must stay current for at least one day (--days)")
    ca = CertificateAuthority.load(ca_dir)
    number, revocations = _read_record(ca_dir)
    crl = ca.crl(revocations, next_update_days=next_update_days, number=number + 1)
    _write_record(ca_dir, number + 1, revocations)
    target = out or ca_dir / CRL_FILE
    try:
        write_atomic(target, crl.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except OSError as e:
        raise CertificateError(f"cannot write the CRL to {target}: {e.strerror}") from e
    return target


def _read_record(ca_dir: Path) -> tuple[int, list[Revocation]]:
    """(last published cRLNumber, revocations) from the CA folder's record."""
    path = ca_dir / REVOCATIONS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0, []
    except (OSError, ValueError) as e:
        raise CertificateError(f"cannot read the revocation record {path}: {e}") from e
    try:
        revocations = [
            Revocation(
                serial=int(item["serial"], 16),
                revoked_at=dt.datetime.fromisoformat(item["revoked_at"]),
                reason=RevocationReason(item["reason"]),
                common_name=item.get("common_name"),
            )
            for item in raw["revoked"]
        ]
        return int(raw["crl_number"]), revocations
    except (KeyError, TypeError, ValueError) as e:
        raise CertificateError(
            f"the revocation record {path} is damaged ({type(e).__name__}: {e}): restore it "
            "from the CA's backup"
        ) from e


def _write_record(ca_dir: Path, crl_number: int, revocations: Sequence[Revocation]) -> None:
    record = {
        "crl_number": crl_number,
        "revoked": [
            {
                "serial": f"{r.serial:x}",
                "revoked_at": r.revoked_at.isoformat(),
                "reason": r.reason.value,
                "common_name": r.common_name,
            }
            for r in revocations
        ],
    }
    path = ca_dir / REVOCATIONS_FILE
    try:
        write_atomic(path, (json.dumps(record, indent=2) + "\n").encode(), mode=0o600)
    except OSError as e:
        raise CertificateError(f"cannot write the revocation record {path}: {e.strerror}") from e


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
