"""Watching the appliances over MQTT: their heartbeats, the commands sent to them, and the staging
tables' housekeeping. One `DeviceWatcher` runs in each server process, beside its ingest workers
(both started by `server.cli`). What an admin reads of the devices over HTTP is
`server.api.routes.devices`; both go through `server.repository.devices`.

Rules of this module:
- Heartbeats are read through a plain (not shared) subscription with a clean session: at every
  (re)connection the broker sends each device's retained heartbeat (MQTT v5 section
  3.3.1.3), so a restarted server knows every appliance's last word at once; the last will
  (state offline) arrives the same way when an appliance vanishes. Every server process
  records them; a late copy never overwrites a newer heartbeat, and one dated further ahead
  than `heartbeat_clock_skew_s` counts as received now (`repository.devices.record_heartbeat`).
- A heartbeat that cannot be read or stored is logged (by kind, without its content) and
  skipped; the watcher goes on.
- Commands are queued in the database (by the API or the CLI) and published here: each is
  claimed by one process only, then published on the device's `cmd` topic with QoS 1 (the
  device's persistent session keeps it while the device is offline). The device's reply comes
  back through the ingest workers' shared subscription.
- Staged parts of chunked results untouched for `staging_expiry_s` are deleted here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from protocol import topics
from protocol.encoding import decode, encode
from protocol.errors import DecodeError, ProtocolError, TopicError
from protocol.status import Heartbeat
from server.config import ServerSettings
from server.consumer import MqttConsumer
from server.db import session_scope
from server.errors import IngestError, ServerError, where_it_failed
from server.models import DeviceCommand, utc_now
from server.repository import commands, devices, staging, verifications
from support.mqtt_types import Incoming

log = logging.getLogger(__name__)

HEARTBEAT_QUEUE_MESSAGES = 256
HEARTBEAT_QUEUE_BYTES = 1024 * 1024
MAX_HEARTBEAT_BYTES = 64 * 1024
"""A heartbeat is a few hundred bytes; anything larger is refused by the broker for us."""
EXPIRY_EVERY_S = 600.0


class DeviceWatcher(MqttConsumer):
    """Records heartbeats, publishes queued commands and expires abandoned staging.

    Args:
        settings: broker address, TLS identity, command polling and staging expiry.
        engine: the repository's engine (migrated).
    """

    def __init__(self, settings: ServerSettings, engine: Engine) -> None:
        host = socket.gethostname().replace(".", "-")[:20]
        super().__init__(
            settings,
            name="device-watcher",
            client_id=f"sohoa-watch-{host}-{os.getpid()}",
            subscriptions=(topics.all_devices_filter(topics.Kind.STATUS),),
            persistent=False,
            queue_messages=HEARTBEAT_QUEUE_MESSAGES,
            queue_bytes=HEARTBEAT_QUEUE_BYTES,
            max_packet_bytes=MAX_HEARTBEAT_BYTES,
        )
        self.engine = engine
        self.heartbeats = 0
        self.commands_sent = 0
        self._next_poll = 0.0
        self._next_expiry = 0.0

    def handle(self, message: Incoming) -> None:
        """Record one heartbeat; what cannot be read or stored is logged and skipped."""
        received_at = utc_now()
        try:
            where = topics.parse(message.topic)
            heartbeat = decode(message.payload)
        except (TopicError, DecodeError) as e:
            log.warning("unreadable heartbeat on %s: %s", message.topic, e)
            return
        if not isinstance(heartbeat, Heartbeat) or heartbeat.device_id != where.device_id:
            log.warning("something else than its own heartbeat on %s", message.topic)
            return
        try:
            with session_scope(self.engine) as session:
                stored = devices.record_heartbeat(
                    session,
                    heartbeat,
                    received_at,
                    clock_skew_s=self.settings.heartbeat_clock_skew_s,
                )
        except ServerError as e:
            log.error("cannot record the heartbeat of device %s: %s", where.device_id, e)
            return
        except Exception as e:  # the watcher never dies on a heartbeat
            log.error(
                "unexpected %s recording the heartbeat of device %s; skipped",
                where_it_failed(e),
                where.device_id,
            )
            return
        if stored:
            self.heartbeats += 1
            log.debug("device %s is %s", where.device_id, heartbeat.state.value)

    def tick(self) -> None:
        """Publish queued commands every `command_poll_s`; expire staging every 10 minutes."""
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self.settings.command_poll_s
            self.dispatch_commands()
        if now >= self._next_expiry:
            self._next_expiry = now + EXPIRY_EVERY_S
            self.expire_staging()

    def dispatch_commands(self) -> int:
        """Claim and publish the queued commands; returns how many went out."""
        try:
            with session_scope(self.engine) as session:
                claimed = commands.claim_queued_commands(session)
        except ServerError as e:
            log.error("cannot read the queued commands: %s", e)
            return 0
        sent = 0
        for command in claimed:
            if publish_command(self, command, self.engine):
                sent += 1
        self.commands_sent += sent
        return sent

    def expire_staging(self, now: dt.datetime | None = None) -> int:
        """Delete staged transfers untouched for `staging_expiry_s`; returns how many went."""
        cutoff = (now or utc_now()) - dt.timedelta(seconds=self.settings.staging_expiry_s)
        try:
            with session_scope(self.engine) as session:
                gone = staging.expire(session, cutoff)
                verifications.expire(session, cutoff)  # refusals are kept as long
                session.commit()
        except SQLAlchemyError as e:
            log.error("cannot expire staged transfers: %s", e)
            return 0
        if gone:
            log.info("expired %d abandoned transfer(s) staged before %s", gone, cutoff)
        return gone


class CommandPublisher(Protocol):
    """What `publish_command` needs: a QoS 1 publish that waits for the broker (`MqttLink`
    and every `MqttConsumer` have it)."""

    def publish_and_wait(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish and wait for the broker's PUBACK; raise IngestError if it does not come."""


def publish_command(publisher: CommandPublisher, command: DeviceCommand, engine: Engine) -> bool:
    """Publish a claimed command on its device's `cmd` topic; on failure put it back in the
    queue, so that another try (here, or in another process) sends it.

    Args:
        publisher: a connected MQTT link with the server's identity.
        command: a command claimed by this caller (state sent).
        engine: the repository, to requeue the command on failure.

    Returns:
        Whether the broker took it.
    """
    try:
        message = commands.command_message(command)
        publisher.publish_and_wait(topics.cmd_topic(command.device_id), encode(message))
    except (IngestError, ProtocolError) as e:
        log.error(
            "cannot send command %s to device %s: %s", command.command_id, command.device_id, e
        )
        try:
            with session_scope(engine) as session:
                commands.requeue_command(session, command.command_id)
        except ServerError as again:
            log.error("cannot requeue command %s: %s", command.command_id, again)
        return False
    log.info(
        "sent command %s (%s) to device %s",
        command.command_id,
        command.name.value,
        command.device_id,
    )
    return True
