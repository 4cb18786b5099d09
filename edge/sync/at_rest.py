"""The appliance's data at rest as its settings say: the outbox opened sealed or not
(`open_outbox`, for the kiosk and the sync agent alike), and the wipe that leaves nothing of it
that can be read (`wipe`: `sohoa edge wipe`, and the server's `wipe` command for a lost
appliance).

A wipe goes in the order that makes it safe to cut short at any point:

1. the token's sealing key is destroyed: from then on no copy of the sealed data key, on this
   card or on a copy of it made earlier, opens again (the one step that needs the token);
2. the sealed data key's file is overwritten and removed;
3. the outbox's results are erased (rows, PDF files, the database's free pages and WAL) and the
   outbox stops as a revoked appliance's does, until the appliance is enrolled again;
4. the kiosk's half-done results (`<data_dir>/kiosk/`: page images, corrections, a batch's
   signed PDFs, none of them sealed) are overwritten and removed.

Run again, it finishes what a first run could not (a token that was unplugged, a busy
database). With sealing off, the steps 1 and 2 have nothing to do, and the erased files were in
clear: a flash card may keep copies of their blocks that no file system call reaches.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from edge.config import EdgeSettings
from edge.errors import OutboxError
from edge.sync.outbox import Outbox
from edge.sync.sealing import destroy_keys, overwrite_and_remove, sealer_for

log = logging.getLogger(__name__)

KIOSK_DIR = "kiosk"
"""The kiosk's folder in `data_dir`: its draft and batch (page images, fields, signed PDFs)."""
DEFAULT_WIPE_REASON = "wiped by the province"


def open_outbox(settings: EdgeSettings) -> Outbox:
    """The appliance's outbox, sealed when `outbox_sealing` is on (its data key unsealed on
    the token, no PIN needed; made on first use).

    Raises:
        ConfigError: sealing is on and no token is configured.
        OutboxError: the outbox cannot be opened, or its data key cannot be unsealed (the
            message says why and what to do).
    """
    sealer = None
    if settings.outbox_sealing:
        sealed = Outbox.sealed_with(settings.outbox_dir)
        sealer = sealer_for(settings, may_create=sealed is None)
    return Outbox(
        settings.outbox_dir,
        retention_s=settings.outbox_retention_s,
        shared_with_group=settings.outbox_shared_with_group,
        sealer=sealer,
    )


@dataclass(frozen=True)
class WipeReport:
    """What a wipe did.

    Attributes:
        token_keys_destroyed: sealing keys destroyed on the token (0: none was there), or None
            when no token is configured.
        data_key_removed: whether a sealed data key file was there and is gone.
        results_erased: results erased from the outbox.
        files_removed: files removed (the outbox's PDFs and the kiosk's drafts).
        problems: what could not be done, each with what to do (empty: all done).
    """

    token_keys_destroyed: int | None
    data_key_removed: bool
    results_erased: int
    files_removed: int
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every step was done."""
        return not self.problems

    def summary(self) -> str:
        """One line for the admin (no personal data)."""
        token = (
            "no token configured"
            if self.token_keys_destroyed is None
            else f"{self.token_keys_destroyed} sealing key(s) destroyed on the token"
        )
        key = "sealed data key removed" if self.data_key_removed else "no sealed data key"
        return (
            f"{token}; {key}; {self.results_erased} result(s) erased; "
            f"{self.files_removed} file(s) removed"
        )


def wipe(settings: EdgeSettings, *, reason: str, outbox: Outbox | None = None) -> WipeReport:
    """Make the appliance's data at rest unreadable for good (the module's steps, in order).

    Args:
        settings: the appliance's settings (token, device id, data_dir).
        reason: why (no personal data), kept as the outbox's revocation.
        outbox: the outbox already open in this process (the sync agent's), else it is opened
            here without its key (a wipe needs none).

    Returns:
        What was done, and what could not be (`problems`).
    """
    problems: list[str] = []
    destroyed, key_removed, token_problem = destroy_keys(settings)
    if token_problem is not None:
        problems.append(
            f"the token's sealing key was not destroyed ({token_problem}): plug the appliance's "
            "token in and wipe again, or a copy of this card made before could still be read"
        )
    erased = removed = 0
    try:
        if outbox is not None:
            erased, removed = outbox.wipe(reason)
        elif (settings.outbox_dir / "outbox.db").exists():
            with Outbox(
                settings.outbox_dir,
                shared_with_group=settings.outbox_shared_with_group,
                keyless=True,
            ) as keyless:
                erased, removed = keyless.wipe(reason)
    except OutboxError as e:
        problems.append(f"the outbox was not erased: {e}")
    removed += _remove_tree(settings.data_dir / KIOSK_DIR, problems)
    report = WipeReport(destroyed, key_removed, erased, removed, tuple(problems))
    log.warning("appliance data wiped: %s", report.summary())
    for problem in problems:
        log.error("wipe incomplete: %s", problem)
    return report


def _remove_tree(folder: Path, problems: list[str]) -> int:
    """Overwrite and remove every file under `folder`, then the folder; count the files."""
    if not folder.exists():
        return 0
    removed = 0
    try:
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file() and not path.is_symlink():
                overwrite_and_remove(path)
                removed += 1
        shutil.rmtree(folder)
    except OSError as e:
        problems.append(f"{folder} was not removed ({e.strerror}): remove it by hand")
    return removed
