"""The kiosk's blocking work, kept out of its screens: opening the token, reading the outbox
and the appliance's health, checking the admin PIN.

Every function here blocks (PKCS#11, SQLite, the file system, argon2) and is called only from
a worker thread (`@work(thread=True)`), never from the UI thread; the screens get its results
back by messages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from types import MappingProxyType

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.capture.scanner import ScanSettings, ScanSource
from edge.config import EdgeSettings
from edge.errors import EdgeError, OcrError, TokenError
from edge.health import disk_free, token_present
from edge.ocr.pool import OcrPool
from edge.pdf.xmp import VIETNAM_TIME
from edge.renew import (
    CertificateStanding,
    certificate_standing,
    store_renewed_signing_certificate,
)
from edge.signing.token import Token
from edge.sync.at_rest import open_outbox
from edge.sync.outbox import Outbox, OutboxItem, OutboxStatus, State
from edge.tui.flow import (
    Draft,
    Procedure,
    draft_dir,
    kiosk_dir,
    load_draft,
    scan_settings,
    seal_drafts,
)
from support.lifecycle import Closeable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KioskStatus:
    """What the home screen shows, read in one go.

    Attributes:
        today: results signed since midnight, Vietnam time.
        outbox: the outbox's counts, link standing and last error.
        token_present: whether the signing token answers (None: no token configured).
        disk_free: free bytes where the appliance keeps its data (None: unreadable).
        certificate: the appliance's certificate's standing when it needs a person (nearing
            its end unrenewed, expired, or not yet valid by this appliance's clock), else None.
    """

    today: int
    outbox: OutboxStatus
    token_present: bool | None
    disk_free: int | None
    certificate: CertificateStanding | None = None


def empty_status() -> OutboxStatus:
    """An outbox status with nothing in it (before the first read)."""
    return OutboxStatus(
        counts=MappingProxyType(dict.fromkeys(State, 0)),
        oldest_pending_age_s=None,
        last_error=None,
        last_error_at=None,
        revoked=None,
    )


class KioskServices(Closeable):
    """The appliance as the kiosk reaches it: its settings, its outbox (opened on first use,
    from a worker thread) and the signing token once unlocked.

    Args:
        settings: the appliance's settings.
        scan: how to scan (default: 300 dpi grey A4 from `scanner_source`).
        procedures: the unit's procedure catalogue.
        note: a line for the lock screen.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        scan: ScanSettings | None = None,
        procedures: tuple[Procedure, ...] = (),
        note: str | None = None,
    ) -> None:
        self.settings = settings
        self.scan = scan or scan_settings(ScanSource(settings.scanner_source))
        """How the kiosk scans."""
        self.procedures = procedures
        """The unit's procedure catalogue (empty: the officer types a code)."""
        self.note = note
        """A line the lock screen shows (the demo's PINs), or None."""
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        """Held across a whole login or logout, so that an unlock waits for the lock's logout."""
        self._outbox: Outbox | None = None
        self._ocr_lock = threading.Lock()
        self._ocr: OcrPool | None = None
        self._closed = False
        """Set by `close`: no OCR engine starts after it (its threads would keep the process
        alive after the kiosk ended)."""
        self.token: Token | None = None
        """The logged-in token while the kiosk is unlocked, else None."""

    def outbox(self) -> Outbox:
        """The appliance's outbox, opened on first use (blocks: call from a worker), sealed
        when `outbox_sealing` is on (its data key unsealed on the token: no PIN needed).

        Raises:
            OutboxError: it cannot be opened, or its data key cannot be unsealed.
        """
        with self._lock:
            if self._outbox is None:
                self._outbox = open_outbox(self.settings)
                # The half-done results are sealed with the outbox's key, or as it is, in clear.
                seal_drafts(kiosk_dir(self.settings), self._outbox.sealer)
            return self._outbox

    @property
    def ocr_started(self) -> bool:
        """Whether the OCR engine is running (started by a reading or the warm-up)."""
        return self._ocr is not None

    def ocr(self) -> OcrPool:
        """The kiosk's OCR engine, started on first use and kept (blocks: call from a worker).

        Starting Tesseract loads its Vietnamese model, a tenth of a second or more that holds
        Python's interpreter lock and stalls the screen: done once per kiosk run, not per
        result.

        Raises:
            OcrError: Tesseract or its Vietnamese data is missing, or the kiosk is closing (a
                stop signal came while the engine was about to start).
        """
        with self._ocr_lock:
            if self._closed:
                raise OcrError("the kiosk is closing: the OCR engine is not started")
            if self._ocr is None:
                self._ocr = OcrPool(1)
            return self._ocr

    def open_token(self, pin: str) -> Token:
        """Log in to the configured token with `pin`, tried exactly once.

        Raises:
            TokenError: no token is configured or present, or it refused the PIN (`PinError`).
        """
        s = self.settings
        if s.token_label is None and s.token_serial is None:
            raise TokenError("no token is configured (token_label or token_serial)")
        with self._token_lock:
            if self.token is not None:
                return self.token
            token = Token.open(s.pkcs11_module, label=s.token_label, serial=s.token_serial, pin=pin)
            self.token = token
            # A renewal (daily, no PIN) leaves the new signing certificate in a file: this is
            # the PIN-holding moment to put it on the token. Never a reason to stay locked.
            try:
                store_renewed_signing_certificate(token, s)
            except TokenError as e:
                log.warning("the renewed signing certificate was not stored on the token: %s", e)
        try:
            # Before the kiosk looks for a half-done result: a sealed one needs the outbox's key.
            self.outbox()
        except EdgeError as e:  # shown by the home screen's status; never a reason to stay locked
            log.error("the outbox did not open at unlock: %s", e)
        return token

    def close_token(self) -> None:
        """Log out of the token (the kiosk locks). Safe when it is not open."""
        with self._token_lock:
            token, self.token = self.token, None
            if token is not None:
                # Pulled out or already gone: locked either way.
                with contextlib.suppress(TokenError):
                    token.close()

    def status(self) -> KioskStatus:
        """Read the home screen's figures (blocks)."""
        outbox = self.outbox()
        midnight = dt.datetime.now(VIETNAM_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
        return KioskStatus(
            today=outbox.count_created_since(midnight.timestamp()),
            outbox=outbox.status(),
            token_present=token_present(self.settings),
            disk_free=disk_free(self.settings.data_dir),
            certificate=certificate_standing(self.settings),
        )

    def listing(self) -> list[OutboxItem]:
        """Every result of the outbox, newest first (blocks)."""
        return self.outbox().listing()

    def retry(self, result_id: str) -> None:
        """Queue a refused result again (blocks).

        Raises:
            OutboxError: it is not a refused result.
        """
        self.outbox().retry(result_id)

    def pending_draft(self) -> Draft | None:
        """The half-done result kept from before (a crash, a power cut, "later"), or None.

        Raises:
            OutboxError: the outbox (whose key opens a sealed draft) cannot be opened.
        """
        self.outbox()
        return load_draft(draft_dir(self.settings))

    def check_admin_pin(self, pin: str) -> bool:
        """Whether `pin` is the admin PIN (argon2: slow on purpose, call from a worker). False
        when no admin PIN is configured."""
        hashed = self.settings.kiosk_admin_pin_hash
        if hashed is None:
            return False
        try:
            return PasswordHasher().verify(hashed, pin)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        """Log out of the token, close the outbox, stop the OCR engine (none starts after it)."""
        self.close_token()
        with self._lock:
            outbox, self._outbox = self._outbox, None
        if outbox is not None:
            outbox.close()
        with self._ocr_lock:
            pool, self._ocr, self._closed = self._ocr, None, True
        if pool is not None:
            pool.close()


def hash_admin_pin(pin: str) -> str:
    """The argon2 hash of an admin PIN, for `kiosk_admin_pin_hash`."""
    return PasswordHasher().hash(pin)
