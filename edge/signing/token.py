"""The PKCS#11 token adapter: the only module of Sohoa that touches python-pkcs11 sessions.

A `Token` is one logged-in read/write session on one token, kept open for the appliance's life
and guarded by a lock (a PKCS#11 session must not run two operations at once). Rules:

- python-pkcs11 stops here: its session, objects and key types never leave this module, and every
  `PKCS11Error` becomes a `TokenError` that says what failed and what to do. What the PAdES
  signer (`edge.signing.pades`) needs is `certificate` and `sign` (a raw signature, as CMS holds
  it), and `exclusive` to hold the token across one document's signature.

- Keys and certificates are selected by CKA_ID, never by label: vendor modules are unreliable
  with labels (DOMAIN.md). A device's signing key and its certificate share one ID.
- The document-signing key is made on the token, sensitive and non-extractable: it never leaves.
- A wrong PIN is reported and never retried: real tokens lock after about three wrong tries.
- PKCS#11 login state belongs to the process, not to a session, so one process opens each token
  once; `Token.open` refuses a second `Token` on a token that is already open here.
- A module reads its configuration and lists its slots at `C_Initialize`, and python-pkcs11
  initialises a module once per process. SoftHSM2, for one, does not see tokens initialised (by
  `softhsm2-util`) after that, nor a new `SOFTHSM2_CONF`. So `Token.open` re-initialises the module
  (C_Finalize + C_Initialize) before looking for the token whenever no `Token` of this process has
  a session open on it; with sessions open it cannot (that would end them) and says so.
- The sealing key (encryption at rest, `edge.sync.sealing`) is the one key used without the PIN:
  an AES-256 secret key made on the token, public (CKA_PRIVATE false, so the unattended sync
  agent can use it), sensitive, never extractable, able only to encrypt and decrypt (AES-GCM).
  Its methods are class methods that open a public session, do one operation and close it,
  all under the module lock, so they never meet a re-initialisation and never hold a slot.
  SoftHSM2 keeps a public key's value unencrypted in its token directory (only private objects
  are encrypted under the user PIN): there the key is as safe as that directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pkcs11
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import (
    Attribute,
    GCMParams,
    KeyType,
    Mechanism,
    MechanismFlag,
    ObjectClass,
    TokenFlag,
)
from pkcs11 import exceptions as p11
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from pkcs11.util.x509 import decode_x509_certificate

from edge.errors import PinError, TokenError
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

SEALING_KEY_LABEL = "sohoa outbox sealing key"
"""The label of the sealing key (informative only: it is found by CKA_ID)."""
SEALING_NONCE_BYTES = 12
"""The AES-GCM nonce of a secret sealed on the token (96 bits, random; NIST SP 800-38D)."""
SEALING_TAG_BITS = 128
"""The AES-GCM tag of a secret sealed on the token."""

SIGNING_CURVE = "secp256r1"
"""The curve of document-signing keys (NIST P-256: every token and every verifier has it)."""


class KeyAlgorithm(Enum):
    """The document-signing key pairs a token can be asked to generate."""

    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    @property
    def rsa_bits(self) -> int | None:
        """The modulus size of an RSA algorithm, None for EC."""
        return {"rsa-2048": 2048, "rsa-3072": 3072}.get(self.value)


class KeyKind(Enum):
    """The kind of a key pair on the token: what its signatures are made with."""

    EC = "ec"
    RSA = "rsa"


_RSA_MECHANISMS = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
"""RSA PKCS#1 v1.5 with the hash done on the token, by digest algorithm."""

_MODULE_HINT = (
    "install the token's PKCS#11 driver (for SoftHSM2: `apt-get install softhsm2`; for a USB "
    "token: the vendor's driver) or correct the module path in the configuration"
)

# Which modules (by path) have a Token open in this process, and on which slots. Guarded by
# _registry_lock. Used to know when re-initialising a module is safe, and to refuse a second
# login to the same token.
# The same lock serialises every call this process makes into a PKCS#11 module, every Token's
# included: python-pkcs11 initialises modules without locking callbacks, so a module may assume
# one caller at a time. Two tokens used from two threads (the kiosk signs while its drafts are
# sealed and its status line probes the token) crashed SoftHSM2 without it (segfaults:
# tests/edge/signing/test_token_threads.py). Re-entrant: a Token method holding it may call
# another, or open a public session.
_registry_lock = threading.RLock()
_open_slots: dict[str, set[int]] = {}


