"""The appliance's answers to the server's commands (`protocol.commands`), apart from the MQTT
adapter that carries them: a command and what the appliance knows go in, a reply comes out.

    ping     ok: versions, link state, queue depth, results in flight
    config   ok: the settings in force, secrets left out; settings sent with the command are
             refused (error): they change only in the appliance's own edge.toml, so that a
             command cannot point the appliance at another broker or CA
    catalog  ok: the outbox's counts per state and the ids of the results still waiting
    revoke   the caller stops sending and persists the revocation (`revoke`), then ok
    wipe     the caller wipes the appliance's data at rest (`wipe`: the token's sealing key, the
             sealed data key, the outbox, the kiosk's drafts; `edge.sync.at_rest`) and stops
             sending as revoke does, then ok with what was done, or error naming what could
             not be (the token unplugged: it says so, and a second wipe finishes)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.config import EdgeSettings
from edge.sync.at_rest import DEFAULT_WIPE_REASON, WipeReport
from edge.sync.outbox import Outbox, State
from protocol.commands import Command, CommandName, CommandReply, ReplyStatus
from protocol.jsonvalue import JsonValue
from protocol.status import LinkState

CATALOG_MAX_IDS = 1000
"""The most result ids a catalog reply lists."""
SECRET_SETTINGS = frozenset({"key_file"})
"""Settings a config reply leaves out."""
DEFAULT_REVOKE_REASON = "revoked by the province"


@dataclass(frozen=True)
class DeviceView:
    """What a reply may tell of the appliance.

    Attributes:
        settings: its settings.
        outbox: its outbox.
        versions: its software versions.
        state: its link state.
        in_flight: results published and waiting for their ack.
    """

    settings: EdgeSettings
    outbox: Outbox
    versions: Mapping[str, str]
    state: LinkState
    in_flight: int


def answer(
    command: Command,
    view: DeviceView,
    revoke: Callable[[str], None],
    wipe: Callable[[str], WipeReport],
) -> CommandReply:
    """The reply to `command` (carried out first, for revoke and wipe).

    Args:
        command: a decoded command from the appliance's command topic.
        view: what the appliance knows now.
        revoke: stops sending for good, with the reason (the agent's own).
        wipe: wipes the appliance's data at rest and stops sending, with the reason (the
            agent's own).
    """
    device_id = view.settings.device_id
    if command.device_id != device_id:
        return _reply(
            command, device_id, ReplyStatus.ERROR, f"this is {device_id}, not {command.device_id}"
        )
    if command.name is CommandName.PING:
        data: dict[str, JsonValue] = {
            "versions": dict(view.versions),
            "state": view.state.value,
            "queue_depth": view.outbox.status().queue_depth,
            "in_flight": view.in_flight,
        }
        return _reply(command, device_id, ReplyStatus.OK, "pong", data)
    if command.name is CommandName.CONFIG:
        current = view.settings.model_dump(mode="json", exclude=set(SECRET_SETTINGS))
        data = {"settings": current}
        asked = command.args.get("settings")
        if isinstance(asked, dict) and asked:
            keys = ", ".join(sorted(asked))
            detail = (
                f"this appliance does not change its settings over the air ({keys}): edit its "
                "edge.toml and restart the sync"
            )
            return _reply(command, device_id, ReplyStatus.ERROR, detail, data)
        return _reply(command, device_id, ReplyStatus.OK, "current settings", data)
    if command.name is CommandName.CATALOG:
        counts = view.outbox.counts()
        data = {
            "counts": {state.value: n for state, n in counts.items()},
            "waiting": list(view.outbox.waiting_ids(CATALOG_MAX_IDS)),
            "waiting_total": counts[State.QUEUED] + counts[State.SENT],
            "catalog_version": str(command.args.get("version", "")),
        }
        return _reply(command, device_id, ReplyStatus.OK, "outbox contents", data)
    if command.name is CommandName.WIPE:
        report = wipe(str(command.args.get("reason", "")) or DEFAULT_WIPE_REASON)
        data = {
            "token_keys_destroyed": report.token_keys_destroyed,
            "data_key_removed": report.data_key_removed,
            "results_erased": report.results_erased,
            "files_removed": report.files_removed,
            "problems": list(report.problems),
        }
        if report.complete:
            return _reply(command, device_id, ReplyStatus.OK, f"wiped: {report.summary()}", data)
        detail = f"wipe incomplete: {'; '.join(report.problems)}"
        return _reply(command, device_id, ReplyStatus.ERROR, detail, data)
    reason = str(command.args.get("reason", "")) or DEFAULT_REVOKE_REASON
    revoke(reason)
    return _reply(command, device_id, ReplyStatus.OK, f"sending stopped: {reason}")


def _reply(
    command: Command,
    device_id: str,
    status: ReplyStatus,
    detail: str,
    data: dict[str, JsonValue] | None = None,
) -> CommandReply:
    return CommandReply(
        device_id=device_id,
        command_id=command.command_id,
        status=status,
        detail=detail,
        data=data or {},
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
