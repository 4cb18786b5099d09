"""Errors raised by the protocol package."""


class ProtocolError(Exception):
    """Base class of every protocol error."""


class DecodeError(ProtocolError):
    """A message could not be read; `reason` is the code a receiver answers with.

    Attributes:
        reason: a `RejectReason` value the receiver can put in its ack.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TopicError(ProtocolError):
    """A topic is not part of the Sohoa v1 grammar."""
