"""PAdES signing of the assembled PDF with the device's key on the PKCS#11 token (pyHanko).

What a signature here is (ETSI EN 319 142-1 PAdES baseline B-B):
- one incremental update adding a signature field, SubFilter `ETSI.CAdES.detached`, SHA-256;
  the field is either the visible box of Nghị định 30/2020 at the top right of the first page
  (`edge.signing.box`: the conversion mark, the organisation, the signing time at +07:00) or
  invisible;
- the CMS signed attributes carry the signer certificate's hash (signing-certificate-v2) and the
  document digest; the signer certificate itself is embedded in the CMS;
- the signing time is the signature dictionary's `/M` entry, inside the signed byte range. PAdES
  forbids the CMS signing-time attribute (pyHanko leaves it out for this SubFilter on purpose).
  The box shows that same instant;
- reason, location and the signing organisation (`/Name`) are in the signature dictionary.

Refused, each with a `SigningError` naming the cause: a certificate that is expired or not yet
valid (checked when the signer is made and before every signature), a document that already
carries a signature, and a document that is not a readable PDF.

The key and its certificate are selected by CKA_ID. pyHanko builds the CMS; the signature value
itself comes from `Token.sign` (`edge.signing.token`, the only module that touches the PKCS#11
session and turns its errors into `TokenError`). The token session stays open between
documents; `sign` holds the token's lock for the whole signature. `sign` blocks (PDF work and the
token): call it from a worker thread, never on an event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.constants import ESIC_EXTENSION_1
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko_certvalidator.registry import SimpleCertificateStore

from edge.config import EdgeSettings
from edge.errors import ConfigError, SigningError, TokenError
from edge.signing.box import BoxAppearance, SignatureBox
from edge.signing.token import Token

log = logging.getLogger(__name__)

DEFAULT_REASON = "Số hóa kết quả giải quyết thủ tục hành chính"
"""Why documents are signed: digitization of the result of an administrative procedure."""

DIGEST_ALGORITHM = "sha256"
FIELD_PREFIX = "Signature"


@dataclass(frozen=True)
class SigningTimes:
    """Where one signature's wall time went, in seconds.

    Attributes:
        token: the token's signing operation, as pyHanko calls it (`Token.sign`: the PKCS#11
            C_Sign, and for EC keys the hash before it).
        cms: building the CMS SignedData around the token's signature (attributes, encoding).
        pdf: the rest: reading the PDF, adding the field and the box's appearance, hashing the
            byte ranges and writing the update.
    """

    token: float
    cms: float
    pdf: float

    @property
    def total(self) -> float:
        """The whole signature."""
        return self.token + self.cms + self.pdf


@dataclass(frozen=True)
class SignedDocument:
    """A signed PDF and what its signature says.

    Attributes:
        pdf: the signed PDF's bytes (the input plus one incremental update).
        signing_time: the signature's `/M` time (timezone-aware, to the second); the visible box
            shows this instant at +07:00.
        times: where the signature's time went.
    """

    pdf: bytes
    signing_time: dt.datetime
    times: SigningTimes


class _TokenSigner(signers.Signer):
    """pyHanko's signer for a key on our token: the signature value from `Token.sign`, the
    time spent on the token and in the CMS noted, and the signing time pyHanko hands to the CMS
    (the signing session's time, which is also `/M`).

    Like pyHanko's own PKCS#11 signer, it embeds the signer's certificate and nothing else, and
    sizes the dry run's signature at 512 bytes. `Token.sign` runs on the calling thread, which
    holds the token's lock for the whole document (`DocumentSigner.sign_document`).
    """

    _DRY_RUN_SIGNATURE_BYTES = 512

    def __init__(self, token: Token, key_id: bytes, certificate: asn1_x509.Certificate) -> None:
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        registry.register(certificate)
        super().__init__(signing_cert=certificate, cert_registry=registry)
        self._token = token
        self._key_id = key_id
        self.reset()

    def reset(self) -> None:
        """Forget the last signature's figures (called under the token's lock)."""
        self.token_s = 0.0
        self.cms_s = 0.0
        self.signing_time: dt.datetime | None = None

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign on the token, timed; a dry run returns a placeholder of the usual size."""
        if dry_run:
            return b"0" * self._DRY_RUN_SIGNATURE_BYTES
        start = time.perf_counter()
        try:
            return self._token.sign(self._key_id, data, digest_algorithm.lower())
        finally:
            self.token_s += time.perf_counter() - start

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: Any = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        """Build the CMS (pyHanko's implementation), timed; note the signing time."""
        start = time.perf_counter()
        result = await super().async_sign(
            data_digest,
            digest_algorithm,
            dry_run=dry_run,
            use_pades=use_pades,
            timestamper=timestamper,
            signed_attr_settings=signed_attr_settings,
            is_pdf_sig=is_pdf_sig,
            encap_content_info=encap_content_info,
        )
        if not dry_run:
            self.cms_s += time.perf_counter() - start
            if signed_attr_settings is not None:
                self.signing_time = signed_attr_settings.signing_time
        return result


