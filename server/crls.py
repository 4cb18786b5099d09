"""The certificate revocation lists the server checks signers against: read from the file or
folder provisioning publishes them to, re-read when a file changes, and two questions asked of them
(is a CRL signed by this CA; what to tell a person whose signer is on one).

`server.verify` uses them for its revocation step; nothing here touches a PDF.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

log = logging.getLogger(__name__)

CRL_SUFFIXES = (".pem", ".crl", ".der")
"""Files of a CRL folder that are read (PEM files that hold no CRL, e.g. a certificate, are
skipped)."""
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


@dataclass(frozen=True)
class CrlSnapshot:
    """The CRLs read from a `CrlSource` at one moment.

    Attributes:
        crls: every CRL that could be read.
        problems: what could not be read, one sentence each (a missing path, a damaged file).
    """

    crls: tuple[x509.CertificateRevocationList, ...]
    problems: tuple[str, ...] = ()


class CrlSource:
    """The CRLs provisioning publishes, at a file or in a folder; re-read whenever a file changes.

    Thread-safe: ingest workers share one. Each call to `snapshot` costs a `stat` per file; the
    files are parsed again only when one changed (new mtime, size or inode — `publish_crl`
    replaces the file by a rename, which changes the inode).

    Args:
        path: a PEM or DER CRL file (a PEM file may hold several), or a folder of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._snapshot = CrlSnapshot(())

    def snapshot(self) -> CrlSnapshot:
        """The current CRLs (re-read if the files changed since the last call)."""
        key = self._stat_key()
        with self._lock:
            if key != self._key:
                self._snapshot = self._read(key)
                self._key = key
                log.info(
                    "read %d CRL(s) from %s%s",
                    len(self._snapshot.crls),
                    self.path,
                    f" ({'; '.join(self._snapshot.problems)})" if self._snapshot.problems else "",
                )
            return self._snapshot

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(
                p for p in self.path.iterdir() if p.suffix in CRL_SUFFIXES and p.is_file()
            )
        return [self.path]

    def _stat_key(self) -> tuple[object, ...]:
        key: list[object] = []
        try:
            for file in self._files():
                st = file.stat()
                key.append((file.name, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError as e:
            key.append(("error", str(e)))
        return tuple(key)

    def _read(self, key: tuple[object, ...]) -> CrlSnapshot:
        if not self.path.exists():
            return CrlSnapshot((), (f"there is no CRL at {self.path}",))
        crls: list[x509.CertificateRevocationList] = []
        problems: list[str] = []
        try:
            files = self._files()
        except OSError as e:
            return CrlSnapshot((), (f"cannot list the CRLs in {self.path}: {e.strerror}",))
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as e:
                problems.append(f"cannot read {file}: {e.strerror}")
                continue
            try:
                if b"-----BEGIN" in data:
                    blocks = _PEM_CRL.findall(data)
                    if not blocks and file == self.path:
                        problems.append(f"{file} holds no PEM CRL")
                    crls.extend(x509.load_pem_x509_crl(b) for b in blocks)
                else:
                    crls.append(x509.load_der_x509_crl(data))
            except ValueError as e:
                problems.append(f"{file} is not a CRL: {e}")
        if not crls and not problems:
            problems.append(f"there is no CRL in {self.path}")
        return CrlSnapshot(tuple(crls), tuple(problems))


def signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `crl` (a CRL naming the issuer but signed by another key
    counts for nothing)."""
    key = issuer.public_key()
    try:
        return crl.is_signature_valid(key)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def revoked_detail(entry: x509.RevokedCertificate, claimed: dt.datetime | None) -> str:
    """What to tell a person whose signer `entry` revokes, given the signing time the document
    claims (a device's own claim, so never a reason to accept)."""
    when = entry.revocation_date_utc
    try:
        why = f" ({entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value})"
    except x509.ExtensionNotFound:
        why = ""
    said = f"revoked on {when.isoformat()}{why}"
    if claimed is None:
        return f"the signer certificate was {said}: re-enroll the device"
    if when <= claimed:
        return (
            f"the signer certificate was {said}, before the signing time the document claims "
            f"({claimed.isoformat()}): re-enroll the device"
        )
    return (
        f"the signer certificate was {said}, after the signing time the document claims "
        f"({claimed.isoformat()}); that time is the device's own claim, so a revoked signer is "
        "refused: re-enroll the device and sign again"
    )
