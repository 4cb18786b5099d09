"""Revoking an appliance in one action (`sohoa provision device revoke`, and `POST
/api/devices/{id}/commands` with `revoke`, which the fleet page uses): everything that must stop
trusting it, in the order that closes the most doors first.

1. The repository: the device is marked revoked and a `revoke` command is queued for it, in one
   transaction (`repository.commands.issue_command`). From then on ingest refuses whatever it
   sends (`revoked_device`), and the device watcher publishes the command: an appliance online
   gets it within `command_poll_s`, one offline when it next connects; it stops syncing and its
   kiosk says why. What the repository holds already, received before, stays as it was.
2. The CA: every certificate it was issued and that has not expired (its enrollment's and
   its renewals', `repository.device_certificates`) is revoked in the CA's record and a fresh
   CRL is published, into `ca_dir` and `crl_path`, so the server's verifier refuses its
   signatures too, whatever device sends them.
3. The broker (`broker_dir`, a `sohoa provision broker-config` folder): reloaded with the new
   CRL, which refuses the device's next connection, and an ACL that denies it its result topic
   should it be connected still.

A step that cannot be done (no CA on this server, a broker that is not running) does not undo
the steps before it: the revocation stands, and `RevokedDevice.problems` says what is left to
do by hand.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from sqlmodel import Session

from protocol.commands import CommandName
from provisioning.broker_folder import reload_broker
from provisioning.ca import CRL_FILE, RevocationReason, publish_crl, revoke_certificate
from provisioning.errors import ProvisioningError
from server.config import ServerSettings
from server.errors import EnrollmentError
from server.models import DeviceCommand, DeviceStatus, utc_now
from server.repository import commands, device_certificates, devices
from support.files import write_atomic

log = logging.getLogger(__name__)


@dataclass
class RevokedDevice:
    """What a revocation did.

    Attributes:
        command: the revoke command queued for the device.
        certificates: serial numbers (hex) of the certificates revoked at the CA.
        crl_files: where the fresh CRL was published.
        broker_reloaded: whether the broker was reloaded with it.
        problems: the steps that could not be done, each with what to do by hand.
    """

    command: DeviceCommand
    certificates: list[str] = field(default_factory=list)
    crl_files: list[Path] = field(default_factory=list)
    broker_reloaded: bool = False
    problems: list[str] = field(default_factory=list)


def revoke_device(
    session: Session,
    settings: ServerSettings,
    device_id: str,
    *,
    reason: RevocationReason,
    note: str,
    issued_by: str,
    now: dt.datetime | None = None,
) -> RevokedDevice:
    """Revoke `device_id` everywhere this server can reach (the module's docstring says how).

    Args:
        session: an open session.
        settings: the server's settings (`ca_dir`, `crl_path`, `broker_dir`).
        device_id: the device.
        reason: the CRL reason.
        note: why, in words, sent to the appliance with the command (no personal data).
        issued_by: who revokes it (an account's name, or `cli:<user>`).
        now: the revocation time (tests); default the clock.

    Raises:
        RepositoryError: no such device, or the database refused the write (nothing was
            revoked then).
        EnrollmentError (409): the device was revoked already (nothing is done again).
    """
    now = now or utc_now()
    device = devices.get_device(session, device_id)
    if device is not None and device.status is DeviceStatus.REVOKED:
        raise EnrollmentError(f"device {device_id} was revoked already", status=409)
    command = commands.issue_command(
        session, device_id, CommandName.REVOKE, {"reason": note}, issued_by=issued_by
    )
    done = RevokedDevice(command)
    log.info("device %s revoked by %s", device_id, issued_by)
    certificates = _issued_certificates(session, device_id, now)
    if settings.ca_dir is None:
        done.problems.append(
            "this server has no CA (ca_dir): revoke the device's certificates where they were "
            "issued (sohoa provision revoke --ca DIR --cert FILE), then publish the CRL"
        )
        return done
    if not certificates:
        done.problems.append(
            f"no certificate of {device_id} is on record (it was registered, not enrolled with "
            "a code): revoke its certificates with sohoa provision revoke --ca DIR --cert FILE"
        )
    try:
        for cert in certificates:
            revoke_certificate(settings.ca_dir, cert, reason, at=now)
            done.certificates.append(f"{cert.serial_number:x}")
        done.crl_files = _publish(settings)
    except ProvisioningError as e:
        log.error("device %s: the CA could not revoke its certificates: %s", device_id, e)
        done.problems.append(f"the CA could not revoke its certificates: {e}")
        return done
    if settings.broker_dir is None:
        done.problems.append(
            "no broker folder is configured (broker_dir): reload the broker with "
            "sohoa provision broker-reload --dir DIR"
        )
        return done
    try:
        reload_broker(settings.broker_dir)
        done.broker_reloaded = True
    except ProvisioningError as e:
        log.error("device %s: the broker could not be reloaded: %s", device_id, e)
        done.problems.append(f"the broker was not reloaded: {e}")
    return done


def _issued_certificates(
    session: Session, device_id: str, now: dt.datetime
) -> list[x509.Certificate]:
    """The certificates the CA issued to the device and not yet expired."""
    return [
        device_certificates.certificate(row)
        for row in device_certificates.of_device(session, device_id)
        if row.not_after > now
    ]


def _publish(settings: ServerSettings) -> list[Path]:
    """Publish the CA's CRL into its folder, and where the verifier reads CRLs if elsewhere."""
    assert settings.ca_dir is not None
    written = [publish_crl(settings.ca_dir)]
    target = settings.crl_path
    if target is not None:
        if target.is_dir():
            target = target / CRL_FILE
        if target.resolve() != written[0].resolve():
            write_atomic(target, written[0].read_bytes())
            written.append(target)
    return written
