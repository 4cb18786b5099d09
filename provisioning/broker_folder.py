"""A production broker's folder: what `sohoa provision broker-config` writes for the system's
Mosquitto (Debian's `mosquitto.service` runs `mosquitto -c DIR/mosquitto.conf`), and the reload
that puts a fresh CRL and ACL in force (`sohoa provision broker-reload`). `docs/broker.md` is
the operator's page.

The folder (file names from `provisioning.broker.BrokerFiles.at`):

    mosquitto.conf         the configuration (`provisioning.broker.broker_config`, whose
                           docstring gives its rules): the devices' listener on host:port, the
                           server's on server_host:server_port, TLS 1.2+, a client certificate
                           required and its commonName the username, the CRL on the devices'
                           listener, the ACL, persistence, the memory limits, log and pid file
    ca.pem                 the provincial CA's certificate (devices chain to it)
    server-clients-ca.pem  the server-clients CA's certificate (the server's identity)
    broker.pem             the broker's TLS server certificate, issued by the provincial CA
                           for the names devices reach it by (`dns_names`, `ip_addresses`)
    broker-key.pem         its key, made here (0600)
    crl.pem                a checked copy of the CA's CRL (`provisioning.ca.CRL_FILE`)
    acl                    generated from `protocol.topics` (`provisioning.broker.acl_rules`)
    data/                  Mosquitto's persistence
    mosquitto.log, mosquitto.pid   written by Mosquitto
    sohoa-broker.json      what the reload needs (the CA folder, the server identity) and the
                           options the folder was made with

Rules:
- The CA key is read once, to issue the broker's certificate; only certificates are copied.
  The CRL is copied, not linked: the CA folder holds the key and stays its owner's only, while
  Mosquitto's user must read the CRL.
- Every input is read and checked before anything is written; an existing configuration is
  overwritten only when asked (`force`), and the persistence in `data/` is kept then.
- Mosquitto started as root drops to its `user` before it reads anything (see
  `provisioning.broker`), so when this runs as root the folder is given to that user; the
  reload keeps the owner of each file it replaces.
- The log goes to a file in the folder, not to syslog: the reload confirms itself by reading
  the broker's log (syslog would also work for people, through `journalctl`, but not for
  that), and the broker's user owns the folder, so it can reopen the file at every SIGHUP
  (logrotate's `postrotate` sends one, `docs/broker.md`).

Reload, measured with Debian 12's Mosquitto 2.0.11 (OpenSSL 3), `tests/provisioning/
test_broker_config.py` repeating each point:
- SIGHUP does reload `crlfile`, although mosquitto.conf(5) does not say so. A CRL replaced on
  disk changes nothing by itself: the revoked device's certificate still connected with the new
  CRL in place; after SIGHUP it was refused at the TLS handshake (alert "certificate revoked"),
  15 ms after the signal. Why, in the source (src/loop.c, src/security_default.c): at SIGHUP,
  `mosquitto_security_apply_default` builds a fresh SSL_CTX for every listener that has a
  `crlfile` and `require_certificate`, and loads its CA, certificate, key and CRL into it again
  (ChangeLog 1.6.5: "Fix CRL file not being reloaded on HUP. Closes #35"; the server
  certificate is reloaded since 2.0, issue #1877). The ACL is read again at SIGHUP as well and
  applies to connected clients at once (measured: a publish allowed before it was refused with
  0x87 after it).
- A connection opened before the SIGHUP is not checked again against the CRL: a revoked device
  that is still connected stays connected. So the reload also writes the revoked devices (the
  CA's record, `load_revocations`) into the ACL, each denied its result topic
  (`provisioning.broker.acl_rules`), and the ACL does reach open connections: measured, the
  connected revoked device's next result was refused with 0x87, its heartbeat still went
  through. The server refuses its results after the revocation as well, and the revoke
  command tells an honest appliance to stop; restarting the broker (`systemctl restart
  mosquitto`) closes the connection itself.
- A new device needs no reload: the listener trusts the CA, not a list of certificates; a
  certificate issued after the start connected at once.
- Mosquitto fails open on a bad CRL at SIGHUP: a CRL it cannot load (missing, not PEM) is
  logged as an error and the new SSL_CTX is left without one, and the revoked device connected
  again (at start the same file makes it exit). So the reload checks the CRL first (PEM, signed
  by the CA the broker trusts, current, not older than the installed one), replaces the copy
  atomically, and looks in the broker's log for "Reloading config." and for errors after it.
- Mosquitto fails closed on an expired CRL (past its nextUpdate): every device is refused, with
  the misleading TLS alert "certificate expired". Publish the CRL and reload before nextUpdate
  (`provisioning.ca.CRL_NEXT_UPDATE_DAYS`, 7 days): a daily timer runs both.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pwd
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from protocol.topics import RESERVED_ID_PREFIX, SERVER_IDENTITY
from provisioning.broker import BrokerFiles, BrokerLimits, acl_rules
from provisioning.ca import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CRL_FILE,
    CertificateAuthority,
    Profile,
    load_revocations,
    new_key,
    read_certificate,
    write_certificate,
    write_private_key,
)
from provisioning.errors import BrokerError, ProvisioningError
from support.files import write_atomic

log = logging.getLogger(__name__)

MANIFEST_FILE = "sohoa-broker.json"
"""The folder's own record: where its CA is, its server identity, its options."""
MANIFEST_SCHEMA = "sohoa.broker-folder/1"
PID_FILE = "mosquitto.pid"
CRL_COPY = "crl.pem"
DEVICE_PORT = 8883
"""The IANA port of MQTT over TLS: the devices' listener."""
SERVER_PORT = 8884
"""The server's listener."""
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a production broker serves a whole province
"""Every IPv4 interface: the default of a production folder's listeners."""
BROKER_USER = "mosquitto"
"""The user Debian's mosquitto package makes, and Mosquitto's own default."""
RELOAD_TIMEOUT_S = 5.0
RELOAD_SETTLE_S = 0.2
"""How long after "Reloading config." the log is watched for the reload's errors (a reload
of these few files took well under a millisecond)."""
_RELOADING = "Reloading config."
_SERVER_IDENTITY_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
)


