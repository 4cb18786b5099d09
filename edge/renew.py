"""Renewing this appliance's certificates before they expire (`sohoa edge renew`, run daily by
`provisioning/appliance/sohoa-renew.timer`; the server's side is `server.renewal`).

When the transport certificate has fewer than `renew_window_days` left, the appliance asks the
server it enrolled with (`server_url`, its key pinned by `server_pin`) for fresh certificates for
the keys it already has: a CSR of its transport key proves who it is, the document-signing key
on the token is certified again as it is (no PIN needed). The answer is checked as the
enrollment's is, then the certificates are replaced, each file atomically; the sync agent takes
the new transport certificate when it next connects (the install restarts it:
`sohoa-renew.service`), and the kiosk stores the new signing certificate on the token when it
next opens it (`edge.tui.services`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from edge.config import EdgeSettings
from edge.errors import EnrollError
from edge.server_link import PinnedServer
from edge.signing.token import Token
from protocol.enrollment import Renewed, RenewRequest, decode_renewed, spki_der
from protocol.errors import EnrollmentFormatError
from support.files import write_atomic

log = logging.getLogger(__name__)

RENEW_PATH = "/api/renew"
SIGNING_KEY_LABEL = "document-signing"


@dataclass(frozen=True)
class RenewOutcome:
    """What `renew` did.

    Attributes:
        renewed: whether new certificates were written.
        not_after: when the transport certificate in force now expires.
        days_left: days until then.
    """

    renewed: bool
    not_after: dt.datetime
    days_left: float


def days_left(cert: x509.Certificate, now: dt.datetime) -> float:
    """Days until `cert` expires (negative once it has)."""
    return (cert.not_valid_after_utc - now).total_seconds() / 86_400


def renew(
    settings: EdgeSettings, *, force: bool = False, now: dt.datetime | None = None
) -> RenewOutcome:
    """Renew both certificates if the transport certificate is within `renew_window_days` of
    its end (or `force`).

    Raises:
        EnrollError: the appliance was not enrolled with a code (no `server_url`/`server_pin`),
            its files cannot be read or written, the certificate has expired (it must be
            enrolled again), or the server cannot be reached or refused.
    """
    now = now or dt.datetime.now(dt.UTC)
    url, pin, cert_file, key_file, signing_file = _needed(settings)
    current = _read_cert(cert_file)
    left = days_left(current, now)
    if left <= 0:
        raise EnrollError(
            f"this appliance's certificate expired on {current.not_valid_after_utc:%Y-%m-%d}: "
            "it can no longer renew; ask the province's admin for a new enrollment code"
        )
    if left > settings.renew_window_days and not force:
        return RenewOutcome(False, current.not_valid_after_utc, left)
    key = _read_key(key_file)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, settings.device_id)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    request = RenewRequest(
        settings.device_id, csr.public_bytes(serialization.Encoding.PEM).decode()
    )
    with PinnedServer(url, pin) as server:
        server.check_clock()
        answer = _decoded(server.post(RENEW_PATH, request.to_json(), "renewal"))
    transport = _check(answer, settings, current, signing_file)
    write_atomic(signing_file, answer.signing_cert.encode())
    write_atomic(cert_file, answer.transport_cert.encode())
    log.info("certificates renewed until %s", transport.not_valid_after_utc.date())
    return RenewOutcome(True, transport.not_valid_after_utc, days_left(transport, now))


@dataclass(frozen=True)
class CertificateStanding:
    """The appliance's transport certificate, when it needs a person's attention.

    Attributes:
        not_before: when it starts being valid.
        not_after: when it ends.
        days_left: days until then, by this appliance's clock (negative once ended).
        clock_behind: this appliance's clock says it is not valid yet: the clock is wrong
            (it was valid when the server issued it).
    """

    not_before: dt.datetime
    not_after: dt.datetime
    days_left: float
    clock_behind: bool


def certificate_standing(
    settings: EdgeSettings, now: dt.datetime | None = None
) -> CertificateStanding | None:
    """The transport certificate's standing when it nears its end unrenewed (within
    `renew_window_days`), has ended, or is not valid yet by this clock; None when all is well
    or it cannot be read (the kiosk's home screen and the heartbeat say it)."""
    if settings.cert_file is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(settings.cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    left = days_left(cert, now)
    behind = now < cert.not_valid_before_utc
    if left > settings.renew_window_days and not behind:
        return None
    return CertificateStanding(cert.not_valid_before_utc, cert.not_valid_after_utc, left, behind)


def expiry_warning(settings: EdgeSettings, now: dt.datetime | None = None) -> str | None:
    """What the heartbeat says when the transport certificate is within `renew_window_days` of
    its end: the daily renewal should have replaced it by then, so it is failing (no personal
    data; for the province's fleet page). None when it is not, or cannot be read."""
    standing = certificate_standing(settings, now)
    if standing is None:
        return None
    end = f"{standing.not_after:%Y-%m-%d}"
    if standing.clock_behind:
        return (
            f"the appliance's clock is wrong: its certificate starts {standing.not_before:%Y-%m-%d}"
        )
    left = standing.days_left
    if left <= 0:
        return f"certificate expired on {end} (or the appliance's clock is wrong): enroll it again"
    return (
        f"certificate ends on {end} ({left:.0f} days) and has not been renewed: see "
        "journalctl -u sohoa-renew on the appliance"
    )


def store_renewed_signing_certificate(token: Token, settings: EdgeSettings) -> bool:
    """Put the renewed signing certificate (`signing_cert_file`) on the token if it is for the
    token's key and newer than the one there; what the kiosk does when it opens the token (the
    renewal itself has no PIN). Whether it did.

    Raises:
        TokenError: the token refused.
    """
    key_id, path = settings.signing_key_id_bytes, settings.signing_cert_file
    if key_id is None or path is None or not path.exists():
        return False
    try:
        renewed = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        log.warning("the renewed signing certificate %s cannot be read: %s", path, e)
        return False
    stored = token.certificate(key_id)
    if renewed.not_valid_after_utc <= stored.not_valid_after_utc:
        return False
    if spki_der(renewed.public_key()) != token.public_key_der(key_id):
        log.warning("%s is not for the token's signing key: left alone", path)
        return False
    token.import_certificate(renewed, key_id, label=SIGNING_KEY_LABEL)
    log.info(
        "renewed signing certificate stored on the token (until %s)",
        renewed.not_valid_after_utc.date(),
    )
    return True


def _needed(settings: EdgeSettings) -> tuple[str, str, Path, Path, Path]:
    if settings.server_url is None or settings.server_pin is None:
        raise EnrollError(
            "this appliance has no server_url and server_pin in its settings (it was not "
            "enrolled with sohoa edge enroll): enroll it to renew its certificates"
        )
    missing = [
        name
        for name in ("cert_file", "key_file", "signing_cert_file", "ca_file")
        if getattr(settings, name) is None
    ]
    if missing:
        raise EnrollError(f"cannot renew: the settings name no {', '.join(missing)}")
    assert settings.cert_file and settings.key_file and settings.signing_cert_file
    return (
        settings.server_url,
        settings.server_pin,
        settings.cert_file,
        settings.key_file,
        settings.signing_cert_file,
    )


def _check(
    answer: Renewed, settings: EdgeSettings, transport_now: x509.Certificate, signing_file: Path
) -> x509.Certificate:
    """The new transport certificate, once both are found to be for the keys in use, to name
    this device, and to be issued by the CA this appliance trusts."""
    try:
        signing = x509.load_pem_x509_certificate(answer.signing_cert.encode())
        transport = x509.load_pem_x509_certificate(answer.transport_cert.encode())
        signing_now = _read_cert(signing_file)
        assert settings.ca_file is not None
        ca = x509.load_pem_x509_certificate(settings.ca_file.read_bytes())
    except (ValueError, OSError) as e:
        raise EnrollError(f"the renewed certificates cannot be read: {e}") from e
    pairs = ((signing, signing_now, "signing"), (transport, transport_now, "transport"))
    for new, old, what in pairs:
        if spki_der(new.public_key()) != spki_der(old.public_key()):
            raise EnrollError(f"the server's new {what} certificate is not for this key")
        names = new.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [n.value for n in names] != [settings.device_id]:
            raise EnrollError(f"the new {what} certificate does not name {settings.device_id}")
        try:
            new.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature) as e:
            raise EnrollError(
                f"the new {what} certificate is not issued by the province's CA"
            ) from e
    return transport


def _decoded(body: object) -> Renewed:
    try:
        return decode_renewed(body)
    except EnrollmentFormatError as e:
        raise EnrollError(f"the server's answer cannot be read: {e}") from e


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        raise EnrollError(f"cannot read the certificate {path}: {e}") from e


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise EnrollError(f"cannot read the transport key {path}: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise EnrollError(f"the transport key {path} is neither EC nor RSA")
    return key