class _Pdf17Signer(signers.PdfSigner):
    """pyHanko's PDF signer, declaring only what a PDF 1.7 file can: PAdES's ESIC extension.

    For ECDSA on the NIST and Brainpool curves pyHanko also registers ISO/TS 32002, an extension
    of PDF 2.0, and raises the catalog's `/Version` to 2.0 for it. The file would then say PDF 2.0
    while its header says 1.7 and its XMP claims PDF/A-2b, which is built on PDF 1.7: ISO 19005-2
    6.1.2 asks for a `%PDF-1.0` to `%PDF-1.7` header, and "the version number of a file may be any
    value from 1.0 to 1.7" (ISO 32000-1 7.2.2: a catalog `/Version` overrides the header's).
    PAdES itself extends ISO 32000-1 through the ESIC extension (ETSI EN 319 142-1), and that is
    all these signatures need: SHA-256 with RSA or ECDSA, no SHA-3, no EdDSA, no PDF MAC.
    """

    def register_extensions(self, pdf_out: BasePdfFileWriter, *, md_algorithm: str) -> None:
        """Keep the file at PDF 1.7 and declare PAdES's ESIC extension (level 1)."""
        if md_algorithm != DIGEST_ALGORITHM:  # SHA-3 would need ISO 32001, a PDF 2.0 extension
            raise SigningError(f"signatures use {DIGEST_ALGORITHM}, not {md_algorithm}")
        pdf_out.ensure_output_version(version=(1, 7))  # type: ignore[no-untyped-call]
        pdf_out.register_extension(ESIC_EXTENSION_1)


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
        box: SignatureBox | None = None,
    ) -> None:
        """Prepare to sign with the key pair `key_id` and the certificate stored with it.

        Args:
            token: the open token holding the key and its certificate.
            key_id: the CKA_ID of the signing key and of its certificate.
            reason: the signature's stated reason (`/Reason`).
            location: where the document was signed (`/Location`), e.g. the commune.
            organisation: the signing organisation (`/Name`, and the box's organisation line),
                e.g. the unit's name.
            box: the visible signature box to draw (Nghị định 30/2020), or None for an
                invisible signature.

        Raises:
            TokenError: the token is closed or has no key or certificate under `key_id`.
            SigningError: the certificate is expired or not yet valid; or the box is asked for
                without an organisation, or its font is missing or lacks a character.
        """
        self._token = token
        self._key_id = key_id
        self._appearance: BoxAppearance | None = None
        if box is not None:
            if not organisation.strip():
                raise SigningError(
                    "the visible signature box names the digitizing organisation: set "
                    "'organisation' (e.g. \"UBND xã Vạn Thắng\") or sign without the box"
                )
            self._appearance = BoxAppearance(box, organisation)
        with token.exclusive():
            self._certificate = token.certificate(key_id)
            token.key_kind(key_id)  # a private key stored with the certificate, EC or RSA
        cert = asn1_x509.Certificate.load(
            self._certificate.public_bytes(serialization.Encoding.DER)
        )
        self._signer = _TokenSigner(token, key_id, cert)
        self.check_certificate()
        self._metadata = signers.PdfSignatureMetadata(
            reason=reason or None,
            location=location or None,
            name=organisation or None,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm=DIGEST_ALGORITHM,
        )
        # Room for the CMS in the file, measured once on the first signature (pyHanko would
        # otherwise build a dummy CMS before every signature to size it).
        self._reserve: int | None = None

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's certificate, as stored on the token."""
        return self._certificate

    @property
    def visible(self) -> bool:
        """True if signatures get the visible box."""
        return self._appearance is not None

    def check_certificate(self, at: dt.datetime | None = None) -> None:
        """Refuse a signing certificate that is not valid at `at` (now when omitted).

        Raises:
            SigningError: the certificate is expired or not yet valid; says since or until when.
        """
        now = at or dt.datetime.now(dt.UTC)
        cert = self._certificate
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        whose = f"of {names[0].value!s}" if names else f"with key ID {self._key_id.hex()}"
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if now < start:
            raise SigningError(
                f"the signing certificate {whose} is not valid yet: its validity starts "
                f"{start:%Y-%m-%d %H:%M} UTC and it is {now:%Y-%m-%d %H:%M} UTC now. Check the "
                "appliance's clock, or import a certificate valid today"
            )
        if now > end:
            raise SigningError(
                f"the signing certificate {whose} expired on {end:%Y-%m-%d %H:%M} UTC: have the "
                "province issue a new one for this token's key and import it (enroll again)"
            )

    def sign(self, pdf: bytes) -> bytes:
        """Sign `pdf` and return the signed PDF (the input plus one incremental update).

        Args:
            pdf: the document to sign (a PDF, typically the assembled PDF/A-2b).

        Returns:
            The signed PDF's bytes.

        Raises:
            SigningError: the certificate is not valid now, the input is not a readable PDF or
                is signed already, or pyHanko could not sign it.
            TokenError: the token was closed or removed, or refused to sign.
        """
        return self.sign_document(pdf).pdf

    def sign_document(self, pdf: bytes) -> SignedDocument:
        """Sign `pdf`; return the signed PDF with its signing time and where the time went.

        Raises:
            SigningError: as `sign`.
            TokenError: as `sign`.
        """
        _refuse_event_loop()
        with self._token.exclusive():
            self.check_certificate()
            signer = self._signer
            signer.reset()
            start = time.perf_counter()
            try:
                writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
                _refuse_signed(writer)
                name = _free_field_name(writer)
                if self._reserve is None:
                    self._reserve = asyncio.run(_estimate_reserve(signer))
                pdf_signer = _Pdf17Signer(
                    dataclasses.replace(self._metadata, field_name=name),
                    signer=signer,
                    stamp_style=self._appearance.style if self._appearance else None,
                    new_field_spec=(
                        self._appearance.field_spec(writer, name) if self._appearance else None
                    ),
                )
                out = pdf_signer.sign_pdf(writer, bytes_reserved=self._reserve)
            except PyHankoSigningError as e:
                raise SigningError(f"pyHanko could not sign the document: {e}") from e
            except PdfError as e:
                raise SigningError(f"the document is not a readable PDF: {e}") from e
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
                # A malformed PDF can fail deep in pyHanko's reader with a plain Python error.
                raise SigningError(
                    f"the document could not be signed ({type(e).__name__}: {e})"
                ) from e
            signed = bytes(out.getvalue())
            total = time.perf_counter() - start
            token_s, cms_s, when = signer.token_s, signer.cms_s, signer.signing_time
        if when is None:  # pyHanko always passes its session's time; guard the assumption
            raise SigningError("pyHanko did not report the signing time of the signature")
        times = SigningTimes(token=token_s, cms=cms_s - token_s, pdf=total - cms_s)
        log.debug(
            "signed a %d-byte PDF into %d bytes in %.1f ms",
            len(pdf),
            len(signed),
            times.total * 1000,
        )
        return SignedDocument(signed, when.replace(microsecond=0), times)


