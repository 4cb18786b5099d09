"""The certificates the server's CA issued to each device (`DeviceCertificate`): recorded at
enrollment and at each renewal, read by revocation (what to revoke), renewal (what to
re-certify) and ingest (which signing certificates a device's results may carry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlmodel import Session, col, select

from server.models import DeviceCertificate


class Purpose(StrEnum):
    """What a device certificate is for."""

    SIGNING = "signing"
    """The document-signing key on the token."""
    TRANSPORT = "transport"
    """The MQTT TLS client key."""


def record(
    session: Session, device_id: str, purpose: Purpose, cert: x509.Certificate, now: dt.datetime
) -> DeviceCertificate:
    """Add `cert` to the device's certificates (not committed: the caller commits it with the
    enrollment or renewal it belongs to)."""
    row = DeviceCertificate(
        serial=f"{cert.serial_number:x}",
        device_id=device_id,
        purpose=purpose.value,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
        issued_at=now,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
    session.add(row)
    return row


def of_device(session: Session, device_id: str) -> Sequence[DeviceCertificate]:
    """The device's certificates, newest first."""
    return session.exec(
        select(DeviceCertificate)
        .where(col(DeviceCertificate.device_id) == device_id)
        .order_by(col(DeviceCertificate.issued_at).desc(), col(DeviceCertificate.serial))
    ).all()


def latest(session: Session, device_id: str, purpose: Purpose) -> DeviceCertificate | None:
    """The device's newest certificate for `purpose`, if it has one."""
    return next((c for c in of_device(session, device_id) if c.purpose == purpose.value), None)


def signs_for(session: Session, device_id: str, sha256: str, now: dt.datetime) -> bool:
    """Whether `sha256` is a signing certificate issued to `device_id` and not expired: a
    result signed before a renewal, and received after it, carries the earlier one."""
    found = session.exec(
        select(DeviceCertificate).where(
            col(DeviceCertificate.device_id) == device_id,
            col(DeviceCertificate.purpose) == Purpose.SIGNING.value,
            col(DeviceCertificate.sha256) == sha256.lower(),
            col(DeviceCertificate.not_after) > now,
        )
    ).first()
    return found is not None


def certificate(row: DeviceCertificate) -> x509.Certificate:
    """The row's certificate."""
    return x509.load_pem_x509_certificate(row.pem.encode())
