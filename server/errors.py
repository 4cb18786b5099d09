"""Errors raised by the server: one hierarchy; each message says what happened and what to do."""


class ServerError(Exception):
    """Base class of every server error."""


class ConfigError(ServerError):
    """The server's configuration is missing or invalid."""


class RepositoryError(ServerError):
    """The repository database could not be opened, migrated or written."""


class VerificationError(ServerError):
    """A result could not be verified at all (as opposed to a verdict that rejects it)."""


class IngestError(ServerError):
    """The ingest worker could not connect to the broker or process messages."""
