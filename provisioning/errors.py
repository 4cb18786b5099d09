"""Errors raised by provisioning: one hierarchy, each message says what happened and what to do."""


class ProvisioningError(Exception):
    """Base class of every provisioning error."""


class CertificateError(ProvisioningError):
    """A certificate or key could not be made, read or issued."""


class BrokerError(ProvisioningError):
    """The MQTT broker could not be configured or started."""


class TokenInitError(ProvisioningError):
    """A PKCS#11 token could not be initialised."""
