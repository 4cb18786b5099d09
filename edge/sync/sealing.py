"""Encryption at rest of what the appliance keeps of citizens' results (Nghị định 13/2023 on
personal data: a lost or stolen appliance must not give them away).

Two keys, and what each is for:

- The **data key**: 256 random bits made on the appliance the first time its outbox is opened
  sealed. It encrypts, with AES-256-GCM (`cryptography`'s AEAD), each result's signed PDF and
  its fields (`Sealer`). Each ciphertext has its own random 96-bit nonce and is bound, as
  associated data, to its result's id and its purpose (the PDF, the fields): one cannot be moved
  onto another result or swapped for the other purpose without the tag failing. NIST SP
  800-38D allows 2^32 encryptions per key with random 96-bit nonces; an appliance makes a few
  per result (its PDF, its fields, its draft's saves), millions over its life at most. The
  kiosk's drafts (`edge.tui.flow`) are sealed with the same key, bound to their file names.
- The **sealing key**: an AES-256 key generated on the token (`edge.signing.token`), sensitive
  and never extractable, which only encrypts and decrypts. The data key is never written in
  clear: only sealed by it (AES-GCM on the token), in `<data_dir>/keys/data-key.sealed`, bound
  to the device id and the key's ids. A storage card without the token therefore carries no
  key; a copy of `data_dir` opened with another token (another appliance) finds no sealing key
  with that id, or one that does not open the file.

Why the sealing key is public (CKA_PRIVATE false): the sync agent runs unattended and never
holds the token's PIN, yet must read the PDFs it sends. PKCS#11 lets a session without login use
(and create, and destroy) public objects; the key stays sensitive and non-extractable, so its
value never leaves a token that keeps its promises. The price: whoever holds the appliance with
its token plugged in can open the outbox without the PIN, as the agent does; the protection is
against the card (or a copy of it) without the token, and the wipe (`edge.sync.at_rest`) for an
appliance that is lost whole. SoftHSM2 keeps a public key's value in clear in its token
directory: on an appliance whose "token" is SoftHSM2 on the same card, the card carries the key
(logged once as a warning); the guarantee needs a hardware token or HSM.

The data key is unsealed once per process (the kiosk, the agent), kept in memory, and the token
session closed again: one token operation per process start, none per result.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge.config import EdgeSettings
from edge.errors import ConfigError, OutboxError, TokenError
from support.files import GROUP_DIR, GROUP_FILE, PRIVATE_DIR, PRIVATE_FILE, write_atomic

log = logging.getLogger(__name__)

KEYS_DIR = "keys"
"""The folder of `data_dir` holding the sealed data key."""
DATA_KEY_FILE = "data-key.sealed"
"""The sealed data key's file in `KEYS_DIR`."""
DATA_KEY_FORMAT = "sohoa.data-key/1"
"""The format of the sealed data key's file (a JSON object)."""
DATA_KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""AES-GCM's 96-bit nonce, random per ciphertext."""
KEY_CHECK_BYTES = 8
"""The key check value's length: it names the data key in each ciphertext's header, so that a
ciphertext of another key is told from an altered one (it reveals nothing of a 256-bit key)."""
MAGIC = b"\x00SOHOA\x01\x00"
"""How a sealed file begins (a PDF begins with `%PDF`, so the two are never confused)."""
SEALED_TEXT_PREFIX = "sealed:1:"
"""How sealed text (the fields' JSON) begins in the database (the JSON itself begins with `{`)."""
_HEADER_BYTES = len(MAGIC) + KEY_CHECK_BYTES
_AAD_CONTEXT = b"sohoa.outbox/1"
_SEALING_KEY_ID_PREFIX = b"\x5e\xa1"