@dataclass(frozen=True)
class BrokerSettings:
    """The options a broker's folder is made with, kept in its manifest.

    Attributes:
        ca_dir: the provincial CA's folder (its CRL is copied from there at each reload).
        server_ca_dir: the server-clients CA's folder.
        host: the address the devices' listener binds (0.0.0.0: every IPv4 interface).
        server_host: the address the server's listener binds.
        port: the devices' port.
        server_port: the server's port.
        dns_names: the broker certificate's DNS names (what devices connect to).
        ip_addresses: its IP addresses.
        server_identity: the commonName of the server's MQTT certificate, named in the ACL.
        user: the user Mosquitto runs as once started (it owns the folder).
    """

    ca_dir: Path
    server_ca_dir: Path
    host: str = ALL_INTERFACES
    server_host: str = ALL_INTERFACES
    port: int = DEVICE_PORT
    server_port: int = SERVER_PORT
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server_identity: str = SERVER_IDENTITY
    user: str = BROKER_USER


@dataclass(frozen=True)
class BrokerFolder:
    """A broker's folder as `write_broker_folder` made it.

    Attributes:
        files: its files (`provisioning.broker.Mosquitto(files, ports=...)` runs them).
        settings: what it was made with.
        owned_by_user: whether the folder was given to `settings.user` (only root can).
    """

    files: BrokerFiles
    settings: BrokerSettings
    owned_by_user: bool = False

    @property
    def ports(self) -> tuple[int, int]:
        """The devices' and the server's ports, as the configuration names them."""
        return self.settings.port, self.settings.server_port

    @property
    def crl_file(self) -> Path:
        """The folder's copy of the CA's CRL."""
        return self.files.directory / CRL_COPY

    @property
    def pid_file(self) -> Path:
        """Where Mosquitto writes its process id."""
        return self.files.directory / PID_FILE

    @property
    def manifest_file(self) -> Path:
        """The folder's record (`sohoa-broker.json`)."""
        return self.files.directory / MANIFEST_FILE