@dataclass(frozen=True)
class KeyProtection:
    """How a private key is protected, as the token reports it (PKCS#11 key attributes).

    Attributes:
        on_token: CKA_TOKEN — stored on the token, not a session object.
        private: CKA_PRIVATE — usable only after login.
        sensitive: CKA_SENSITIVE — its value cannot be read in clear.
        extractable: CKA_EXTRACTABLE — it could be wrapped and exported.
        always_sensitive: CKA_ALWAYS_SENSITIVE — it has been sensitive since it was made.
        never_extractable: CKA_NEVER_EXTRACTABLE — it has never been extractable.
        local: CKA_LOCAL — it was generated on the token (not imported).
    """

    on_token: bool
    private: bool
    sensitive: bool
    extractable: bool
    always_sensitive: bool
    never_extractable: bool
    local: bool


class Token(Closeable):
    """One open, logged-in session on a PKCS#11 token, safe to share between threads.

    Make one with `Token.open`; close it with `close()` or use it as a context manager.
    """

    def __init__(self, module_path: Path, module: Any, token: Any, session: pkcs11.Session) -> None:
        """Wrap an open session; use `Token.open` instead of calling this."""
        self._module_path = module_path
        self._module = module
        self._token = token
        self._slot_id: int = token.slot.slot_id
        self._session: pkcs11.Session | None = session
        self._signing_keys: dict[bytes, Any] = {}
        """Private key objects by CKA_ID, looked up once: a find per signature is not free."""
        # The process-wide module lock (see `_registry_lock`), re-entrant.
        self._lock = _registry_lock

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        module_path: Path,
        *,
        label: str | None = None,
        serial: str | None = None,
        pin: str,
    ) -> Token:
        """Open a read/write session on the token with `label` (or `serial`) and log in.

        Args:
            module_path: the PKCS#11 module (shared library) of the token's driver.
            label: the token's label.
            serial: the token's serial number (use it when labels are not unique).
            pin: the user PIN. Tried exactly once.

        Returns:
            The open token.

        Raises:
            TokenError: the module is missing or broken, the token is not there (the message lists
                the tokens that are), the PIN was refused or is locked, or the token is already
                open in this process.
        """
        if label is None and serial is None:
            raise TokenError("say which token to open: give its label or its serial number")
        path = Path(module_path)
        if not path.is_file():
            raise TokenError(f"the PKCS#11 module {path} does not exist: {_MODULE_HINT}")
        key = str(path)
        with _registry_lock:
            module = _fresh_module(path)
            found = _find_token(module, path, label=label, serial=serial)
            slot_id: int = found.slot.slot_id
            wanted = _token_name(label, serial)
            if slot_id in _open_slots.get(key, set()):
                raise TokenError(
                    f"token {wanted} is already open in this process: use that Token (one "
                    "session per token, PKCS#11 login is per process)"
                )
            _check_flags(found.flags, wanted)
            session = _login(found, pin, wanted)
            _open_slots.setdefault(key, set()).add(slot_id)
        log.info("opened PKCS#11 token %s in slot %d of %s", wanted, slot_id, path)
        return cls(path, module, found, session)

    def close(self) -> None:
        """Log out and close the session. Safe to call twice.

        Raises:
            TokenError: the token reported an error while closing (the session is dropped anyway).
        """
        with self._lock:
            session, self._session = self._session, None
            self._signing_keys.clear()
            if session is None:
                return
            # Closed under the registry lock: once the slot is no longer ours, another thread
            # may re-initialise the module, which must not happen in the middle of this close.
            with _registry_lock:
                _open_slots.get(str(self._module_path), set()).discard(self._slot_id)
                try:
                    session.close()
                except (p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved):
                    # Already gone (token pulled out, module re-initialised): nothing to close.
                    pass
                except p11.PKCS11Error as e:
                    raise TokenError(f"closing the token session failed: {_describe(e)}") from e

    # -- what the token is ---------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The token's label."""
        return str(self._token.label)

    @property
    def serial(self) -> str:
        """The token's serial number."""
        return _serial_text(self._token.serial)

    @property
    def module_path(self) -> Path:
        """The PKCS#11 module this token was opened through."""
        return self._module_path

    @property
    def closed(self) -> bool:
        """True once `close()` ran."""
        return self._session is None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the token's lock for a sequence of operations (e.g. one document's signature:
        its certificate check and its `sign`), so that no other thread's operation comes
        between them. The token's own methods take the lock again (it is re-entrant).

        Raises:
            TokenError: the token was closed.
        """
        with self._lock:
            self._open_session()
            yield

    def sign(self, key_id: bytes, data: bytes, digest_algorithm: str = "sha256") -> bytes:
        """Sign `data` with the private key `key_id`, as CMS holds the signature.

        EC keys: `data` is hashed here and signed raw (CKM_ECDSA: every module has it;
        SoftHSM2 has no CKM_ECDSA_SHA256), and the signature returned DER-encoded
        (ECDSA-Sig-Value). RSA keys: PKCS#1 v1.5 with the hash done on the token.

        Args:
            key_id: the CKA_ID of the signing key.
            data: the bytes to sign (for CMS: the DER of the signed attributes).
            digest_algorithm: "sha256", "sha384" or "sha512".

        Returns:
            The signature.

        Raises:
            TokenError: no such key, the token was closed or removed, or it refused to sign.
        """
        with self._lock:
            session = self._open_session()
            try:
                key = self._signing_keys.get(key_id)
                if key is None:
                    key = self._private_key(session, key_id)
                    self._signing_keys[key_id] = key
                if key[Attribute.KEY_TYPE] == KeyType.EC:
                    digest = hashlib.new(digest_algorithm, data).digest()
                    return bytes(
                        encode_ecdsa_signature(key.sign(digest, mechanism=Mechanism.ECDSA))
                    )
                mechanism = _RSA_MECHANISMS.get(digest_algorithm)
                if mechanism is None:
                    raise TokenError(
                        f"RSA signatures here hash with {', '.join(_RSA_MECHANISMS)}, not "
                        f"{digest_algorithm}"
                    )
                return bytes(key.sign(data, mechanism=mechanism))
            except p11.PKCS11Error as e:
                # The key object may be what went stale (the token was pulled out).
                self._signing_keys.pop(key_id, None)
                raise TokenError(
                    f"token {self.label!r} could not sign with key {key_id.hex()} "
                    f"({type(e).__name__}): check that it is plugged in and open it again"
                ) from e

    # -- keys and certificates -----------------------------------------------------------------

    def generate_signing_key(
        self, key_id: bytes, label: str, algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    ) -> None:
        """Generate a document-signing key pair on the token, stored under `key_id`.

        The private key is sensitive, non-extractable, private and can only sign.

        Args:
            key_id: the CKA_ID of the new key pair (and later of its certificate).
            label: a human-readable label (informative only: keys are found by ID).
            algorithm: EC P-256 (the default: small, fast signatures) or RSA-2048/3072 (for
                tokens or relying parties without EC).

        Raises:
            TokenError: a key with this ID exists already, or the token refused.
        """
        public_template = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
        }
        with self._op("generate the signing key") as session:
            if _find(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}):
                raise TokenError(
                    f"token {self.label!r} already holds a private key with ID {key_id.hex()}: "
                    "choose another ID or use that key"
                )
            bits = algorithm.rsa_bits
            if bits is None:
                params = session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(SIGNING_CURVE)},
                    local=True,
                )
                params.generate_keypair(
                    id=key_id,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template=public_template,
                    private_template={**private_template, Attribute.DERIVE: False},
                )
            else:
                session.generate_keypair(
                    KeyType.RSA,
                    bits,
                    id=key_id,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template=public_template,
                    private_template={**private_template, Attribute.DECRYPT: False},
                )
        log.info(
            "generated a %s signing key (ID %s) on token %r",
            algorithm.value,
            key_id.hex(),
            self.label,
        )

    def key_protection(self, key_id: bytes) -> KeyProtection:
        """Report how the private key `key_id` is protected.

        Raises:
            TokenError: no such key, or the token refused.
        """
        with self._op("read the key's attributes") as session:
            key = self._private_key(session, key_id)
            return _protection(key)

    def public_key_der(self, key_id: bytes) -> bytes:
        """The DER SubjectPublicKeyInfo of the key pair `key_id` (from its public key object).

        Raises:
            TokenError: no public key object with this ID, or the token refused.
        """
        with self._op("read the public key") as session:
            found = _find(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id})
            if len(found) != 1:
                raise TokenError(
                    f"token {self.label!r} has {len(found)} public keys with ID {key_id.hex()}, "
                    "expected one: generate the signing key first"
                )
            der = _public_key_der(found[0])
            if der is None:
                raise TokenError(
                    f"the key with ID {key_id.hex()} is neither EC nor RSA: use another key"
                )
            return der

    def make_csr(self, key_id: bytes, common_name: str) -> x509.CertificateSigningRequest:
        """Make a certificate signing request for key `key_id`, signed by that key on the token.

        Args:
            key_id: the key pair's CKA_ID.
            common_name: the subject's commonName (the device_id).

        Returns:
            The CSR, whose signature has been checked.

        Raises:
            TokenError: no such key, the token refused, or the CSR does not verify.
        """
        spki = asn1_keys.PublicKeyInfo.load(self.public_key_der(key_id))
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
        info = asn1_csr.CertificationRequestInfo(
            {
                "version": "v1",
                "subject": asn1_x509.Name.load(subject.public_bytes()),
                "subject_pk_info": spki,
                "attributes": [],
            }
        )
        with self._op("sign the certificate request") as session:
            key = self._private_key(session, key_id)
            if key[Attribute.KEY_TYPE] == KeyType.RSA:
                algorithm = "sha256_rsa"
                signature = key.sign(info.dump(), mechanism=Mechanism.SHA256_RSA_PKCS)
            else:
                # Hash here and sign raw (CKM_ECDSA): every module has it; SoftHSM2 has no
                # CKM_ECDSA_SHA256.
                algorithm = "sha256_ecdsa"
                digest = hashlib.sha256(info.dump()).digest()
                signature = encode_ecdsa_signature(key.sign(digest, mechanism=Mechanism.ECDSA))
        request = asn1_csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": algorithm},
                "signature": signature,
            }
        )
        csr = x509.load_der_x509_csr(request.dump())
        if not csr.is_signature_valid:
            raise TokenError(
                f"the token's signature on the certificate request for key {key_id.hex()} does not "
                "verify: the token or its driver is faulty"
            )
        return csr

    def import_certificate(self, cert: x509.Certificate, key_id: bytes, label: str) -> None:
        """Store `cert` on the token as the certificate of key pair `key_id` (same CKA_ID).

        A certificate already stored under `key_id` is replaced (re-enrollment).

        Raises:
            TokenError: the certificate is not for this key, or the token refused.
        """
        cert_spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if cert_spki != self.public_key_der(key_id):
            raise TokenError(
                f"the certificate for {_subject_cn(cert)!r} is not for the key with ID "
                f"{key_id.hex()} on token {self.label!r}: import the certificate issued for it"
            )
        der = cert.public_bytes(serialization.Encoding.DER)
        template = decode_x509_certificate(der)
        template.update(
            {
                Attribute.ID: key_id,
                Attribute.LABEL: label,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
            }
        )
        with self._op("store the certificate") as session:
            for old in _find(
                session, {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id}
            ):
                old.destroy()
            session.create_object(template)
        log.info("stored certificate for key ID %s on token %r", key_id.hex(), self.label)

    def destroy_key(self, key_id: bytes) -> int:
        """Delete the key pair and certificate stored under `key_id` (an enrollment that did not
        finish leaves nothing on the token).

        Returns:
            How many objects were deleted.

        Raises:
            TokenError: the token refused.
        """
        with self._op("delete the key") as session:
            found = _find(session, {Attribute.ID: key_id})
            for obj in found:
                obj.destroy()
        log.info("deleted %d objects with ID %s on token %r", len(found), key_id.hex(), self.label)
        return len(found)

    def certificate(self, key_id: bytes) -> x509.Certificate:
        """The certificate stored under `key_id`.

        Raises:
            TokenError: none (or several) stored, or the token refused.
        """
        with self._op("read the certificate") as session:
            found = _find(session, {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id})
            if len(found) != 1:
                raise TokenError(
                    f"token {self.label!r} has {len(found)} certificates with ID {key_id.hex()}, "
                    "expected one: enroll the device (import its signing certificate)"
                )
            der = bytes(found[0][Attribute.VALUE])
        return x509.load_der_x509_certificate(der)

    def find_key_id_for_certificate(self, cert: x509.Certificate) -> bytes | None:
        """The CKA_ID of the key pair whose public key is `cert`'s, or None if there is none.

        Matches public keys, not labels (vendor tokens label inconsistently).

        Raises:
            TokenError: the token refused.
        """
        wanted = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with self._op("look for the certificate's key") as session:
            for obj in _find(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY}):
                key_id = bytes(obj[Attribute.ID])
                if _public_key_der(obj) == wanted:
                    return key_id
        return None

    def key_kind(self, key_id: bytes) -> KeyKind:
        """The kind (EC or RSA) of the private key `key_id`.

        Raises:
            TokenError: no such key, a kind Sohoa does not sign with, or the token refused.
        """
        with self._op("read the key type") as session:
            kind = self._private_key(session, key_id)[Attribute.KEY_TYPE]
        if kind == KeyType.EC:
            return KeyKind.EC
        if kind == KeyType.RSA:
            return KeyKind.RSA
        raise TokenError(f"the key with ID {key_id.hex()} is neither EC nor RSA: use another key")

    # -- the sealing key: used without the PIN -------------------------------------------------

    @classmethod
    def seal_secret(
        cls,
        module_path: Path,
        *,
        label: str | None,
        serial: str | None,
        key_id: bytes,
        secret: bytes,
        aad: bytes,
        create_key: bool = False,
    ) -> bytes:
        """Encrypt `secret` on the token with the sealing key `key_id` (AES-256-GCM, a random
        96-bit nonce, `aad` authenticated), without the PIN.

        Args:
            module_path: the token's PKCS#11 module.
            label: the token's label.
            serial: the token's serial number.
            key_id: the CKA_ID of the sealing key.
            secret: what to seal (a data key: a few dozen bytes).
            aad: data bound to the sealed secret (it must be given again to unseal it).
            create_key: generate the sealing key on the token if it holds none with `key_id`
                (in a public read/write session: PKCS#11 lets one create public objects).

        Returns:
            The nonce followed by the ciphertext and its tag.

        Raises:
            TokenError: the token is absent, holds no such key (and `create_key` is false),
                cannot do AES-GCM, or refused.
        """
        with cls._public_session(
            module_path, label=label, serial=serial, rw=create_key, action="seal a secret"
        ) as (found, session):
            key = cls._sealing_key(session, key_id)
            if key is None:
                if not create_key:
                    raise TokenError(
                        f"token {_token_name(label, serial)} holds no sealing key with ID "
                        f"{key_id.hex()}: it was destroyed (a wipe), or this is another token"
                    )
                key = cls._generate_sealing_key(found, session, key_id)
            nonce = os.urandom(SEALING_NONCE_BYTES)
            sealed = key.encrypt(
                secret,
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, aad, SEALING_TAG_BITS),
            )
            return nonce + bytes(sealed)

    @classmethod
    def unseal_secret(
        cls,
        module_path: Path,
        *,
        label: str | None,
        serial: str | None,
        key_id: bytes,
        sealed: bytes,
        aad: bytes,
    ) -> bytes | None:
        """Decrypt what `seal_secret` made, on the token, without the PIN.

        Args:
            module_path, label, serial: the token, as for `seal_secret`.
            key_id: the CKA_ID of the sealing key.
            sealed: the nonce, ciphertext and tag.
            aad: the data bound to it when it was sealed.

        Returns:
            The secret, or None when the token holds no sealing key with `key_id` (destroyed by
            a wipe, or another token).

        Raises:
            TokenError: the token is absent or refused, or `sealed` does not open with the key
                (altered, bound to other data, or sealed under another key).
        """
        with cls._public_session(
            module_path, label=label, serial=serial, rw=False, action="unseal a secret"
        ) as (_found, session):
            key = cls._sealing_key(session, key_id)
            if key is None:
                return None
            nonce, body = sealed[:SEALING_NONCE_BYTES], sealed[SEALING_NONCE_BYTES:]
            try:
                return bytes(
                    key.decrypt(
                        body,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, aad, SEALING_TAG_BITS),
                    )
                )
            except (
                p11.GeneralError,  # SoftHSM2's answer to a wrong tag
                p11.EncryptedDataInvalid,
                p11.EncryptedDataLenRange,
                p11.DataLenRange,
                p11.MechanismParamInvalid,
            ) as e:
                raise TokenError(
                    f"a secret sealed by token {_token_name(label, serial)} does not open with "
                    f"its sealing key {key_id.hex()} ({type(e).__name__}): it was altered, or "
                    "sealed under another key"
                ) from e

    @classmethod
    def destroy_sealing_key(
        cls, module_path: Path, *, label: str | None, serial: str | None, key_id: bytes
    ) -> int:
        """Destroy the sealing key `key_id` on the token, without the PIN: whatever it sealed
        can never be opened again.

        Returns:
            How many objects were destroyed (0: there was none).

        Raises:
            TokenError: the token is absent or refused.
        """
        with cls._public_session(
            module_path, label=label, serial=serial, rw=True, action="destroy the sealing key"
        ) as (_found, session):
            found = _find(session, {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.ID: key_id})
            for obj in found:
                obj.destroy()
        log.info("destroyed %d sealing key(s) with ID %s", len(found), key_id.hex())
        return len(found)

    @classmethod
    def sealing_key_protection(
        cls, module_path: Path, *, label: str | None, serial: str | None, key_id: bytes
    ) -> KeyProtection | None:
        """How the sealing key `key_id` is protected, as the token reports it, or None when the
        token holds none.

        Raises:
            TokenError: the token is absent or refused.
        """
        with cls._public_session(
            module_path, label=label, serial=serial, rw=False, action="read the sealing key"
        ) as (_found, session):
            key = cls._sealing_key(session, key_id)
            if key is None:
                return None
            return _protection(key)

    def generate_sealing_key(self, key_id: bytes) -> bool:
        """Make the sealing key `key_id` in this logged-in session, if the token holds none:
        for tokens that let no key be made in a public session (enrollment or the kiosk's
        unlock can call it; `seal_secret` makes it without the PIN where the token allows).

        Returns:
            True if it was made, False if it was there already.

        Raises:
            TokenError: the token cannot do AES-GCM, or refused.
        """
        with self._op("generate the sealing key") as session:
            if self._sealing_key(session, key_id) is not None:
                return False
            self._generate_sealing_key(self._token, session, key_id)
        return True

    @staticmethod
    def _sealing_key(session: pkcs11.Session, key_id: bytes) -> Any:
        """The sealing key `key_id`, or None."""
        found = _find(
            session,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.ID: key_id,
            },
        )
        return found[0] if found else None

    @staticmethod
    def _generate_sealing_key(found: Any, session: pkcs11.Session, key_id: bytes) -> Any:
        """Generate the sealing key on the token: AES-256, a token object, public (usable
        without the PIN), sensitive and never extractable, able only to encrypt and decrypt,
        its attributes fixed."""
        if Mechanism.AES_GCM not in set(found.slot.get_mechanisms()):
            raise TokenError(
                f"token {str(found.label)!r} cannot do AES-GCM (CKM_AES_GCM), which sealing "
                "the appliance's data at rest needs: use a token that can"
            )
        key = session.generate_key(
            KeyType.AES,
            256,
            id=key_id,
            label=SEALING_KEY_LABEL,
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.MODIFIABLE: False,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
                Attribute.DERIVE: False,
            },
        )
        log.info("generated the sealing key (ID %s) on token %r", key_id.hex(), str(found.label))
        return key

    @classmethod
    @contextmanager
    def _public_session(
        cls,
        module_path: Path,
        *,
        label: str | None,
        serial: str | None,
        rw: bool,
        action: str,
    ) -> Iterator[tuple[Any, pkcs11.Session]]:
        """A session without login on the token, open for one operation and closed after it.

        Held under the module lock, like `Token.open`: no other thread re-initialises the module
        meanwhile, and the session is closed before anyone may. A logged-in `Token` of this
        process on the same token stays as it is (a session's close does not log out).

        Raises:
            TokenError: the module or the token is missing, or the token refused (`action`
                says what was being done).
        """
        if label is None and serial is None:
            raise TokenError("say which token holds the sealing key: give its label or serial")
        path = Path(module_path)
        if not path.is_file():
            raise TokenError(f"the PKCS#11 module {path} does not exist: {_MODULE_HINT}")
        wanted = _token_name(label, serial)
        with _registry_lock:
            module = _fresh_module(path)
            found = _find_token(module, path, label=label, serial=serial)
            if not found.flags & TokenFlag.TOKEN_INITIALIZED:
                raise TokenError(f"token {wanted} is not initialised: initialise it first")
            try:
                session = found.open(rw=rw)
            except p11.PKCS11Error as e:
                raise TokenError(
                    f"token {wanted} could not open a session to {action}: {_describe(e)}"
                ) from e
            try:
                yield found, session
            except p11.PKCS11Error as e:
                raise TokenError(f"token {wanted} could not {action}: {_describe(e)}") from e
            finally:
                try:
                    session.close()
                except p11.PKCS11Error as e:
                    log.debug("closing a public session failed: %s", _describe(e))

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _op(self, action: str) -> Iterator[pkcs11.Session]:
        """Hold the lock and turn python-pkcs11 errors into TokenError naming `action`."""
        with self._lock:
            session = self._open_session()
            try:
                yield session
            except p11.PKCS11Error as e:
                raise TokenError(f"token {self.label!r} could not {action}: {_describe(e)}") from e

    def _open_session(self) -> pkcs11.Session:
        """The open session (hold the lock while using it).

        Raises:
            TokenError: the token was closed.
        """
        session = self._session
        if session is None:
            raise TokenError(f"token {self.label!r} is closed: open it again")
        return session

    def _private_key(self, session: pkcs11.Session, key_id: bytes) -> Any:
        found = _find(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id})
        if len(found) != 1:
            raise TokenError(
                f"token {self.label!r} has {len(found)} private keys with ID {key_id.hex()}, "
                "expected one: generate the signing key or fix the configured key ID"
            )
        return found[0]


def _public_key_der(key: Any) -> bytes | None:
    """The DER SubjectPublicKeyInfo of an EC or RSA public key object; None for other types."""
    kind = key[Attribute.KEY_TYPE]
    if kind == KeyType.EC:
        return bytes(encode_ec_public_key(key))
    if kind == KeyType.RSA:  # as certificates hold it: SubjectPublicKeyInfo, DER
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(key[Attribute.MODULUS], "big"),
        )
        return numbers.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return None


def token_present(
    module_path: Path, *, label: str | None = None, serial: str | None = None
) -> bool:
    """Whether the token is plugged in and answers: looked up among the module's slots, with no
    session opened and no PIN (for the appliance's heartbeat and kiosk status line).

    Raises:
        TokenError: the module itself cannot be loaded (a set-up problem, not an absent token).
    """
    path = Path(module_path)
    if not path.is_file():
        raise TokenError(f"the PKCS#11 module {path} does not exist: {_MODULE_HINT}")
    # The lookup holds the registry lock too: another thread's `_fresh_module` may re-initialise
    # the module (C_Finalize) meanwhile, and a slot list walked across that crashes the process
    # (seen: the kiosk's status read while its lock screen opened the token).
    with _registry_lock:
        module = _fresh_module(path)
        try:
            _find_token(module, path, label=label, serial=serial)
        except TokenError as e:
            log.debug("token not present: %s", e)
            return False
    return True


def _fresh_module(path: Path) -> Any:
    """The loaded module, its slot list read afresh when nothing of ours is open on it (so that
    tokens initialised or plugged in since it was first loaded are seen). Hold `_registry_lock`."""
    module = _load_module(path)
    if not _open_slots.get(str(path)):
        try:
            module.reinitialize()
        except p11.PKCS11Error as e:
            raise TokenError(
                f"the PKCS#11 module {path} could not be re-initialised: {_describe(e)}"
            ) from e
    return module


def _load_module(path: Path) -> Any:
    try:
        return pkcs11.lib(str(path))
    except p11.PKCS11Error as e:
        raise TokenError(
            f"the PKCS#11 module {path} could not be loaded ({e}): {_MODULE_HINT}"
        ) from e


def _find_token(module: Any, path: Path, *, label: str | None, serial: str | None) -> Any:
    """The one token matching `label`/`serial`, or a TokenError listing the tokens present."""
    present = []
    try:
        for slot in module.get_slots(token_present=True):
            try:
                present.append(slot.get_token())
            except (p11.TokenNotPresent, p11.TokenNotRecognised):
                continue
    except p11.PKCS11Error as e:
        raise TokenError(f"the PKCS#11 module {path} cannot list its slots: {_describe(e)}") from e
    matches = [
        t
        for t in present
        if (label is None or t.label == label)
        and (serial is None or _serial_text(t.serial) == serial)
    ]
    wanted = _token_name(label, serial)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise TokenError(
            f"{len(matches)} tokens match {wanted} in {path}: select the token by serial number"
        )
    labels = [t.label for t in present if t.flags & TokenFlag.TOKEN_INITIALIZED]
    listed = ", ".join(repr(lb) for lb in labels) if labels else "none"
    hint = "plug the token in or fix the configured label"
    if _open_slots.get(str(path)):
        hint += (
            "; a token initialised after this process first opened the module is seen only "
            "once every open Token of this process is closed"
        )
    raise TokenError(f"no token {wanted} in {path} (tokens present: {listed}): {hint}")


def _check_flags(flags: TokenFlag, wanted: str) -> None:
    if not flags & TokenFlag.TOKEN_INITIALIZED:
        raise TokenError(f"token {wanted} is not initialised: initialise it first")
    if flags & TokenFlag.USER_PIN_LOCKED:
        raise PinError(
            f"the user PIN of token {wanted} is locked after too many wrong tries: have the "
            "security officer unlock it (or replace the token); it was not tried again",
            locked=True,
        )
    if not flags & TokenFlag.USER_PIN_INITIALIZED:
        raise TokenError(f"token {wanted} has no user PIN yet: set one with the SO PIN")


def _login(found: Any, pin: str, wanted: str) -> pkcs11.Session:
    """Open a read/write session and log in, once; map each refusal to an actionable error."""
    try:
        return found.open(user_pin=pin, rw=True)  # type: ignore[no-any-return]
    except p11.PinIncorrect as e:
        warning = ""
        flags = _fresh_flags(found) or TokenFlag(0)
        locked = bool(flags & TokenFlag.USER_PIN_LOCKED)
        final_try = bool(flags & TokenFlag.USER_PIN_FINAL_TRY)
        count_low = bool(flags & TokenFlag.USER_PIN_COUNT_LOW)
        if locked:
            warning = " It is now locked: have the security officer unlock it."
        elif final_try:
            warning = " One more wrong PIN will lock it."
        elif count_low:
            warning = " Few tries are left before it locks."
        raise PinError(
            f"token {wanted} refused the PIN. It was not retried: enter the right PIN.{warning}",
            locked=locked,
            final_try=final_try,
            count_low=count_low,
        ) from e
    except p11.PinLocked as e:
        raise PinError(
            f"the user PIN of token {wanted} is locked: have the security officer unlock it",
            locked=True,
        ) from e
    except (p11.PinLenRange, p11.PinInvalid) as e:
        raise TokenError(f"token {wanted} refused the PIN's length or characters") from e
    except p11.PinExpired as e:
        raise TokenError(f"the PIN of token {wanted} has expired: change it first") from e
    except (p11.UserAlreadyLoggedIn, p11.AnotherUserAlreadyLoggedIn) as e:
        raise TokenError(
            f"token {wanted} is already logged in by this process: use the open Token"
        ) from e
    except p11.PKCS11Error as e:
        raise TokenError(f"token {wanted} could not be opened: {_describe(e)}") from e


def _fresh_flags(found: Any) -> TokenFlag | None:
    """The token's flags read again (PIN counters change after a refusal), or None."""
    try:
        return TokenFlag(found.slot.get_token().flags)
    except p11.PKCS11Error:
        return None


def _find(session: pkcs11.Session, attrs: dict[Attribute, Any]) -> list[Any]:
    # Drain the search so the token's find operation ends (C_FindObjectsFinal) right away.
    return list(session.get_objects(attrs))


def _describe(e: p11.PKCS11Error) -> str:
    """A short description of a python-pkcs11 error (many carry no message, only a class)."""
    text = str(e).strip()
    name = type(e).__name__
    if isinstance(e, (p11.DeviceRemoved, p11.TokenNotPresent)):
        return f"{name}: the token was removed; plug it in and open it again"
    if isinstance(e, (p11.SessionHandleInvalid, p11.SessionClosed)):
        return f"{name}: the session was lost; open the token again"
    if isinstance(e, p11.UserNotLoggedIn):
        return f"{name}: the token is no longer logged in; open it again"
    return f"{name}: {text}" if text else name


def _token_name(label: str | None, serial: str | None) -> str:
    parts = []
    if label is not None:
        parts.append(f"labelled {label!r}")
    if serial is not None:
        parts.append(f"with serial {serial!r}")
    return " ".join(parts)


def _serial_text(serial: bytes | str) -> str:
    if isinstance(serial, bytes):
        return serial.decode("ascii", "replace").strip()
    return serial.strip()


def _subject_cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _protection(key: Any) -> KeyProtection:
    """A key object's protection attributes, as the token reports them."""
    return KeyProtection(
        on_token=bool(key[Attribute.TOKEN]),
        private=bool(key[Attribute.PRIVATE]),
        sensitive=bool(key[Attribute.SENSITIVE]),
        extractable=bool(key[Attribute.EXTRACTABLE]),
        always_sensitive=bool(key[Attribute.ALWAYS_SENSITIVE]),
        never_extractable=bool(key[Attribute.NEVER_EXTRACTABLE]),
        local=bool(key[Attribute.LOCAL]),
    )