class Purpose(Enum):
    """What a ciphertext holds: bound into its associated data."""

    PDF = "pdf"
    """A result's signed PDF (the blob file)."""
    FIELDS = "fields"
    """A result's fields (the JSON in the database)."""
    DRAFT = "draft"
    """A file of the kiosk's half-done results (a page image, the draft's JSON, a batch
    result's signed PDF), bound to its place under `<data_dir>/kiosk`."""

    @property
    def noun(self) -> str:
        """Its name in messages."""
        return {"pdf": "PDF", "fields": "fields", "draft": "draft file"}[self.value]


def is_sealed(data: bytes) -> bool:
    """Whether `data` is a sealed file (`Sealer.seal`'s output) rather than clear bytes."""
    return data.startswith(MAGIC)


def is_sealed_text(text: str) -> bool:
    """Whether `text` is sealed text (`Sealer.seal_text`'s output) rather than clear JSON."""
    return text.startswith(SEALED_TEXT_PREFIX)


def key_check_of(data_key: bytes) -> str:
    """The key check value of `data_key` (hex): what names it in headers and in the outbox."""
    return hashlib.sha256(b"sohoa key check\x00" + data_key).digest()[:KEY_CHECK_BYTES].hex()


class Sealer:
    """AES-256-GCM under the data key, each ciphertext bound to its result and purpose.

    Args:
        data_key: the 32-byte data key (unsealed by `sealer_for`, or random in tests).

    Raises:
        ValueError: the key is not 32 bytes.
    """

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, not {len(data_key)}")
        self._aead = AESGCM(data_key)
        self.key_check = key_check_of(data_key)
        """The data key's check value (hex), recorded by the outbox it seals."""
        self._header = MAGIC + bytes.fromhex(self.key_check)

    def seal(self, plaintext: bytes, *, result_id: str, purpose: Purpose) -> bytes:
        """Encrypt `plaintext`, bound to `result_id` and `purpose`.

        Returns:
            The header (magic, key check), a random nonce, the ciphertext and its tag.
        """
        nonce = os.urandom(NONCE_BYTES)
        aad = self._header + _aad(result_id, purpose)
        return self._header + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, *, result_id: str, purpose: Purpose) -> bytes:
        """Decrypt what `seal` made for `result_id` and `purpose`.

        Raises:
            OutboxError: it is not sealed, is sealed under another data key, or does not open
                (altered on disk, or moved from another result or purpose).
        """
        return self._open(
            sealed, result_id, purpose, f"the {purpose.noun} of result {result_id[:12]}…"
        )

    def seal_file(self, plaintext: bytes, *, name: str) -> bytes:
        """`seal` for a kiosk draft file, bound to its `name` (its place under the kiosk's
        folder, e.g. `draft/page-001.png`)."""
        return self.seal(plaintext, result_id=name, purpose=Purpose.DRAFT)

    def open_file(self, sealed: bytes, *, name: str) -> bytes:
        """`open` for what `seal_file` made for `name`.

        Raises:
            OutboxError: as `open`.
        """
        return self._open(sealed, name, Purpose.DRAFT, f"the kiosk's draft file {name}")

    def _open(self, sealed: bytes, result_id: str, purpose: Purpose, what: str) -> bytes:
        if not is_sealed(sealed) or len(sealed) < _HEADER_BYTES + NONCE_BYTES + 16:
            raise OutboxError(
                f"{what} is not sealed as the outbox's files are: it was altered on disk; "
                "check the storage, then capture and sign the document again"
            )
        header = sealed[:_HEADER_BYTES]
        if header != self._header:
            raise OutboxError(
                f"{what} is sealed under another data key (key check "
                f"{sealed[len(MAGIC) : _HEADER_BYTES].hex()}, this outbox's is {self.key_check}):"
                " it was copied from another appliance's outbox and cannot be read here"
            )
        nonce = sealed[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES]
        body = sealed[_HEADER_BYTES + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, header + _aad(result_id, purpose))
        except InvalidTag as e:
            raise OutboxError(
                f"{what} does not open with the outbox's data key: it was altered on disk, or "
                "moved there from another result; check the storage, then capture and sign the "
                "document again"
            ) from e

    def seal_text(self, text: str, *, result_id: str, purpose: Purpose) -> str:
        """`seal` for text kept in the database: `SEALED_TEXT_PREFIX` and base64."""
        sealed = self.seal(text.encode("utf-8"), result_id=result_id, purpose=purpose)
        return SEALED_TEXT_PREFIX + base64.b64encode(sealed).decode("ascii")

    def open_text(self, text: str, *, result_id: str, purpose: Purpose) -> str:
        """`open` for what `seal_text` made.

        Raises:
            OutboxError: as `open`, or the text is not base64.
        """
        try:
            sealed = base64.b64decode(text.removeprefix(SEALED_TEXT_PREFIX), validate=True)
        except (binascii.Error, ValueError) as e:
            raise OutboxError(
                f"the {purpose.noun} of result {result_id[:12]}… are damaged in the outbox "
                "database (not base64): check the storage"
            ) from e
        return self.open(sealed, result_id=result_id, purpose=purpose).decode("utf-8")


