"""What the appliance's heartbeat measures besides the outbox: free disk, whether the signing
token answers, and the software versions. Each measurement that cannot be made is None ("not
known"), never a guess."""

from __future__ import annotations

import logging
import shutil
from importlib import metadata
from pathlib import Path

from edge.config import EdgeSettings
from edge.errors import TokenError
from protocol.schema import VERSIONS, MessageType

log = logging.getLogger(__name__)


def disk_free(path: Path) -> int | None:
    """Free bytes on the file system holding `path` (None if it cannot be read)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def versions() -> dict[str, str]:
    """The versions the heartbeat reports: Sohoa, the sync protocol, paho-mqtt."""
    found = {"protocol": str(VERSIONS[MessageType.RESULT])}
    for key, dist in (("sohoa", "sohoa"), ("paho", "paho-mqtt")):
        try:
            found[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def token_present(settings: EdgeSettings) -> bool | None:
    """Whether the configured signing token is plugged in and answers (no PIN needed: it is
    looked up among the module's slots, no session is opened); None when no token is
    configured."""
    if settings.token_label is None and settings.token_serial is None:
        return None
    # The token adapter's own lookup, so that "present" means what signing will find.
    from edge.signing.token import token_present as present

    try:
        return present(
            settings.pkcs11_module, label=settings.token_label, serial=settings.token_serial
        )
    except TokenError as e:
        log.debug("token module unusable: %s", e)
        return False
