"""The sync agent: carries the outbox's results to the provincial broker, the server's
application acks back into the outbox, publishes the appliance's heartbeat and answers the
server's commands.

Rules of this module:
- What to publish and when is decided by `protocol.sender.Sender` (sans-IO); the broker is
  reached through `edge.sync.connection.BrokerLink` (on the shared adapter `support.mqtt`, the
  only module that imports paho); when a heartbeat goes is `edge.sync.heartbeat`'s. This module
  is the loop that ties them to the outbox. QoS 1 for every message (`protocol.topics`).
- paho's network thread only turns callbacks into events on a queue; one thread (the caller's)
  runs the loop: reads the outbox, publishes one message at a time, applies acks and commands.
  So the outbox is used from one thread, and a stop request, a revoke or an ack is seen between
  any two messages, also on a slow link.
- A result is marked SENT in the outbox before its first message goes: after a crash mid-way
  the next run offers it as sent before, and the sender resumes it (only the missing chunks go).
- A lost connection is made again after `BrokerLink.backoff` (jittered, exponential); what was
  being published goes again when its ack is overdue.
- Publishing goes through a byte-rate cap (`max_bytes_per_s`, `edge.sync.ratelimit`),
  heartbeats and replies included.
- A clean stop publishes the OFFLINE heartbeat itself and then disconnects with reason 0, so the
  broker discards the last will.
- Commands are answered by `edge.sync.commands`. A revoke is persisted in the outbox: the
  agent stops sending (then and after any restart), says why in its heartbeat (STOPPED) and in
  the outbox status the kiosk shows. A wipe (a lost appliance) erases the data at rest first
  (`edge.sync.at_rest.wipe`: the token's sealing key, the sealed data key, the outbox, the
  kiosk's drafts), then stops as a revoke does; the reply says what was done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from edge.config import EdgeSettings
from edge.errors import OutboxError, SyncError
from edge.health import token_present, versions
from edge.sync.at_rest import WipeReport, wipe
from edge.sync.commands import DeviceView, answer
from edge.sync.connection import BrokerLink, LinkEvent
from edge.sync.heartbeat import HeartbeatPolicy, link_state, now_iso
from edge.sync.outbox import Outbox, OutboxItem, State
from edge.sync.ratelimit import ByteRateLimiter
from protocol.chunking import ResultSource, build_messages
from protocol.commands import Command, reply_to_undecodable
from protocol.encoding import Message, decode, encode
from protocol.errors import DecodeError, ProtocolError
from protocol.messages import Ack, AckStatus
from protocol.sender import AckOutcome, Sender, Transmission
from protocol.status import Heartbeat, LinkState
from protocol.topics import ack_topic, cmd_topic, reply_topic, result_topic, status_topic
from support.mqtt_types import Incoming, LinkLost, Puback
from support.sdnotify import Watchdog, notify

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
REFRESH_S = 2.0
"""How often the agent lists the outbox's pending results in any case."""
CHANGE_CHECK_S = 0.1
"""How often it asks the outbox whether the kiosk added something (`Outbox.changed_elsewhere`,
~5 us): a result queued at the kiosk starts out within this time, not `REFRESH_S`. This wait
was half of the latency of an idle path (~35 ms of verification and merge at the server, a few
ms on the wire) at 0.2 s."""
PURGE_S = 3600.0
"""How often answered results past their retention are deleted."""
STOP_GRACE_S = 5.0
"""How long a clean stop waits for the broker to acknowledge what was published."""
OUTBOX_PAUSE_S = 10.0
"""How long the agent pauses when the outbox cannot be read or written (disk full, locked)."""
MAX_WAIT_S = 0.25
"""The longest the loop sleeps: a stop request is seen within this."""
PUBLISH_SLICE_S = 0.05
"""The longest the loop publishes before it looks at incoming events again."""
_MQTT_OVERHEAD = 8
"""Bytes an MQTT v5 PUBLISH adds besides its topic and payload (header, packet id, properties),
counted against the byte-rate cap."""


