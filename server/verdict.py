"""What verification concludes about a result's signed PDF: the `Verdict` that the verifier
(`server.verify`) and its sandbox (`server.sandbox`) give, and ingest reads; and the details of
the `too_complex` verdicts both give.

Free of pyHanko: what reads a verdict does not load the PDF machinery.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from protocol.reasons import RejectReason
from protocol.signed_metadata import SignedMetadata

TOO_MUCH_DATA = (
    "the PDF decodes to more data than a result can hold (a compression or object stream "
    "bomb?): capture and sign the document again"
)
"""The detail of a `too_complex` verdict on a PDF beyond `server.decode_limits`."""
TOO_MUCH_MEMORY = (
    "reading the PDF needs more memory than the server allows for a result: capture and sign "
    "the document again"
)
"""The detail of a `too_complex` verdict on a PDF that ran the verifier out of memory."""


@dataclass(frozen=True)
class Verdict:
    """What verification concluded about one signed PDF.

    Attributes:
        valid: True only if every check passed.
        reason: why it was rejected (`protocol.reasons.RejectReason`), or None if valid.
        detail: one sentence a person can act on; never personal data.
        signer_common_name: the signer certificate's commonName (a device_id), when readable.
        signer_unit: the signer certificate's organizationalUnitName (the unit), when present.
        signer_cert_sha256: lower-case hex SHA-256 of the signer certificate's DER, when readable.
        signing_time: the signing time the signer claims (`/M`), when present.
        signed: what the signed PDF's XMP says (fields, page count, document id), read once
            the signature holds (`server.signed_fields`); None on a rejecting verdict.
    """

    valid: bool
    reason: RejectReason | None
    detail: str
    signer_common_name: str | None = None
    signer_unit: str | None = None
    signer_cert_sha256: str | None = None
    signing_time: dt.datetime | None = None
    signed: SignedMetadata | None = None

    @property
    def retry_later(self) -> bool:
        """Whether the verdict is the server's own fault (no current CRL), not the sender's."""
        return self.reason is RejectReason.REVOCATION_UNKNOWN
