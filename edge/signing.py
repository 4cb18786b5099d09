"""PAdES signing of the assembled PDF with the device's key on the PKCS#11 token (pyHanko).

What a signature here is (ETSI EN 319 142-1 PAdES baseline B-B):
- one incremental update adding an invisible signature field (the visible box of Nghị định
  30/2020 comes later), SubFilter `ETSI.CAdES.detached`, SHA-256;
- the CMS signed attributes carry the signer certificate's hash (signing-certificate-v2) and the
  document digest; the signer certificate itself is embedded in the CMS;
- the signing time is the signature dictionary's `/M` entry, inside the signed byte range. PAdES
  forbids the CMS signing-time attribute (pyHanko leaves it out for this SubFilter on purpose);
- reason, location and the signing organisation (`/Name`) are in the signature dictionary.

The key and its certificate are selected by CKA_ID. The token session stays open between
documents; `sign` holds the token's lock for the whole signature. `sign` blocks (PDF work and the
token): call it from a worker thread, never on an event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11 import KeyType
from pkcs11 import exceptions as p11
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.pkcs11 import PKCS11Signer

from edge.errors import SigningError, TokenError
from edge.token import Token

log = logging.getLogger(__name__)

DEFAULT_REASON = "Số hóa kết quả giải quyết thủ tục hành chính"
"""Why documents are signed: digitization of the result of an administrative procedure."""

DIGEST_ALGORITHM = "sha256"
FIELD_PREFIX = "Signature"


class DocumentSigner:
    """Signs PDFs (PAdES B-B) with one key on one open token; reusable for many documents."""

    def __init__(
        self,
        token: Token,
        key_id: bytes,
        *,
        reason: str = DEFAULT_REASON,
        location: str = "",
        organisation: str = "",
    ) -> None:
        """Prepare to sign with the key pair `key_id` and the certificate stored with it.

        Args:
            token: the open token holding the key and its certificate.
            key_id: the CKA_ID of the signing key and of its certificate.
            reason: the signature's stated reason (`/Reason`).
            location: where the document was signed (`/Location`), e.g. the commune.
            organisation: the signing organisation (`/Name`), e.g. the unit's name.

        Raises:
            TokenError: the token is closed or has no key or certificate under `key_id`.
        """
        self._token = token
        self._key_id = key_id
        with token.exclusive() as session:
            self._certificate = token.certificate(key_id)
            key_type = token.key_type(key_id)
            cert = asn1_x509.Certificate.load(
                self._certificate.public_bytes(serialization.Encoding.DER)
            )
            # SoftHSM2 (and other modules) lack CKM_ECDSA_SHA256: hash in Python, sign raw ECDSA.
            self._signer = PKCS11Signer(
                session,
                key_id=key_id,
                signing_cert=cert,
                use_raw_mechanism=key_type == KeyType.EC,
            )
        self._metadata = signers.PdfSignatureMetadata(
            reason=reason or None,
            location=location or None,
            name=organisation or None,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm=DIGEST_ALGORITHM,
        )

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's certificate, as stored on the token."""
        return self._certificate

    def sign(self, pdf: bytes) -> bytes:
        """Sign `pdf` and return the signed PDF (the input plus one incremental update).

        Args:
            pdf: the document to sign (a PDF, typically the assembled PDF/A-2b).

        Returns:
            The signed PDF's bytes.

        Raises:
            SigningError: the input is not a readable PDF, or pyHanko could not sign it.
            TokenError: the token was closed or removed, or refused to sign.
        """
        _refuse_event_loop()
        with self._token.exclusive():
            try:
                writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
                metadata = dataclasses.replace(self._metadata, field_name=_free_field_name(writer))
                out = signers.sign_pdf(writer, metadata, signer=self._signer)
            except p11.PKCS11Error as e:
                raise TokenError(
                    f"token {self._token.label!r} could not sign with key {self._key_id.hex()} "
                    f"({type(e).__name__}): check that it is plugged in and open it again"
                ) from e
            except PyHankoSigningError as e:
                raise SigningError(f"pyHanko could not sign the document: {e}") from e
            except PdfError as e:
                raise SigningError(f"the document is not a readable PDF: {e}") from e
            except (ValueError, KeyError, TypeError, IndexError) as e:
                # A malformed PDF can fail deep in pyHanko's reader with a plain Python error.
                raise SigningError(
                    f"the document could not be signed ({type(e).__name__}: {e})"
                ) from e
        signed = out.getvalue()
        log.debug("signed a %d-byte PDF into %d bytes", len(pdf), len(signed))
        return bytes(signed)


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    """A signature field name not used in the document yet (`Signature1`, `Signature2`…)."""
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer)}
    number = 1
    while f"{FIELD_PREFIX}{number}" in taken:
        number += 1
    return f"{FIELD_PREFIX}{number}"


def _refuse_event_loop() -> None:
    """pyHanko's synchronous API runs its own event loop; it cannot nest in a running one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SigningError(
        "DocumentSigner.sign blocks and cannot run on an event loop: call it from a worker thread"
    )