@dataclass(frozen=True)
class SyncReport:
    """What one run of the agent did.

    Attributes:
        sent: results published for the first time in this run.
        resent: further transmissions of results (their ack was late, or chunks were asked for).
        accepted: results the server stored.
        duplicates: results the server already had.
        rejected: results the server refused (their reason is in the outbox).
        failed: results that could not be sent (their PDF is damaged; see the outbox).
        seconds: wall time.
        waiting: results still waiting for the server's answer at the end.
        revoked: why the appliance is revoked (nothing was sent), or None.
        duplicate_acks: acks for results already answered (ignored).
        bytes_sent: bytes published (payloads and topics).
    """

    sent: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    waiting: int = 0
    revoked: str | None = None
    duplicate_acks: int = 0
    bytes_sent: int = 0

    def summary(self) -> str:
        """One line for the officer's terminal."""
        line = (
            f"sent {self.sent}, accepted {self.accepted}, duplicates {self.duplicates}, "
            f"rejected {self.rejected}, failed {self.failed}, resent {self.resent}, "
            f"still waiting {self.waiting} in {self.seconds:.1f} s"
        )
        return f"{line}; revoked: {self.revoked}" if self.revoked else line


@dataclass
class _Outgoing:
    """A transmission being published, one message per turn of the loop."""

    transmission: Transmission
    messages: Iterator[Message]
    payload: bytes | None = None
    """The next message, encoded, waiting for the byte-rate cap."""


@dataclass
class _Counts:
    """Mutable tallies behind a SyncReport."""

    sent: int = 0
    resent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    duplicate_acks: int = 0
    bytes_sent: int = 0
    started: float = field(default_factory=time.monotonic)


