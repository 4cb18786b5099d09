"""Renewing an enrolled appliance's certificates before they expire (`POST /api/renew`; the
appliance's side is `edge.renew`, run daily by `sohoa-renew.timer`).

The appliance keeps its identity and its keys: both certificates are issued again for the keys
the CA certified before, with the same device id, so nothing changes on the token and no PIN is
needed. The request is authenticated by its CSR: signed by the transport key this server
certified for the device (`repository.device_certificates`), it proves the caller holds it. A
revoked device, a key that is not the device's, an expired or revoked transport certificate are
refused, and each refusal counts against the caller's address as a refused enrollment does.
The certificates issued are recorded, and the device's registered signer updated, in one
transaction; the earlier signing certificate stays acceptable until it expires, for results
signed before the renewal and received after it.
"""

from __future__ import annotations

import datetime as dt
import logging

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import Session

from protocol.enrollment import Renewed, RenewRequest, spki_der
from provisioning.ca import CertificateAuthority, Profile, load_revocations
from provisioning.errors import ProvisioningError
from server.config import ServerSettings
from server.enrollment import check_csr, load_ca, locked_error, register_issued
from server.errors import EnrollmentError, RepositoryError
from server.models import DeviceStatus, utc_now
from server.repository import device_certificates, devices, enrollments
from server.repository.device_certificates import Purpose

log = logging.getLogger(__name__)


def renew(
    session: Session,
    settings: ServerSettings,
    request: RenewRequest,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> Renewed:
    """Issue the device fresh certificates for its keys (the module's docstring says when).

    Raises:
        EnrollmentError: the server does not enroll (503), the address is locked out (429),
            the device cannot renew (403: unknown, revoked, not its key, expired or revoked
            certificate), the CSR is unreadable (400), or the device has no certificate on
            record (409: registered, not enrolled).
    """
    now = now or utc_now()
    policy = enrollments.FailurePolicy(
        settings.enroll_max_failures, settings.enroll_window_s, settings.enroll_lockout_s
    )
    ca = load_ca(settings)
    if (until := enrollments.locked_until(session, source, now)) is not None:
        raise locked_error(until, now)
    csr = check_csr(request.transport_csr, "transport_csr")
    try:
        current = _current_transport(session, ca, settings, request, csr, now)
    except EnrollmentError as e:
        if e.status == 403:
            until = enrollments.count_failure(session, source, now, policy)
            log.warning("renewal refused from %s: %s", source, e)
            if until is not None:
                raise locked_error(until, now) from e
        raise
    device = devices.get_device(session, request.device_id)
    assert device is not None  # _current_transport checked it
    signing_row = device_certificates.latest(session, request.device_id, Purpose.SIGNING)
    if signing_row is None:
        raise EnrollmentError(_NOT_ENROLLED.format(request.device_id), status=409)
    old_signing = device_certificates.certificate(signing_row)
    try:
        signing = ca.issue(
            old_signing.public_key(),
            request.device_id,
            Profile.DOCUMENT_SIGNING,
            unit=device.unit,
            valid_days=settings.device_cert_days,
        )
        transport = ca.issue_from_csr(
            csr,
            request.device_id,
            Profile.TLS_CLIENT,
            unit=device.unit,
            valid_days=settings.device_cert_days,
        )
    except ProvisioningError as e:
        raise EnrollmentError(str(e), status=400) from e
    try:
        register_issued(
            session, request.device_id, device.unit, device.unit_code, signing, transport, now
        )
    except RepositoryError as e:
        raise EnrollmentError(f"device {request.device_id} not renewed: {e}", status=409) from e
    log.info(
        "device %s renewed until %s (was %s)",
        request.device_id,
        transport.not_valid_after_utc.date(),
        current.not_valid_after_utc.date(),
    )
    return Renewed(
        device_id=request.device_id,
        signing_cert=_pem(signing),
        transport_cert=_pem(transport),
        ca_certs=(_pem(ca.cert),),
    )


_NOT_ENROLLED = (
    "device {} has no certificate on record (it was registered, not enrolled with a code): "
    "enroll it with a code from sohoa provision device add"
)


def _current_transport(
    session: Session,
    ca: CertificateAuthority,
    settings: ServerSettings,
    request: RenewRequest,
    csr: x509.CertificateSigningRequest,
    now: dt.datetime,
) -> x509.Certificate:
    """The device's transport certificate the CSR's key is certified by, if it may renew."""
    device = devices.get_device(session, request.device_id)
    if device is None:
        raise EnrollmentError(f"no device {request.device_id} is registered with this server")
    if device.status is DeviceStatus.REVOKED:
        raise EnrollmentError(
            f"device {request.device_id} was revoked: it cannot renew; enroll the appliance "
            "under a new device id"
        )
    row = device_certificates.latest(session, request.device_id, Purpose.TRANSPORT)
    if row is None:
        raise EnrollmentError(_NOT_ENROLLED.format(request.device_id), status=409)
    current = device_certificates.certificate(row)
    if spki_der(current.public_key()) != spki_der(csr.public_key()):
        raise EnrollmentError(
            f"this CSR's key is not the transport key certified for {request.device_id}"
        )
    if row.not_after <= now:
        raise EnrollmentError(
            f"the certificate of {request.device_id} expired on {row.not_after:%Y-%m-%d}: it "
            "cannot renew; ask the province's admin for a new enrollment code"
        )
    assert settings.ca_dir is not None  # load_ca checked it
    if current.serial_number in {r.serial for r in load_revocations(settings.ca_dir)}:
        raise EnrollmentError(f"the certificate of {request.device_id} was revoked")
    return current


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
