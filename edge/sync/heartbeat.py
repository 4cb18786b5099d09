"""The appliance's heartbeat: when one is due, and what it says.

The heartbeat (retained, on `status`: `protocol.status.Heartbeat`) goes at connect, every
`heartbeat_s`, when the standing changes (the link, the last error, the revocation, the queue
emptied or filled) and, less often, when only the queue's depth changed. The sync agent
(`edge.sync.agent`) asks `HeartbeatPolicy.due` on every turn of its loop and publishes what
`HeartbeatPolicy.beat` builds; the connection's last will is the OFFLINE heartbeat.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.config import EdgeSettings
from edge.health import disk_free
from edge.renew import expiry_warning
from edge.sync.outbox import Outbox, OutboxStatus
from protocol.status import Heartbeat, LinkState

log = logging.getLogger(__name__)

HEARTBEAT_MIN_GAP_S = 2.0
"""The shortest gap between two heartbeats sent because the standing changed: the link, the
last error, the revocation, or the queue emptied or filled."""
DEPTH_BEAT_GAP_S = 15.0
"""The shortest gap between two heartbeats sent only because the queue's depth changed. During
a flush it changes with every ack, and each heartbeat is a retained message at the broker and a
database write in every server process (their device watchers all record it): at 2 s, a
100-appliance flush sent about one heartbeat per result merged."""


def now_iso() -> str:
    """The time now, UTC, ISO 8601 to the second: the `at` of heartbeats and replies."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def link_state(revoked: str | None) -> LinkState:
    """What the heartbeat says of a connected appliance: STOPPED once revoked, else ONLINE."""
    return LinkState.STOPPED if revoked is not None else LinkState.ONLINE


@dataclass(frozen=True)
class StatusSignature:
    """What of the outbox status a heartbeat is sent for when it changes.

    Attributes:
        link: the link state the heartbeat says.
        depth: how many results wait.
        last_error: the last problem syncing.
        revoked: why the appliance is revoked.
    """

    link: LinkState
    depth: int
    last_error: str | None
    revoked: str | None

    @classmethod
    def of(cls, link: LinkState, status: OutboxStatus) -> StatusSignature:
        """The signature of `status` under link state `link`."""
        return cls(link, status.queue_depth, status.last_error, status.revoked)

    def standing(self) -> tuple[object, ...]:
        """All but the depth's exact value: the link, the error, the revocation and whether
        anything waits at all."""
        return (self.link, self.depth == 0, self.last_error, self.revoked)

    def calls_for_beat(self, last: StatusSignature | None, since_last_beat: float) -> bool:
        """Whether this status, `since_last_beat` seconds after the heartbeat that said `last`,
        calls for a heartbeat now: a change of standing after `HEARTBEAT_MIN_GAP_S`, a change
        of the depth alone after `DEPTH_BEAT_GAP_S`."""
        if self == last:
            return False
        if last is not None and self.standing() == last.standing():
            return since_last_beat >= DEPTH_BEAT_GAP_S
        return since_last_beat >= HEARTBEAT_MIN_GAP_S


class HeartbeatPolicy:
    """Decides when the next heartbeat goes and builds it from the outbox's status.

    Times are seconds on the caller's monotonic clock. The outbox's status is read at most
    every `HEARTBEAT_MIN_GAP_S`, and only after `mark_dirty` said it may have changed.

    Args:
        settings: the appliance's settings (device_id, heartbeat_s).
        outbox: whose status the heartbeat reports.
        versions: the software and protocol versions the heartbeat carries.
        token_probe: says whether the signing token is present; None means "not known".
    """

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        versions: Mapping[str, str],
        token_probe: Callable[[], bool | None],
    ) -> None:
        self._device_id = settings.device_id
        self._period = settings.heartbeat_s
        self._outbox = outbox
        self._versions = versions
        self._token_probe = token_probe
        self._token: tuple[float, bool | None] | None = None
        self._settings = settings
        self._expiry: tuple[float, str | None] | None = None
        self._dirty = True
        self._next_look = 0.0
        self._last = -1e9
        self._last_signature: StatusSignature | None = None

    def mark_dirty(self) -> None:
        """The outbox's status may have changed (a result queued, answered, failed)."""
        self._dirty = True

    def next_due(self) -> float:
        """When the periodic heartbeat is due."""
        return self._last + self._period

    def due(self, now: float, revoked: str | None) -> bool:
        """Whether a heartbeat should go now: the period is over, or the status changed enough
        (`StatusSignature.calls_for_beat`)."""
        if now - self._last >= self._period:
            return True
        if not self._dirty or now < self._next_look:
            return False
        self._next_look = now + HEARTBEAT_MIN_GAP_S
        signature = StatusSignature.of(link_state(revoked), self._outbox.status())
        if signature == self._last_signature:
            self._dirty = False
            return False
        # Only the depth changed, and lately: looked at again later.
        return signature.calls_for_beat(self._last_signature, now - self._last)

    def beat(self, now: float, revoked: str | None, state: LinkState | None = None) -> Heartbeat:
        """The heartbeat to publish now, counted as sent.

        Args:
            now: the time.
            revoked: why the appliance is revoked, or None.
            state: the link state to say (default: `link_state(revoked)`; OFFLINE on a clean
                stop).
        """
        status = self._outbox.status()
        error = f"revoked: {revoked}" if revoked is not None else status.last_error
        error = error or self._expiry_warning(now)
        heartbeat = Heartbeat(
            device_id=self._device_id,
            state=state or link_state(revoked),
            at=now_iso(),
            queue_depth=status.queue_depth,
            oldest_pending_age_s=status.oldest_pending_age_s,
            disk_free_bytes=disk_free(self._outbox.directory),
            token_present=self._token_present(now),
            versions=self._versions,
            last_error=error,
        )
        self._last = now
        self._last_signature = StatusSignature.of(link_state(revoked), status)
        self._dirty = False
        self._next_look = now + HEARTBEAT_MIN_GAP_S
        return heartbeat

    def _expiry_warning(self, now: float) -> str | None:
        # The certificate file is read once a period: renewal replaces it at most daily.
        if self._expiry is None or now - self._expiry[0] >= self._period:
            self._expiry = (now, expiry_warning(self._settings))
        return self._expiry[1]

    def _token_present(self, now: float) -> bool | None:
        # Looked up at most once per heartbeat period: a PKCS#11 slot scan is not free.
        if self._token is None or now - self._token[0] >= self._period:
            try:
                self._token = (now, self._token_probe())
            except Exception as e:  # a failing probe must not stop the sync
                log.debug("token probe failed: %s", e)
                self._token = (now, None)
        return self._token[1]