def signature_box(settings: EdgeSettings) -> SignatureBox | None:
    """The visible box of Nghị định 30/2020 the settings ask for (`signature_box`, its text and
    font), or None for an invisible signature."""
    if not settings.signature_box:
        return None
    return SignatureBox(settings.signature_box_text, settings.signature_font)


@contextmanager
def open_document_signer(settings: EdgeSettings, pin: str) -> Iterator[DocumentSigner]:
    """Open the configured token, make the configured signer, and close the token afterwards.

    The PIN is used once to log in and kept nowhere (DOMAIN.md: never stored, never retried).

    Args:
        settings: the appliance's settings: `pkcs11_module`, `token_label` and/or
            `token_serial`, `signing_key_id`, `organisation`, `location` and the box's settings.
        pin: the token's user PIN.

    Yields:
        A signer ready for many documents.

    Raises:
        ConfigError: a setting signing needs is not set; names it.
        TokenError: the module is missing, the token absent or locked, the PIN refused, or the
            key or its certificate is not on the token.
        SigningError: the certificate is expired or not yet valid, or the box's font is unusable.
    """
    key_id = settings.signing_key_id_bytes
    if key_id is None:
        raise ConfigError(
            "edge setting 'signing_key_id' is not set: give the hex CKA_ID of the signing key "
            f"(e.g. '01') in the TOML file or as {settings.env_name('signing_key_id')}"
        )
    if settings.token_label is None and settings.token_serial is None:
        raise ConfigError(
            "edge setting 'token_label' (or 'token_serial') is not set: say which token holds "
            f"the signing key, e.g. {settings.env_name('token_label')}"
        )
    organisation = (settings.organisation or "").strip()
    if not organisation:
        raise ConfigError(
            "edge setting 'organisation' is not set: a digitized document names the organisation "
            'that converted it (Luật Giao dịch điện tử 2023 Điều 12), e.g. "UBND xã Vạn Thắng"'
        )
    if not pin:
        raise TokenError("no PIN was given: enter the token's user PIN")
    box = signature_box(settings)
    with Token.open(
        settings.pkcs11_module,
        label=settings.token_label,
        serial=settings.token_serial,
        pin=pin,
    ) as token:
        yield DocumentSigner(
            token,
            key_id,
            organisation=organisation,
            location=settings.location or "",
            box=box,
        )


