"""Enrolling appliances on the server: issuing one-time codes and redeeming them into
certificates (the exchange and the code's form are `protocol.enrollment`'s).

The CA's key is read from `ca_dir` on this machine only when a code is redeemed; it is never
sent anywhere. A redemption is all or nothing: the code is claimed, the device registered and
its certificates' serial numbers recorded in one transaction, and the certificates are only
sent once that transaction committed. Every refusal of a code (unknown, used, expired) is
counted against the caller's address (`repository.enrollments.count_failure`), so codes cannot
be guessed even slowly; a refusal for a bad CSR is not counted, as the code was right.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlmodel import Session, select

from protocol.enrollment import (
    SECRET_BYTES,
    Enrolled,
    EnrollmentCode,
    EnrollRequest,
    decode_enrolled,
    enrollment_uri,
    new_code,
    secret_sha256,
    spki_der,
)
from protocol.errors import TopicError
from protocol.topics import validate_device_id
from provisioning.ca import CertificateAuthority, Profile
from provisioning.errors import ProvisioningError
from server.catalogue_files import COMMUNE_KINDS, DISTRICT_KINDS, PROCEDURE_COLUMNS
from server.config import ServerSettings
from server.errors import EnrollmentError, RepositoryError
from server.models import DeviceStatus, Enrollment, Procedure, utc_now
from server.repository import device_certificates, devices, enrollments, units
from server.repository.device_certificates import Purpose

log = logging.getLogger(__name__)

MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class IssuedCode:
    """A code just issued: shown once, never stored in clear.

    Attributes:
        device_id: the device it enrolls.
        unit: the unit's name.
        unit_code: the unit's code, when the unit tree knows it.
        code: the code (its `text()` is what the admin hands over).
        server_url: the address the appliance reaches the API at.
        uri: what the QR code holds (`sohoa://enroll?server=…&code=…`).
        expires_at: when it stops working.
    """

    device_id: str
    unit: str
    unit_code: str | None
    code: EnrollmentCode
    server_url: str
    uri: str
    expires_at: dt.datetime


def server_key_der(cert_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo (DER) of the first certificate in a PEM file: what a code pins.

    Raises:
        EnrollmentError: not a PEM certificate.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        raise EnrollmentError(f"not a PEM certificate: {e}", status=400) from e
    return spki_der(cert.public_key())


def pinned_server_key(settings: ServerSettings, override: Path | None = None) -> bytes:
    """The key (SubjectPublicKeyInfo, DER) enrollment codes pin: of `override`, else of the
    settings' `pinned_cert_file`.

    Raises:
        EnrollmentError (503): none is configured, or it cannot be read.
    """
    path = override or settings.pinned_cert_file
    if path is None:
        raise EnrollmentError(
            "the code must pin the server's HTTPS key: set api_tls_cert_file (and "
            "api_tls_key_file), or enroll_server_cert_file behind a TLS proxy",
            status=503,
        )
    try:
        return server_key_der(path.read_bytes())
    except OSError as e:
        raise EnrollmentError(f"cannot read the server's certificate {path}: {e}", 503) from e


def issue_code(
    session: Session,
    settings: ServerSettings,
    device_id: str,
    unit: str,
    *,
    server_key: bytes,
    created_by: str,
    server_url: str | None = None,
    now: dt.datetime | None = None,
) -> IssuedCode:
    """Issue a one-time code enrolling `device_id` for `unit`, valid `enroll_code_ttl_s`; a
    code issued before for the same device and not used stops working.

    Args:
        session: an open session.
        settings: the server's settings.
        device_id: the id the appliance will be registered under.
        unit: the unit: its code or its People's Committee's name (`units.resolve_unit`).
        server_key: the SubjectPublicKeyInfo (DER) the appliance will find at `server_url`.
        created_by: who issued it (an account's name, or `cli:<user>`).
        server_url: the address put into the QR code (default `settings.enrollment_url`).
        now: the time (tests); default the clock.

    Raises:
        EnrollmentError: the device id is invalid, or already registered (revoke it, or use
            another id), or the unit is unknown.
    """
    now = now or utc_now()
    try:
        validate_device_id(device_id)
    except TopicError as e:
        raise EnrollmentError(str(e), status=400) from e
    if (existing := devices.get_device(session, device_id)) is not None:
        state = "was revoked" if existing.status is DeviceStatus.REVOKED else "is enrolled"
        raise EnrollmentError(
            f"device {device_id} {state} already: enroll the appliance under a new device id",
            status=409,
        )
    try:
        unit_code, unit_name = units.resolve_unit(session, unit, units.today())
    except RepositoryError as e:
        raise EnrollmentError(str(e), status=400) from e
    code = new_code(secrets.token_bytes(SECRET_BYTES), server_key)
    row = Enrollment(
        secret_sha256=code.secret_sha256(),
        device_id=device_id,
        unit=unit_name,
        unit_code=unit_code,
        created_by=created_by,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.enroll_code_ttl_s),
    )
    enrollments.add_code(session, row)
    url = server_url or settings.enrollment_url
    return IssuedCode(
        device_id, unit_name, unit_code, code, url, enrollment_uri(url, code), row.expires_at
    )


def redeem(
    session: Session,
    settings: ServerSettings,
    request: EnrollRequest,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> Enrolled:
    """Enroll the appliance a code was issued for: issue its two certificates, register it,
    and give its settings.

    Args:
        session: an open session.
        settings: the server's settings (`ca_dir`, the broker appliances reach, limits).
        request: the appliance's request, decoded (`protocol.enrollment.decode_request`).
        source: the caller's address, for the rate limit and the log.
        now: the time (tests); default the clock.

    Raises:
        EnrollmentError: the server does not enroll (503), the address is locked out (429),
            the code is unknown, used or expired, or for another unit (403), a CSR is not
            acceptable (400), or the device cannot be registered (409).
    """
    now = now or utc_now()
    ca = load_ca(settings)
    policy = enrollments.FailurePolicy(
        settings.enroll_max_failures, settings.enroll_window_s, settings.enroll_lockout_s
    )
    if (until := enrollments.locked_until(session, source, now)) is not None:
        raise locked_error(until, now)
    row = enrollments.find_code(session, secret_sha256(request.code))
    signing_csr, transport_csr = _csrs(request)
    keys = _keys_sha256(signing_csr, transport_csr)
    if (
        row is not None
        and row.used_at is not None
        and row.keys_sha256 == keys
        and row.answer
        and now < row.expires_at
    ):
        # The same appliance asking again (its answer was lost): the same certificates.
        log.info("enrollment of %s answered again (same keys)", row.device_id)
        return _stored_answer(row.answer)
    if problem := _code_problem(row, now):
        until = enrollments.count_failure(session, source, now, policy)
        log.warning("enrollment refused from %s: %s", source, problem)
        if until is not None:
            raise locked_error(until, now)
        raise EnrollmentError(problem)
    assert row is not None  # _code_problem said so
    if request.unit is not None and row.unit_code is not None and request.unit != row.unit_code:
        raise EnrollmentError(
            f"this code enrolls an appliance of unit {row.unit_code} ({row.unit}), and this "
            f"appliance is set up for unit {request.unit}: ask for a code of its own unit"
        )
    signing, transport = _issue(ca, row, signing_csr, transport_csr, settings.device_cert_days)
    answer = Enrolled(
        device_id=row.device_id,
        unit_code=row.unit_code,
        unit_name=row.unit,
        signing_cert=_pem(signing),
        transport_cert=_pem(transport),
        ca_certs=(_pem(ca.cert),),
        broker_host=settings.device_broker_host or settings.broker_host,
        broker_port=settings.device_broker_port,
        max_chunk_bytes=settings.max_chunk_bytes,
        procedures_csv=procedures_csv(session, row.unit_code),
    )
    claimed = Enrollment(
        secret_sha256=row.secret_sha256,
        device_id=row.device_id,
        unit=row.unit,
        created_by=row.created_by,
        expires_at=row.expires_at,
        used_at=now,
        used_from=source[:64],
        keys_sha256=keys,
        answer=json.dumps(answer.to_json(), ensure_ascii=False),
    )
    if not enrollments.claim_code(session, claimed):
        session.rollback()
        raise EnrollmentError("this enrollment code was used meanwhile: ask for a new one")
    try:
        # Commits the claim with the certificates and the registration: all or nothing.
        register_issued(session, row.device_id, row.unit, row.unit_code, signing, transport, now)
    except RepositoryError as e:
        raise EnrollmentError(f"device {row.device_id} not enrolled: {e}", status=409) from e
    log.info("device %s enrolled from %s (unit %s)", row.device_id, source, row.unit_code)
    return answer


def register_issued(
    session: Session,
    device_id: str,
    unit: str,
    unit_code: str | None,
    signing: x509.Certificate,
    transport: x509.Certificate,
    now: dt.datetime,
) -> None:
    """Record the two certificates just issued to `device_id` and register `signing` as its
    signer, committed together with whatever the session holds (an enrollment's claimed code):
    all or nothing.

    Raises:
        RepositoryError: the registration was refused (the session is rolled back).
    """
    device_certificates.record(session, device_id, Purpose.SIGNING, signing, now)
    device_certificates.record(session, device_id, Purpose.TRANSPORT, transport, now)
    try:
        devices.register_device(
            session,
            device_id,
            unit,
            signing.fingerprint(hashes.SHA256()).hex(),
            unit_code=unit_code,
            cert_not_after=signing.not_valid_after_utc,
        )
    except RepositoryError:
        session.rollback()
        raise


def procedures_csv(session: Session, unit_code: str | None) -> str:
    """The procedure catalogue an appliance of `unit_code` needs, as the server's procedures
    CSV: the procedures of its level (a commune's, a district's, the province's), or all of
    them when the unit is not in the unit tree."""
    level = _level(session, unit_code)
    rows: Sequence[Procedure] = session.exec(select(Procedure).order_by(Procedure.code)).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PROCEDURE_COLUMNS)
    for p in rows:
        if level is None or p.level == level:
            status = "confirmed" if p.confirmed else "unconfirmed"
            types = ";".join(p.result_types)
            writer.writerow([p.code, p.name, p.level, p.field or "", types, status, p.note or ""])
    return out.getvalue()


def _level(session: Session, unit_code: str | None) -> str | None:
    if unit_code is None:
        return None
    version = units.version_at(session, unit_code, units.today())
    if version is None:
        return None
    if version.kind in COMMUNE_KINDS:
        return "xa"
    return "huyen" if version.kind in DISTRICT_KINDS else "tinh"


def _code_problem(row: Enrollment | None, now: dt.datetime) -> str | None:
    if row is None:
        return "no such enrollment code: check it, or ask the province's admin for a new one"
    if row.used_at is not None:
        return (
            f"this enrollment code was used on {row.used_at:%Y-%m-%d %H:%M} UTC: a code works "
            "once; ask the province's admin for a new one"
        )
    if row.expires_at <= now:
        return (
            f"this enrollment code expired on {row.expires_at:%Y-%m-%d %H:%M} UTC: ask the "
            "province's admin for a new one"
        )
    return None


def _csrs(
    request: EnrollRequest,
) -> tuple[x509.CertificateSigningRequest, x509.CertificateSigningRequest]:
    signing = check_csr(request.signing_csr, "signing_csr")
    transport = check_csr(request.transport_csr, "transport_csr")
    if spki_der(signing.public_key()) == spki_der(transport.public_key()):
        raise EnrollmentError(
            "the signing and transport CSRs carry the same key: the document-signing key must "
            "be the token's own, apart from the transport key",
            status=400,
        )
    return signing, transport


def check_csr(pem: str, name: str) -> x509.CertificateSigningRequest:
    """The CSR in `pem` (member `name` of a request), if its signature verifies and its key is
    of a kind the CA certifies.

    Raises:
        EnrollmentError (400): it is not.
    """
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        key = csr.public_key()
        valid = csr.is_signature_valid
    except (ValueError, TypeError) as e:
        raise EnrollmentError(f"{name}: not a readable CSR ({e})", status=400) from e
    if not valid:
        raise EnrollmentError(
            f"{name}: its signature does not verify with its own key (tampered with, or not "
            "made with that key): make a new one on the appliance",
            status=400,
        )
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise EnrollmentError(f"{name}: an RSA key needs {MIN_RSA_BITS} bits", status=400)
    elif not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in {
        "secp256r1",
        "secp384r1",
    }:
        raise EnrollmentError(
            f"{name}: the key must be EC P-256, EC P-384 or RSA ({MIN_RSA_BITS} bits or more)",
            status=400,
        )
    return csr


def _keys_sha256(
    signing: x509.CertificateSigningRequest, transport: x509.CertificateSigningRequest
) -> str:
    return hashlib.sha256(
        spki_der(signing.public_key()) + spki_der(transport.public_key())
    ).hexdigest()


def load_ca(settings: ServerSettings) -> CertificateAuthority:
    """The CA this server issues appliances' certificates with.

    Raises:
        EnrollmentError (503): the server has none (`ca_dir` unset), or it cannot be read.
    """
    if settings.ca_dir is None:
        raise EnrollmentError(
            "this server does not enroll appliances: its ca_dir setting is not set", status=503
        )
    try:
        return CertificateAuthority.load(settings.ca_dir)
    except ProvisioningError as e:
        log.error("enrollment impossible: the CA in %s cannot be loaded: %s", settings.ca_dir, e)
        raise EnrollmentError(
            "the server cannot reach its CA right now: tell the province's admin", status=503
        ) from e


def _issue(
    ca: CertificateAuthority,
    row: Enrollment,
    signing_csr: x509.CertificateSigningRequest,
    transport_csr: x509.CertificateSigningRequest,
    days: int,
) -> tuple[x509.Certificate, x509.Certificate]:
    try:
        return (
            ca.issue_from_csr(
                signing_csr, row.device_id, Profile.DOCUMENT_SIGNING, unit=row.unit, valid_days=days
            ),
            ca.issue_from_csr(
                transport_csr, row.device_id, Profile.TLS_CLIENT, unit=row.unit, valid_days=days
            ),
        )
    except ProvisioningError as e:
        raise EnrollmentError(str(e), status=400) from e


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _stored_answer(text: str) -> Enrolled:
    return decode_enrolled(json.loads(text))


def locked_error(until: dt.datetime, now: dt.datetime) -> EnrollmentError:
    """The refusal of an address locked out until `until` (429, with when to try again)."""
    wait = max(1, int((until - now).total_seconds()))
    return EnrollmentError(
        f"too many refused enrollments from this address: try again in {wait // 60 + 1} min",
        status=429,
        retry_after_s=wait,
    )