@dataclass(frozen=True)
class Reload:
    """What `reload_broker` did.

    Attributes:
        pid: the broker's process id, signalled.
        crl_number: the cRLNumber now in force.
        revoked: how many certificates that CRL lists.
        next_update: when it must be replaced by a fresh one (UTC).
        seconds: how long the reload took, from the first file written to the broker's log line.
    """

    pid: int
    crl_number: int | None
    revoked: int
    next_update: dt.datetime
    seconds: float


def folder_files(directory: Path, settings: BrokerSettings) -> BrokerFiles:
    """The files of the broker folder `directory` made with `settings`."""
    return BrokerFiles.at(
        directory,
        crl_file=directory / CRL_COPY,
        limits=BrokerLimits(),
        host=settings.host,
        server_host=settings.server_host,
        pid_file=directory / PID_FILE,
        user=settings.user,
    )


def write_broker_folder(
    directory: Path, settings: BrokerSettings, *, force: bool = False
) -> BrokerFolder:
    """Write a production broker's folder (the module's docstring lists it) into `directory`.

    Args:
        directory: the folder (made if missing).
        settings: the listeners, names, CA folders, server identity and user.
        force: overwrite an existing configuration (its `data/` is kept).

    Returns:
        The folder.

    Raises:
        BrokerError: a configuration exists already and not `force`; a CA folder lacks a file,
            its CRL is not current; the broker certificate would name nothing; the server
            identity is one a device could hold; the user does not exist (run as root).
        ProvisioningError: a file cannot be read or written.
    """
    files = folder_files(directory, settings)
    if files.config_file.exists() and not force:
        raise BrokerError(
            f"{files.config_file} exists already: pass --force to replace the broker's "
            "configuration, key and certificate (its data/ is kept), or choose another --out"
        )
    _check_server_identity(settings.server_identity)
    owner = _owner(settings.user)
    ca = _load_ca(settings.ca_dir)
    server_ca_cert = _read_ca_certificate(settings.server_ca_dir, "--server-ca")
    crl_data = _read_crl_source(settings.ca_dir / CRL_FILE, settings.ca_dir)
    crl = check_crl(crl_data, ca.cert, settings.ca_dir / CRL_FILE)
    names = list(settings.dns_names) + list(settings.ip_addresses)
    if not names:
        raise BrokerError(
            "the broker's certificate must name what devices connect to: give --dns-name "
            "broker.example.vn and/or --ip-address 203.0.113.10"
        )
    key = new_key()
    try:
        cert = ca.issue(
            key.public_key(),
            names[0],
            Profile.TLS_SERVER,
            dns_names=settings.dns_names,
            ip_addresses=settings.ip_addresses,
        )
    except ValueError as e:  # ipaddress: not an IP address
        raise BrokerError(f"cannot issue the broker's certificate: {e}") from e
    folder = BrokerFolder(files, settings, owned_by_user=owner is not None)
    try:
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        files.persistence_dir.mkdir(mode=0o750, exist_ok=True)
        write_certificate(ca.cert, files.ca_file)
        write_certificate(server_ca_cert, files.server_ca_file)
        write_private_key(key, files.key_file)
        write_certificate(cert, files.cert_file)
        write_atomic(folder.crl_file, crl.public_bytes(serialization.Encoding.PEM), mode=0o644)
        write_atomic(files.acl_file, acl_rules(settings.server_identity).encode(), mode=0o600)
        write_atomic(folder.manifest_file, _manifest(settings).encode(), mode=0o644)
        files.write_config(settings.port, settings.server_port)  # last: the folder is whole
        if owner is not None:
            _give(directory, owner)
    except OSError as e:
        raise BrokerError(f"cannot write the broker's folder {directory}: {e}") from e
    log.info(
        "broker folder written in %s (devices on %s:%s)", directory, settings.host, settings.port
    )
    return folder