def _aad(result_id: str, purpose: Purpose) -> bytes:
    return b"\x00".join((_AAD_CONTEXT, purpose.value.encode(), result_id.encode("utf-8")))


# --- the sealed data key ---------------------------------------------------------------------


def keys_dir(settings: EdgeSettings) -> Path:
    """Where the sealed data key lives: `<data_dir>/keys`."""
    return settings.data_dir / KEYS_DIR


def data_key_path(settings: EdgeSettings) -> Path:
    """The sealed data key's file."""
    return keys_dir(settings) / DATA_KEY_FILE


def sealing_key_id(device_id: str) -> bytes:
    """The CKA_ID of this appliance's sealing key on its token: one per device id, so that
    appliances sharing a token (a test bench, the harness) each have their own, and a wipe
    destroys only its own."""
    digest = hashlib.sha256(b"sohoa sealing key\x00" + device_id.encode()).digest()
    return _SEALING_KEY_ID_PREFIX + digest[:14]


@dataclass(frozen=True)
class SealedDataKey:
    """The content of `data-key.sealed` (JSON): nothing in it is secret.

    Attributes:
        device_id: the appliance it belongs to.
        key_id: the CKA_ID of the sealing key on the token.
        key_check: the data key's check value (hex).
        sealed: the data key sealed on the token (nonce, ciphertext, tag).
        token_label: the label of the token that sealed it (to name it in messages).
        token_serial: its serial number, if configured.
    """

    device_id: str
    key_id: bytes
    key_check: str
    sealed: bytes
    token_label: str | None = None
    token_serial: str | None = None

    @property
    def aad(self) -> bytes:
        """What the sealed data key is bound to: the format, the device, both keys' ids."""
        return b"\x00".join(
            (
                DATA_KEY_FORMAT.encode(),
                self.device_id.encode(),
                self.key_id.hex().encode(),
                self.key_check.encode(),
            )
        )

    def to_json(self) -> bytes:
        """The file's bytes."""
        return json.dumps(
            {
                "format": DATA_KEY_FORMAT,
                "device_id": self.device_id,
                "key_id": self.key_id.hex(),
                "key_check": self.key_check,
                "sealed": base64.b64encode(self.sealed).decode("ascii"),
                "token_label": self.token_label,
                "token_serial": self.token_serial,
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, path: Path) -> SealedDataKey:
        """Read the file's bytes.

        Raises:
            OutboxError: it is not a sealed data key of this format.
        """
        try:
            value = json.loads(data)
            if value.get("format") != DATA_KEY_FORMAT:
                raise ValueError(f"format {value.get('format')!r}, not {DATA_KEY_FORMAT}")
            return cls(
                device_id=str(value["device_id"]),
                key_id=bytes.fromhex(value["key_id"]),
                key_check=str(value["key_check"]),
                sealed=base64.b64decode(value["sealed"], validate=True),
                token_label=value.get("token_label"),
                token_serial=value.get("token_serial"),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
            raise OutboxError(
                f"the sealed data key {path} is unreadable ({e}): it was altered; restore it "
                "from the appliance's backup, or the outbox's results cannot be read"
            ) from e


def sealer_for(settings: EdgeSettings, *, may_create: bool) -> Sealer:
    """The outbox's sealer: the data key unsealed on the configured token, or, when there is
    none yet and `may_create`, a new random data key sealed there (the token's sealing key is
    made too if missing). No PIN is needed. Two processes starting at once (the kiosk and the
    agent) agree on one key: the check and the creation run under a lock file.

    Args:
        settings: the appliance's settings (token, device id, data_dir).
        may_create: whether a missing data key may be made (false when the outbox is already
            sealed: a new key would not open it).

    Raises:
        ConfigError: no token is configured.
        OutboxError: the data key is missing (and may not be made), unreadable, belongs to
            another device, or does not open with this token (the token absent, another
            appliance's data, a wiped appliance): the message says which.
    """
    if settings.token_label is None and settings.token_serial is None:
        raise ConfigError(
            "outbox_sealing needs the token whose key seals the outbox: set token_label or "
            "token_serial"
        )
    from edge.signing.token import Token  # PKCS#11 only where sealing is on

    _warn_if_software_token(settings)
    path = data_key_path(settings)
    with _keys_lock(settings):
        if path.exists():
            return _unseal(settings, path)
        if not may_create:
            raise OutboxError(
                f"the outbox in {settings.outbox_dir} is sealed, but its data key {path} is "
                "missing: restore that file (a wiped appliance has none, and its results cannot "
                "be read again)"
            )
        data_key = AESGCM.generate_key(bit_length=256)
        key_id = sealing_key_id(settings.device_id)
        record = SealedDataKey(
            settings.device_id,
            key_id,
            key_check_of(data_key),
            b"",
            settings.token_label,
            settings.token_serial,
        )
        try:
            sealed = Token.seal_secret(
                settings.pkcs11_module,
                label=settings.token_label,
                serial=settings.token_serial,
                key_id=key_id,
                secret=data_key,
                aad=record.aad,
                create_key=True,
            )
        except TokenError as e:
            raise OutboxError(f"cannot seal the outbox's new data key on the token: {e}") from e
        record = SealedDataKey(
            record.device_id,
            key_id,
            record.key_check,
            sealed,
            record.token_label,
            record.token_serial,
        )
        try:
            write_atomic(path, record.to_json(), mode=_file_mode(settings))
        except OSError as e:
            raise OutboxError(
                f"cannot write the sealed data key {path}: {e.strerror}; check that data_dir is "
                "writable and not full"
            ) from e
        log.info("made the outbox's data key, sealed by the token (key check %s)", record.key_check)
        return Sealer(data_key)


def _unseal(settings: EdgeSettings, path: Path) -> Sealer:
    from edge.signing.token import Token

    try:
        record = SealedDataKey.from_json(path.read_bytes(), path)
    except OSError as e:
        raise OutboxError(f"cannot read the sealed data key {path}: {e.strerror}") from e
    if record.device_id != settings.device_id:
        raise OutboxError(
            f"the data key {path} is appliance {record.device_id}'s, and this is "
            f"{settings.device_id}: this data_dir comes from another appliance and its outbox "
            "cannot be read here"
        )
    token = _token_text(record.token_label, record.token_serial)
    try:
        data_key = Token.unseal_secret(
            settings.pkcs11_module,
            label=settings.token_label,
            serial=settings.token_serial,
            key_id=record.key_id,
            sealed=record.sealed,
            aad=record.aad,
        )
    except TokenError as e:
        raise OutboxError(
            f"cannot unseal the outbox's data key {path} (sealed by token {token}): {e}"
        ) from e
    if data_key is None:
        raise OutboxError(
            f"the configured token holds no sealing key {record.key_id.hex()}, which sealed the "
            f"outbox's data key {path} (token {token}): this data_dir comes from another "
            "appliance, or this appliance was wiped; its outbox cannot be read. Plug in the "
            "appliance's own token, or move data_dir aside and start afresh"
        )
    if len(data_key) != DATA_KEY_BYTES or key_check_of(data_key) != record.key_check:
        raise OutboxError(
            f"the data key unsealed from {path} is not the one the file names: the file was "
            "altered; restore it from the appliance's backup"
        )
    return Sealer(data_key)


def destroy_keys(settings: EdgeSettings) -> tuple[int | None, bool, str | None]:
    """Destroy this appliance's sealing key on the token, then its sealed data key file (the
    first half of a wipe): whatever they sealed can never be opened again, by anyone.

    Returns:
        (sealing keys destroyed on the token, None when no token is configured; whether the
        data key file was there; the token's error if the key could not be destroyed).
    """
    from edge.signing.token import Token

    destroyed: int | None = None
    problem = None
    if settings.token_label is not None or settings.token_serial is not None:
        try:
            destroyed = Token.destroy_sealing_key(
                settings.pkcs11_module,
                label=settings.token_label,
                serial=settings.token_serial,
                key_id=sealing_key_id(settings.device_id),
            )
        except TokenError as e:
            problem = str(e)
    path = data_key_path(settings)
    with _keys_lock(settings):
        existed = path.exists()
        if existed:
            overwrite_and_remove(path)
    return destroyed, existed, problem


def overwrite_and_remove(path: Path) -> None:
    """Overwrite a file with zeros (and sync it) before removing it, so that its blocks do not
    keep its bytes on the file system (a flash card's own remapping may still keep a copy: the
    sealing, not this, is what protects data on the card)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(min(size, 1 << 20))
        done = 0
        while done < size:
            done += os.pwrite(fd, zeros[: size - done], done)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)


@contextmanager
def _keys_lock(settings: EdgeSettings) -> Iterator[None]:
    """An exclusive lock (flock) on `<data_dir>/keys/.lock`, across processes."""
    folder = keys_dir(settings)
    try:
        _make_keys_dir(folder, settings)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, _file_mode(settings))
    except OSError as e:
        raise OutboxError(
            f"cannot use {folder}: {e.strerror}; check that data_dir is writable"
        ) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _make_keys_dir(folder: Path, settings: EdgeSettings) -> None:
    mode = GROUP_DIR if settings.outbox_shared_with_group else PRIVATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o7777 != mode:
        folder.chmod(mode)


def _file_mode(settings: EdgeSettings) -> int:
    # The kiosk's and the agent's users both unseal the data key on an appliance.
    return GROUP_FILE if settings.outbox_shared_with_group else PRIVATE_FILE


def _token_text(label: str | None, serial: str | None) -> str:
    parts = [repr(label)] if label else []
    if serial:
        parts.append(f"serial {serial}")
    return " ".join(parts) or "(unnamed)"


_warned: set[Path] = set()


def _warn_if_software_token(settings: EdgeSettings) -> None:
    """Say once per process and module when the sealing key is on SoftHSM2, whose token
    directory keeps a public key's value in clear (only private objects are encrypted under
    the PIN): if that directory is on the appliance's card, the card carries the key."""
    module = settings.pkcs11_module
    if "softhsm" in module.name.lower() and module not in _warned:
        _warned.add(module)
        log.warning(
            "the outbox's sealing key is on a SoftHSM2 token: SoftHSM2 keeps it in clear in its "
            "token directory, so on an appliance whose SoftHSM2 tokens are on the same card "
            "the card alone opens the outbox; use a hardware token or HSM for encryption at rest"
        )
