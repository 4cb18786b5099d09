"""Errors raised on the appliance: one hierarchy; each message says what happened and what to do."""


class EdgeError(Exception):
    """Base class of every appliance error."""


class ConfigError(EdgeError):
    """The appliance's configuration is missing, invalid or insecure."""


class CaptureError(EdgeError):
    """A page image could not be read or is unusable."""


class OcrError(EdgeError):
    """OCR could not run (engine or language data missing) or failed on a page."""


class FieldError(EdgeError):
    """A field's value cannot be taken as it is (a character the signed document cannot carry):
    the officer must correct it before signing."""


class PdfError(EdgeError):
    """The PDF could not be assembled."""


class TokenError(EdgeError):
    """The PKCS#11 token is missing, locked, refused the PIN, or failed an operation."""


class SigningError(EdgeError):
    """A document could not be signed."""


class OutboxError(EdgeError):
    """The outbox could not store or read a result."""


class SyncError(EdgeError):
    """The sync agent could not reach the broker or deliver results."""


class IncompleteError(EdgeError):
    """A command finished, but part of its work did not (a page that could not be read, results
    still waiting for the server's answer); each failure was reported as it happened, and the
    message sums them up."""