def load_broker_folder(directory: Path) -> BrokerFolder:
    """The broker folder `write_broker_folder` made in `directory`, from its manifest.

    Raises:
        BrokerError: it is not such a folder, or its manifest is damaged.
    """
    path = directory / MANIFEST_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BrokerError(
            f"{directory} is not a broker folder made by 'sohoa provision broker-config' "
            f"(no {MANIFEST_FILE}): give --dir the folder given to its --out"
        ) from None
    except (OSError, ValueError) as e:
        raise BrokerError(f"cannot read the broker folder's record {path}: {e}") from e
    try:
        if raw["schema"] != MANIFEST_SCHEMA:
            raise ValueError(f"schema {raw['schema']!r}, expected {MANIFEST_SCHEMA!r}")
        settings = BrokerSettings(
            ca_dir=Path(raw["ca_dir"]),
            server_ca_dir=Path(raw["server_ca_dir"]),
            host=str(raw["host"]),
            server_host=str(raw["server_host"]),
            port=int(raw["port"]),
            server_port=int(raw["server_port"]),
            dns_names=tuple(raw["dns_names"]),
            ip_addresses=tuple(raw["ip_addresses"]),
            server_identity=str(raw["server_identity"]),
            user=str(raw["user"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BrokerError(
            f"the broker folder's record {path} is damaged ({type(e).__name__}: {e}): make the "
            "folder again with 'sohoa provision broker-config --force'"
        ) from e
    return BrokerFolder(folder_files(directory, settings), settings)


def reload_broker(
    directory: Path, *, crl_source: Path | None = None, timeout: float = RELOAD_TIMEOUT_S
) -> Reload:
    """Put the CA's current CRL and the ACL in force at the running broker of `directory`:
    check the CRL, replace the folder's copies atomically, SIGHUP the broker (its pid file),
    and confirm the reload in its log.

    Connections opened before stay open, but a revoked device among them can send no result
    (see the module's docstring).

    Args:
        directory: the broker's folder (`write_broker_folder`).
        crl_source: the CRL to install (default: the CA folder's `crl.pem`, as the manifest
            names the folder).
        timeout: seconds to wait for the broker to log the reload.

    Returns:
        What was put in force.

    Raises:
        BrokerError: the CRL is unreadable, not signed by the broker's CA, expired or older
            than the installed one (nothing is replaced then); the broker is not running (the
            new files are in place for its start); it cannot be signalled; it did not log
            the reload in time, or logged errors in it.
    """
    folder = load_broker_folder(directory)
    source = crl_source or folder.settings.ca_dir / CRL_FILE
    ca_cert = read_certificate(folder.files.ca_file)
    crl = check_crl(_read_crl_source(source, folder.settings.ca_dir), ca_cert, source)
    _check_not_older(crl, folder.crl_file)
    started = time.monotonic()
    try:
        _replace(folder.crl_file, crl.public_bytes(serialization.Encoding.PEM), mode=0o644)
        revoked = (r.common_name for r in load_revocations(folder.settings.ca_dir) if r.common_name)
        acl = acl_rules(folder.settings.server_identity, revoked)
        _replace(folder.files.acl_file, acl.encode())
    except OSError as e:
        raise BrokerError(f"cannot write into the broker folder {directory}: {e}") from e
    pid = _broker_pid(folder)
    offset = _size(folder.files.log_file)
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        raise BrokerError(
            f"not allowed to signal the broker (pid {pid}): run this as root or as "
            f"{folder.settings.user}, or run 'systemctl reload mosquitto' (the new CRL and "
            "ACL are in place)"
        ) from None
    except ProcessLookupError:
        raise _not_running(folder, f"its pid {pid} ended just now") from None
    _confirm_reload(folder, pid, offset, timeout)
    return Reload(
        pid=pid,
        crl_number=crl_number(crl),
        revoked=len(list(crl)),
        next_update=_next_update(crl),
        seconds=time.monotonic() - started,
    )


# --- checks ---------------------------------------------------------------------------------


def check_crl(
    data: bytes, ca_cert: x509.Certificate, source: Path
) -> x509.CertificateRevocationList:
    """`data` as a CRL the broker may use: PEM, issued and signed by `ca_cert`, current.

    Mosquitto fails open on a CRL it cannot load at a reload and refuses every device with an
    expired one (the module's docstring), so neither may reach it.

    Raises:
        BrokerError: it is none of these; the message says what to publish.
    """
    publish = "publish a fresh one with 'sohoa provision crl --ca CA_DIR'"
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as e:
        raise BrokerError(f"{source} is not a PEM CRL ({e}): {publish}") from e
    public_key = ca_cert.public_key()
    if crl.issuer != ca_cert.subject or not crl.is_signature_valid(public_key):  # type: ignore[arg-type]
        raise BrokerError(
            f"the CRL {source} is not signed by the CA the broker trusts "
            f"({ca_cert.subject.rfc4514_string()}): give the CRL of that CA"
        )
    if _next_update(crl) <= dt.datetime.now(dt.UTC):
        raise BrokerError(
            f"the CRL {source} expired at {_next_update(crl).isoformat()}: with it the broker "
            f"would refuse every device; {publish}"
        )
    return crl


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    """The CRL's cRLNumber (RFC 5280 section 5.2.3), or None if it has none."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def _check_not_older(crl: x509.CertificateRevocationList, installed_path: Path) -> None:
    """Refuse a CRL numbered below the installed one: it could drop later revocations."""
    try:
        installed = x509.load_pem_x509_crl(installed_path.read_bytes())
    except (OSError, ValueError):
        return  # nothing usable installed: any checked CRL is better
    new, old = crl_number(crl), crl_number(installed)
    if new is not None and old is not None and new < old:
        raise BrokerError(
            f"the CRL to install is number {new}, older than the broker's ({old}): it could "
            "let devices revoked since back in; publish a fresh one with "
            "'sohoa provision crl --ca CA_DIR'"
        )


def _check_server_identity(name: str) -> None:
    """The server identity must be a name no device can be enrolled under: the ACL grants that
    username every device's topics, whichever listener it came through."""
    if (
        not name
        or len(name) > 64
        or not set(name) <= _SERVER_IDENTITY_CHARS
        or name[: len(RESERVED_ID_PREFIX)].lower() != RESERVED_ID_PREFIX
    ):
        raise BrokerError(
            f"server identity {name!r:.80} could be a device's name: it must begin with "
            f"'{RESERVED_ID_PREFIX}' (a prefix no device id may have) and hold 1-64 letters, "
            f"digits, '.', '_' or '-' (default {SERVER_IDENTITY!r})"
        )


# --- reading the CA folders -----------------------------------------------------------------


def _load_ca(ca_dir: Path) -> CertificateAuthority:
    """The provincial CA, its key read to issue the broker's certificate."""
    _require(ca_dir, CA_CERT_FILE, "--ca", "the CA's certificate")
    _require(
        ca_dir, CA_KEY_FILE, "--ca", "the CA's key, read once to issue the broker's certificate"
    )
    try:
        return CertificateAuthority.load(ca_dir)
    except ProvisioningError as e:
        raise BrokerError(f"cannot load the CA in {ca_dir}: {e}") from e


def _read_ca_certificate(ca_dir: Path, option: str) -> x509.Certificate:
    _require(ca_dir, CA_CERT_FILE, option, "the server-clients CA's certificate")
    try:
        return read_certificate(ca_dir / CA_CERT_FILE)
    except ProvisioningError as e:
        raise BrokerError(f"cannot read {ca_dir / CA_CERT_FILE}: {e}") from e


def _require(ca_dir: Path, name: str, option: str, what: str) -> None:
    if not ca_dir.is_dir():
        raise BrokerError(
            f"there is no CA folder {ca_dir}: give {option} the folder made by "
            "'sohoa provision ca' (or provision_province's ca/ and server-ca/)"
        )
    if not (ca_dir / name).is_file():
        raise BrokerError(
            f"the CA folder {ca_dir} lacks {name} ({what}): give {option} the folder made by "
            "'sohoa provision ca', on the machine that holds the CA"
        )


def _read_crl_source(path: Path, ca_dir: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BrokerError(
            f"there is no CRL at {path}: publish one with 'sohoa provision crl --ca {ca_dir}' "
            "(the broker refuses to start without it, and checks every device against it)"
        ) from None
    except OSError as e:
        raise BrokerError(f"cannot read the CRL {path}: {e.strerror}") from e


# --- files and the running broker -----------------------------------------------------------


def _manifest(settings: BrokerSettings) -> str:
    record = {"schema": MANIFEST_SCHEMA, **asdict(settings)}
    return json.dumps(record, indent=2, default=str) + "\n"


def _owner(user: str) -> pwd.struct_passwd | None:
    """The account the folder is given to, when this process can give it (root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise BrokerError(
            f"there is no user {user!r} on this machine for Mosquitto to run as: install "
            "Debian's mosquitto package (it makes the 'mosquitto' user) or pass --user"
        ) from None


def _give(directory: Path, owner: pwd.struct_passwd) -> None:
    """Give `directory` and what is in it to `owner`: Mosquitto reads and writes it as them."""
    for path in (directory, *directory.rglob("*")):
        os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def _replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `path` atomically, keeping the owner of the file it replaces (run as root, a new
    file would be root's, and Mosquitto's user could not read it at the reload)."""
    try:
        before = path.stat()
    except FileNotFoundError:
        before = None
    write_atomic(path, data, mode=mode)
    if before is not None and os.geteuid() == 0:
        os.chown(path, before.st_uid, before.st_gid)


def _broker_pid(folder: BrokerFolder) -> int:
    """The running broker's process id, from its pid file; checked to be a mosquitto."""
    try:
        pid = int(folder.pid_file.read_text().strip())
    except FileNotFoundError:
        raise _not_running(folder, f"no pid file {folder.pid_file}") from None
    except (OSError, ValueError) as e:
        raise BrokerError(f"cannot read the broker's pid file {folder.pid_file}: {e}") from e
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        raise _not_running(folder, f"no process {pid}, as its pid file says") from None
    if not name.startswith("mosquitto"):
        raise _not_running(folder, f"process {pid} of its pid file is {name!r}, not mosquitto")
    return pid


def _not_running(folder: BrokerFolder, why: str) -> BrokerError:
    return BrokerError(
        f"the broker of {folder.files.directory} is not running ({why}): the new CRL and ACL "
        f"are in place and it reads them when it starts ('systemctl start mosquitto', with "
        f"-c {folder.files.config_file})"
    )


def _confirm_reload(folder: BrokerFolder, pid: int, offset: int, timeout: float) -> None:
    """Wait for the broker to log its reload, then for errors in it."""
    log_file = folder.files.log_file
    deadline = time.monotonic() + timeout
    while _RELOADING not in _log_since(log_file, offset):
        if time.monotonic() > deadline:
            raise BrokerError(
                f"the broker (pid {pid}) did not log a reload within {timeout:.0f} s: see "
                f"{log_file}; restart it ('systemctl restart mosquitto') to be sure it uses "
                "the new CRL"
            )
        time.sleep(0.005)
    time.sleep(RELOAD_SETTLE_S)
    text = _log_since(log_file, offset)
    reload_log = text[text.index(_RELOADING) :]
    # The broker's own errors ("Error: Unable to load …", "Error when reloading …"); not the
    # "OpenSSL Error[n]" lines, which also follow every refused handshake (a revoked device
    # trying again during the reload is no failure of it).
    errors = [
        line.strip()
        for line in reload_log.splitlines()
        if "Error" in line and "OpenSSL Error" not in line
    ]
    if errors:
        raise BrokerError(
            f"the broker (pid {pid}) reloaded with errors: {' | '.join(errors[:2])}; its "
            "devices' listener may now refuse every device, or take revoked ones (it drops a "
            f"CRL it cannot load): fix what {log_file} says and reload again, or restart it "
            "('systemctl restart mosquitto'), which refuses to start rather than run so"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path: Path, offset: int) -> str:
    """What the log holds from `offset` (from its start if it was rotated since)."""
    try:
        with path.open("rb") as f:
            if f.seek(0, os.SEEK_END) < offset:
                offset = 0
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _next_update(crl: x509.CertificateRevocationList) -> dt.datetime:
    """The CRL's nextUpdate; a CRL without one is treated as already expired."""
    return crl.next_update_utc or dt.datetime.min.replace(tzinfo=dt.UTC)
