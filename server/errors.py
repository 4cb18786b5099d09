"""Errors raised by the server: one hierarchy; each message says what happened and what to do.
And `where_it_failed`, how an unforeseen error is logged without the data it may carry."""

import datetime as dt
import traceback
from pathlib import Path


class ServerError(Exception):
    """Base class of every server error."""


class ConfigError(ServerError):
    """The server's configuration is missing or invalid."""


class RepositoryError(ServerError):
    """The repository database could not be opened, migrated or written."""


class DataFileError(ServerError):
    """A units or procedures data file is unreadable or has a malformed row (the message names
    the line)."""


class VerificationError(ServerError):
    """A result could not be verified at all (as opposed to a verdict that rejects it)."""


class IngestError(ServerError):
    """The ingest worker could not connect to the broker or process messages."""


class SearchError(ServerError):
    """The search index cannot be opened, brought up to date or rebuilt."""


class IndexBehindError(SearchError):
    """The search index lacks too many of the database's results to catch up during a search
    (lost, or made before a bulk load): it needs `sohoa server search rebuild`."""


class SearchInputError(SearchError):
    """A search or reuse request is malformed (the message says which parameter and why).

    Attributes:
        parameter: the parameter's name, as the request spells it.
        value: what it was given (for the 422's `input`), if any.
    """

    def __init__(self, parameter: str, message: str, value: object = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value


class ReportInputError(ServerError):
    """A report's request is malformed (the message says which parameter and why).

    Attributes:
        parameter: the parameter's name, as the request spells it.
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class CorrectionConflictError(ServerError):
    """A correction cannot be made as asked, though the repository works: the version is no
    longer current, or the corrected document would take another current document's issuer,
    số ký hiệu and date (the message says which and what to do).

    Attributes:
        current: the current version's id, when the version asked about was superseded.
    """

    def __init__(self, message: str, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current


class ReviewError(ServerError):
    """A review decision cannot be taken as asked: a verdict that does not fit the case, no
    reason, or a case decided meanwhile (the message says which and what to do)."""


class ReviewInputError(ReviewError):
    """A review decision's verdict does not fit its case, or its reason is missing or too long."""


class AccountError(ServerError):
    """An account cannot be added, found or changed as asked (a taken name, an unknown one)."""


class CredentialError(ServerError):
    """An access token or a password was refused; the message says why and what to do."""


class SessionEndedError(CredentialError):
    """A web session cookie was refused: signed out, unused too long, too old, or its account
    was disabled or given a new password since (`reason` says which, for the page).

    Attributes:
        reason: "unknown", "idle", "expired" or "account".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AuditChainError(ServerError):
    """The audit log's hash chain is broken: an entry was changed, removed or moved."""


class AccountLockedError(CredentialError):
    """Sign-in refused because the account is locked after repeated wrong passwords."""

    def __init__(self, username: str, until: dt.datetime) -> None:
        self.until = until
        super().__init__(
            f"too many wrong passwords for {username}: sign-in is locked until "
            f"{until:%Y-%m-%d %H:%M} UTC; try again then, or ask a province admin"
        )


def where_it_failed(error: BaseException) -> str:
    """An unforeseen error's kind and where it was raised, for a log line, without its message:
    a message may quote a citizen's data (a database error quotes the row it could not write),
    which the server's logs never hold.

    Returns:
        e.g. "UnicodeEncodeError at records.py:120 in merge_result < ingest.py:356 in _merge".
    """
    frames = traceback.extract_tb(error.__traceback__)[-4:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(frames))
    return f"{type(error).__name__} at {where or 'an unknown place'}"


class EnrollmentError(ServerError):
    """An appliance's enrollment, or an enrollment code, was refused; `status` is the HTTP
    status the API answers with (403 a refused code, 400 a bad CSR, 409 a device that cannot be
    enrolled again, 429 too many failures, 503 a server that does not enroll)."""

    def __init__(self, message: str, status: int = 403, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
