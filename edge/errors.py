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


class PinError(TokenError):
    """The token refused the user PIN, or its PIN is locked. It carries what the token itself
    reports of the tries left (PKCS#11 token flags), for the kiosk to show; a token that
    reports none of these flags (SoftHSM2 does not count tries) leaves all three false.

    Attributes:
        locked: the PIN is locked (CKF_USER_PIN_LOCKED or CKR_PIN_LOCKED): no try is left.
        final_try: the next wrong PIN locks it (CKF_USER_PIN_FINAL_TRY).
        count_low: a wrong PIN was entered since the last good one (CKF_USER_PIN_COUNT_LOW).
    """

    def __init__(
        self,
        message: str,
        *,
        locked: bool = False,
        final_try: bool = False,
        count_low: bool = False,
    ) -> None:
        super().__init__(message)
        self.locked = locked
        self.final_try = final_try
        self.count_low = count_low


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


class EnrollError(EdgeError):
    """The appliance could not be enrolled (`sohoa edge enroll`); nothing was kept."""
