"""Why a result is rejected: the one vocabulary the receiver's acks, the decoder's errors and the
server's signature verdicts share, so that a reason travels from where it is found to the ack
as the same value, never re-read from a string."""

from __future__ import annotations

from enum import Enum


class RejectReason(Enum):
    """Why a result was rejected; the device shows it and stops retrying that result.

    On the wire (`Ack.reason`) a reason is its value; `str()` gives the value too, for logs and
    the details a person reads.
    """

    SCHEMA = "schema"
    VERSION = "version"
    SIZE = "size"
    HASH = "hash"
    SIGNATURE = "signature"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    SIGNER_NOT_REGISTERED = "signer_not_registered"
    DEVICE_MISMATCH = "device_mismatch"
    FIELDS_MISMATCH = "fields_mismatch"
    """The header's fields are not those the signed PDF's XMP carries, or that XMP cannot be
    read (`protocol.signed_metadata`): only signed fields are stored."""
    TOO_COMPLEX = "too_complex"
    """The PDF needs more than a result can: more decoded data, CPU time or memory than the
    server's verification allows (a decompression or object-stream bomb, thousands of form
    fields). The same bytes would be refused again: capture and sign the document again."""
    REVOCATION_UNKNOWN = "revocation_unknown"
    """The server could not establish whether the signer is revoked (its CRL is missing or
    stale): a fault on the server's side, so a server leaves such a result unanswered and the
    device sends it again later, rather than rejecting it with this reason."""

    INTERNAL = "internal"
    """The server failed on this result in a way it did not foresee (a fault of the server's
    own software): it refuses the result rather than leave it unanswered, so that one result
    cannot make the server fail on it again at every resend; the detail names the kind of
    failure, for the province admin (the result stays on the appliance)."""

    UNRECOGNIZED = "unrecognized"
    """Never sent: what a receiver of an ack makes of a reason its version does not know (one a
    newer server added). The result is refused all the same, so the appliance stops resending it
    rather than drop the ack as undecodable and resend forever; the ack's detail keeps the
    sender's own reason word."""

    def __str__(self) -> str:
        return self.value