async def _estimate_reserve(signer: signers.Signer) -> int:
    """Hex digits to reserve for the CMS: the size of pyHanko's dry-run CMS, without the 50%
    margin pyHanko adds by default.

    The margin is for timestamp tokens, whose size a TSA decides; these signatures carry none.
    The dry run already over-counts: its dummy signature is 512 bytes, an ECDSA P-256 one is at
    most 72 and an RSA-2048 one 256. Every spare byte costs twice, as hex in the file, and in
    verification time: pyHanko's reader parses `/Contents` one character at a time.
    """
    dummy = await signer.async_sign(
        hashlib.sha256(b"").digest(),
        DIGEST_ALGORITHM,
        dry_run=True,
        use_pades=True,
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=dt.datetime.now(dt.UTC)),
    )
    return len(dummy.dump()) * 2  # embedded as a hex string


def _refuse_signed(writer: IncrementalPdfFileWriter) -> None:
    """A document that carries a signature (or a document timestamp) already is not signed."""
    existing = writer.prev.embedded_signatures
    if existing:
        names = ", ".join(repr(sig.field_name) for sig in existing)
        raise SigningError(
            f"the document is already signed (signature field {names}): Sohoa signs the unsigned "
            "PDF/A it assembled; sign that, not a signed copy"
        )


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