class SyncAgent:
    """Sends the outbox's pending results to the broker, applies the server's acks, publishes
    the heartbeat and answers commands.

    Args:
        settings: the appliance's settings (device_id, broker, transport identity, sync).
        outbox: the outbox to drain.
        connect_timeout: seconds to wait for the broker's CONNACK.
        token_probe: says whether the signing token is present (default: looks it up through
            the configured PKCS#11 module); None in the heartbeat means "not known".

    Raises:
        ConfigError: the transport identity is not configured.
        SyncError: its files cannot be loaded.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        token_probe: Callable[[], bool | None] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.connect_timeout = connect_timeout
        device = settings.device_id
        self._result_topic = result_topic(device)
        self._ack_topic = ack_topic(device)
        self._cmd_topic = cmd_topic(device)
        self._status_topic = status_topic(device)
        self._reply_topic = reply_topic(device)
        self._versions = versions()
        self._beats = HeartbeatPolicy(
            settings, outbox, self._versions, token_probe or (lambda: token_present(settings))
        )
        self._sender = Sender(
            window=settings.sync_window,
            window_bytes=settings.sync_window_bytes,
            chunk_size=settings.chunk_size,
            whole_max=settings.whole_max_bytes,
            retransmit_after=settings.ack_timeout_s,
            max_retransmit_after=settings.ack_timeout_max_s,
        )
        self._rate_limit = ByteRateLimiter(settings.max_bytes_per_s, now=time.monotonic())
        self._items: dict[str, OutboxItem] = {}
        self._outgoing: deque[_Outgoing] = deque()
        self._mids: dict[int, tuple[str, str | None]] = {}
        """Publishes waiting for their PUBACK: mid -> (topic, result_id or None)."""
        self._connected = False
        self._link_error = False
        """Whether the outbox's last error is ours: the broker could not be reached."""
        self._link_noted: bool | None = None
        """What the outbox last heard of the link (None: nothing yet, from this agent)."""
        self._next_attempt = 0.0
        self._revoked = outbox.revoked()
        self._strict = False
        self._poll_now = False
        self._counts = _Counts()
        self._link = BrokerLink(
            settings, encode(Heartbeat.last_will(settings.device_id, self._versions))
        )
        self._events = self._link.events

    # --- public ---

    def run_until_drained(self, timeout: float) -> SyncReport:
        """Connect, send everything pending, wait for every application ack, disconnect.

        A connection lost midway is made again (with back-off) until `timeout`; what is still
        unanswered then stays in the outbox for the next sync (`SyncReport.waiting`).

        Args:
            timeout: seconds for the whole run.

        Returns:
            What was sent and how the server answered.

        Raises:
            SyncError: the broker could not be reached at first, or refused this appliance or
                its results (a configuration to fix, not a passing fault).
        """
        self._counts = _Counts()
        self._strict = True
        self._purge()
        self._offer_pending()
        if self._revoked is not None or self._sender.idle:
            return self._report()
        deadline = time.monotonic() + timeout
        self._connect(min(self.connect_timeout, timeout))
        self._loop(threading.Event(), deadline=deadline)
        return self._report()

    def run_forever(self, stop: threading.Event) -> SyncReport:
        """Keep syncing until `stop` is set: connect (again, with jittered back-off), send what
        the outbox holds as it arrives, apply acks, publish heartbeats, answer commands. Errors
        are logged and shown in the outbox status, never raised (a transport identity that
        cannot be loaded is raised by the constructor, before this).

        Returns:
            What was done, once stopped.
        """
        self._counts = _Counts()
        self._strict = False
        self._purge()
        self._offer_pending()
        notify("READY=1")  # under systemd (Type=notify): started, the outbox open
        try:
            self._loop(stop, deadline=None)
        finally:
            notify("STOPPING=1")
        return self._report()

    # --- the loop ---

    def _loop(self, stop: threading.Event, *, deadline: float | None) -> None:
        next_refresh = time.monotonic() + REFRESH_S
        next_check = time.monotonic() + CHANGE_CHECK_S
        next_purge = time.monotonic() + PURGE_S
        watchdog = Watchdog()
        try:
            while not stop.is_set():
                watchdog.pet()  # a loop that stops turning gets the agent restarted
                now = time.monotonic()
                if deadline is not None and (
                    now >= deadline
                    or self._revoked is not None
                    or (self._sender.idle and not self._outgoing)
                ):
                    break
                try:
                    if not self._connected and now >= self._next_attempt:
                        self._try_connect(stop)
                        continue
                    if now >= next_check:
                        next_check = now + CHANGE_CHECK_S
                        if self.outbox.changed_elsewhere():
                            next_refresh = now
                    if now >= next_refresh:
                        self._offer_pending()
                        next_refresh = now + REFRESH_S
                    if now >= next_purge:
                        self._purge()
                        next_purge = now + PURGE_S
                    wait = MAX_WAIT_S
                    if self._connected:
                        if self._revoked is None:
                            if not self._outgoing:
                                # Only once the last transmissions are out: on a capped link
                                # a result's ack timer must not run while it waits its turn.
                                self._poll(now)
                            wait = self._publish(now)
                        self._maybe_heartbeat(now)
                    self._handle_events(
                        self._wait_time(now, wait, min(next_refresh, next_check), deadline)
                    )
                except OutboxError as e:
                    if self._strict:
                        raise
                    # The outbox's disk failed or is held by another process: say so, go on.
                    log.error("sync paused for %.0f s: %s", OUTBOX_PAUSE_S, e)
                    stop.wait(OUTBOX_PAUSE_S)
        finally:
            self._shutdown()

    def _wait_time(
        self, now: float, publish_wait: float, next_refresh: float, deadline: float | None
    ) -> float:
        if self._poll_now:
            self._poll_now = False
            return 0.0
        wake = [now + publish_wait, next_refresh]
        if self._connected:
            wake.append(self._beats.next_due())
            overdue = self._sender.next_deadline()
            if overdue is not None and self._revoked is None:
                wake.append(overdue)
        else:
            wake.append(self._next_attempt)
        if deadline is not None:
            wake.append(deadline)
        return max(0.0, min(min(wake) - now, MAX_WAIT_S))

    def _report(self) -> SyncReport:
        c = self._counts
        try:
            waiting = self.outbox.status().queue_depth
        except OutboxError:
            waiting = -1
        return SyncReport(
            sent=c.sent,
            resent=c.resent,
            accepted=c.accepted,
            duplicates=c.duplicates,
            rejected=c.rejected,
            failed=c.failed,
            seconds=time.monotonic() - c.started,
            waiting=waiting,
            revoked=self._revoked,
            duplicate_acks=c.duplicate_acks,
            bytes_sent=c.bytes_sent,
        )

    # --- results ---

    def _offer_pending(self) -> None:
        for item in self.outbox.pending():
            if item.result_id not in self._items:
                self._items[item.result_id] = item
                self._sender.offer(item.result_id, item.size, sent_before=item.state is State.SENT)
                self._beats.mark_dirty()

    def _purge(self) -> None:
        try:
            purged = self.outbox.purge()
        except OutboxError as e:
            log.error("%s", e)
            return
        if purged:
            log.info("deleted %d answered result(s) past their retention", purged)

    def _poll(self, now: float) -> None:
        for transmission in self._sender.poll(now):
            self._start(transmission)

    def _start(self, transmission: Transmission) -> None:
        """Load the result, mark it SENT, queue its messages for publishing."""
        result_id = transmission.result_id
        item = self._items.get(result_id)
        try:
            if item is None:
                raise OutboxError(f"result {result_id[:12]}… is no longer in the outbox")
            pdf = self.outbox.load_pdf(result_id)
            source = ResultSource(
                self.settings.device_id, pdf, item.fields, item.created_at, item.metadata
            )
            messages = build_messages(transmission, source)
            self.outbox.mark_sent(result_id)
        except (OutboxError, ProtocolError) as e:
            log.error("cannot send result %s…: %s", result_id[:12], e)
            try:
                self.outbox.note_error(result_id, str(e))
            except OutboxError as again:
                log.error("%s", again)
            # Kept in _items, so that the next refresh does not offer it again in this run.
            self._sender.give_up(result_id)
            self._counts.failed += 1
            self._beats.mark_dirty()
            return
        if transmission.retransmission:
            self._counts.resent += 1
        else:
            self._counts.sent += 1
        parts = transmission.parts
        log.debug(
            "sending result %s… (%s)",
            result_id[:12],
            ", ".join(p.kind.value if p.index is None else str(p.index) for p in parts),
        )
        self._outgoing.append(_Outgoing(transmission, messages))

    def _publish(self, now: float) -> float:
        """Publish queued messages while the byte-rate cap allows, for at most a short slice.

        Returns:
            Seconds until the loop should come back: until the cap lets the next message go,
            0 when it published (more may be due), MAX_WAIT_S when nothing waits.
        """
        until = now + PUBLISH_SLICE_S
        published = False
        while self._outgoing and self._connected:
            out = self._outgoing[0]
            if out.payload is None:
                message = next(out.messages, None)
                if message is None:
                    self._outgoing.popleft()
                    self._sender.published(out.transmission.result_id, now)
                    continue
                out.payload = encode(message)
            wait = self._rate_limit.wait(now)
            if wait > 0:
                return wait
            self._send(self._result_topic, out.payload, result_id=out.transmission.result_id)
            out.payload = None
            published = True
            now = time.monotonic()
            if now >= until:
                break
        return 0.0 if published else MAX_WAIT_S

    def _send(
        self, topic: str, payload: bytes, *, result_id: str | None = None, retain: bool = False
    ) -> int | None:
        """Publish one message at QoS 1 and account for it in the cap.

        Returns:
            Its packet id, or None if paho could not take it.
        """
        mid = self._link.publish(topic, payload, retain=retain)
        if mid is None:
            return None
        size = len(payload) + len(topic) + _MQTT_OVERHEAD
        self._rate_limit.take(size, time.monotonic())
        self._counts.bytes_sent += size
        self._mids[mid] = (topic, result_id)
        return mid

    def _drop_outgoing(self, result_id: str | None = None) -> None:
        """Stop publishing the messages of `result_id` (None: of every result)."""
        if result_id is None:
            self._outgoing.clear()
        else:
            self._outgoing = deque(
                o for o in self._outgoing if o.transmission.result_id != result_id
            )

    # --- incoming ---

    def _handle_events(self, wait: float) -> None:
        """Handle the events that arrive within `wait` seconds (all that are there)."""
        try:
            event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, event: LinkEvent) -> None:
        if isinstance(event, Incoming):
            if event.topic == self._ack_topic:
                self._handle_ack(event.payload)
            elif event.topic == self._cmd_topic:
                self._handle_command(event.payload)
            else:
                log.warning("ignoring a message on %s", event.topic)
        elif isinstance(event, Puback):
            self._handle_puback(event)
        else:
            self._on_link_lost(event)

    def _handle_ack(self, payload: bytes) -> None:
        try:
            ack = decode(payload)
        except DecodeError as e:
            log.warning("ignoring an unreadable ack (%s): %s", e.reason, e)
            return
        if not isinstance(ack, Ack):
            log.warning("ignoring a %s message on the ack topic", ack.schema)
            return
        outcome = self._sender.on_ack(ack, time.monotonic())
        if not ack.final:
            log.info(
                "result %s…: the server lacks %d chunk(s); sending them (%s)",
                ack.result_id[:12],
                len(ack.missing),
                outcome.value,
            )
            if outcome is AckOutcome.RESUME:
                self._poll_now = True
            return
        state, answered = self.outbox.answer(ack)
        if not answered:
            # Already answered (the ack or the result travelled twice), or not ours.
            self._counts.duplicate_acks += 1
            log.debug("result %s…: a further %s ack", ack.result_id[:12], ack.status.value)
            return
        self._drop_outgoing(ack.result_id)
        self._items.pop(ack.result_id, None)
        self._beats.mark_dirty()
        if ack.status is AckStatus.ACCEPTED:
            self._counts.accepted += 1
        elif ack.status is AckStatus.DUPLICATE:
            self._counts.duplicates += 1
        else:
            self._counts.rejected += 1
            reason = ack.reason.value if ack.reason else "rejected"
            self.outbox.set_last_error(
                f"result {ack.result_id[:12]}… rejected ({reason}): {ack.detail}"
            )
        log.info(
            "result %s…: %s (%s)%s",
            ack.result_id[:12],
            ack.status.value,
            state.value if state else "not in the outbox",
            f": {ack.reason.value} {ack.detail}" if ack.reason else "",
        )

    def _handle_puback(self, event: Puback) -> None:
        sent = self._mids.pop(event.mid, None)
        if sent is None:
            return
        topic, result_id = sent
        if event.refused:
            if result_id is not None:
                message = (
                    f"{self._link.where} refused result {result_id[:12]}… on {topic}: "
                    f"{event.reason}; the transport certificate must name device "
                    f"{self.settings.device_id} and the broker's ACL must let it publish there"
                )
                self.outbox.note_error(result_id, message)
                if self._strict:
                    raise SyncError(message)
            else:
                message = (
                    f"{self._link.where} refused a message on {topic}: {event.reason}; the "
                    f"broker's ACL must let device {self.settings.device_id} publish there"
                )
            log.error("%s", message)
        elif event.no_subscribers and result_id is not None:
            log.info(
                "no ingest worker listens yet; result %s… goes again when its ack is overdue",
                result_id[:12],
            )

    # --- commands ---

    def _handle_command(self, payload: bytes) -> None:
        try:
            command = decode(payload)
        except DecodeError as e:
            log.warning("unreadable command (%s): %s", e.reason, e)
            reply = reply_to_undecodable(self.settings.device_id, e, now_iso())
            if reply is not None:
                self._send(self._reply_topic, encode(reply))
            return
        if not isinstance(command, Command):
            log.warning("ignoring a %s message on the command topic", command.schema)
            return
        log.info("command %s (%s)", command.name.value, command.command_id)
        view = DeviceView(
            self.settings,
            self.outbox,
            self._versions,
            link_state(self._revoked),
            self._sender.in_flight,
        )
        self._send(self._reply_topic, encode(answer(command, view, self._revoke, self._wipe)))

    def _revoke(self, reason: str) -> None:
        """Stop sending for good (persisted), and say why in the heartbeat."""
        self.outbox.set_revoked(reason)
        self._revoked = reason
        self._drop_outgoing()
        log.warning("revoked by the server: %s; sending stopped", reason)
        self._heartbeat(time.monotonic())

    def _wipe(self, reason: str) -> WipeReport:
        """Wipe the appliance's data at rest, stop sending for good (the outbox keeps it as its
        revocation), and say so in the heartbeat."""
        self._drop_outgoing()
        report = wipe(self.settings, reason=reason, outbox=self.outbox)
        revoked = f"wiped: {reason}"
        try:
            if self.outbox.revoked() is None:  # the outbox's erasure did not get that far
                self.outbox.set_revoked(revoked)
        except OutboxError as e:
            log.error("%s", e)
        self._revoked = revoked
        self._items.clear()
        log.warning("wiped at the server's command: %s; sending stopped", reason)
        self._beats.mark_dirty()
        self._heartbeat(time.monotonic())
        return report

    # --- heartbeat ---

    def _maybe_heartbeat(self, now: float) -> None:
        if self._beats.due(now, self._revoked):
            self._heartbeat(now)

    def _heartbeat(self, now: float, state: LinkState | None = None) -> int | None:
        beat = self._beats.beat(now, self._revoked, state)
        return self._send(self._status_topic, encode(beat), retain=True)

    # --- connection ---

    def _try_connect(self, stop: threading.Event) -> None:
        """One attempt to (re)connect; on failure, the next is scheduled with back-off."""
        try:
            self._connect(self.connect_timeout, stop)
        except SyncError as e:
            delay = self._link.backoff()
            log.warning("%s; trying again in %.1f s", e, delay)
            self._next_attempt = time.monotonic() + delay
            try:
                self.outbox.set_last_error(str(e))
                self._link_error = True
            except OutboxError as again:
                log.error("%s", again)
            if self._link_noted is not False:
                # An appliance started while the broker is down never had a link to lose: the
                # kiosk must still say the link is down (once, so its "since" stays put).
                self._note_link(False)
            self._beats.mark_dirty()

    def _connect(self, timeout: float, stop: threading.Event | None = None) -> None:
        """Connect, subscribe to our ack and command topics, publish the heartbeat.

        Raises:
            SyncError: says which: unreachable, TLS, refused, or no answer.
        """
        self._drain_stale_events()
        session_present = self._link.connect(timeout, stop)
        self._connected = True
        log.info("connected to %s (session present: %s)", self._link.where, session_present)
        self._note_link(True)
        if self._link_error:
            # The connection problem is over; other problems (a rejection) stay on show.
            self.outbox.set_last_error(None)
            self._link_error = False
        self._heartbeat(time.monotonic())

    def _await(
        self, done: Callable[[], bool], timeout: float, stop: threading.Event | None
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            self._handle_events(min(remaining, MAX_WAIT_S))
        return True

    def _drain_stale_events(self) -> None:
        """Handle what the last connection left in the queue: acks and commands still count;
        its connection events no longer do."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if not isinstance(event, LinkLost):
                self._handle(event)

    def _on_link_lost(self, lost: LinkLost) -> None:
        if not self._connected:
            return
        self._connected = False
        # What was being published goes again when its ack is overdue (the sender's timers);
        # a PUBACK of the lost connection will not come.
        self._drop_outgoing()
        self._mids.clear()
        delay = self._link.backoff()
        self._next_attempt = time.monotonic() + delay
        log.warning("lost %s (%s); reconnecting in %.1f s", self._link.where, lost.why, delay)
        self._note_link(False)

    def _note_link(self, up: bool) -> None:
        """Tell the kiosk (another process) through the outbox whether the broker is reached."""
        try:
            self.outbox.set_link(up)
            self._link_noted = up
        except OutboxError as e:
            log.error("%s", e)

    def _shutdown(self) -> None:
        """A clean stop: let the broker acknowledge what was published, publish OFFLINE
        (retained) and disconnect with reason 0, so that the broker discards the last will."""
        if self._connected:
            self._await(lambda: not self._mids or not self._connected, STOP_GRACE_S, None)
        if self._connected:
            mid = self._heartbeat(time.monotonic(), LinkState.OFFLINE)
            self._await(lambda: mid not in self._mids or not self._connected, STOP_GRACE_S, None)
        self._link.disconnect()
        if self._connected:
            self._note_link(False)
        self._connected = False
        self._drop_outgoing()
