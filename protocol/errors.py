"""Errors raised by the protocol package."""

from __future__ import annotations

from protocol.reasons import RejectReason


class ProtocolError(Exception):
    """Base class of every protocol error."""


class DecodeError(ProtocolError):
    """A message could not be read; `reason` is the code a receiver answers with.

    Attributes:
        reason: the `RejectReason` the receiver puts in its ack.
        result_id: the result the unreadable message claims to be about, when that much could be
            read (so that the answer reaches the right result on the sender), else None.
        command_id: the command an unreadable command claims to be, when readable, else None.
    """

    def __init__(
        self,
        message: str,
        reason: RejectReason,
        *,
        result_id: str | None = None,
        command_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.result_id = result_id
        self.command_id = command_id


class VersionMismatchError(DecodeError):
    """A message of a known type but a schema version this side does not read (usually newer).

    The receiver answers it with reason `version` and says which version it reads, so that the
    person at the other end knows to update one side; it never guesses at the content.

    Attributes:
        schema: the schema the message carries, e.g. `sohoa.result/2`.
        supported: the schema of that type this side reads, e.g. `sohoa.result/1`.
    """

    def __init__(
        self,
        schema: str,
        supported: str,
        *,
        result_id: str | None = None,
        command_id: str | None = None,
    ) -> None:
        super().__init__(
            f"message schema {schema} is not readable here: this side reads {supported}; "
            "update the older side (appliance or server) so both speak the same version",
            RejectReason.VERSION,
            result_id=result_id,
            command_id=command_id,
        )
        self.schema = schema
        self.supported = supported


class TopicError(ProtocolError):
    """A topic is not part of the Sohoa v1 grammar."""


class EnrollmentFormatError(ProtocolError):
    """An enrollment code, URI, request or answer that is not of the form
    `protocol.enrollment` describes; the message says what to fix."""
