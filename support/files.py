"""Crash-safe file writes (temp file, fsync, rename, so power loss never leaves half a file), and
private folders and files: citizen data (the server's repository, blobs and log, the appliance's
outbox) is readable by its service's user only, whatever the umask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700
"""The mode of a folder holding citizen data: its owner only."""
PRIVATE_FILE = 0o600
"""The mode of a file holding citizen data (or a key): its owner only."""
GROUP_DIR = 0o2770
"""The mode of a folder of citizen data shared by the users of its group (the appliance's kiosk
and sync agent run as two users of one group): the group's, and what is made in it is too
(setgid)."""
GROUP_FILE = 0o660
"""The mode of a file of citizen data shared the same way."""
PRIVATE_UMASK = 0o077
"""The umask of the long-running services (server, sync agent): what they create that no code
here gives a mode to is still their user's only."""


def private_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Make folder `path` if missing and make it its owner's only (0700, or `mode`: e.g.
    `GROUP_DIR`); parents made on the way get the umask's mode (what is private is inside
    `path`).

    Returns:
        `path`.

    Raises:
        OSError: it cannot be made or its mode set.
    """
    path.mkdir(mode=mode & 0o777, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o7777 != mode:
        path.chmod(mode)  # mkdir's mode passes through the umask; an old folder had any
    return path


def private_file(path: Path, mode: int = PRIVATE_FILE) -> Path:
    """Make `path` its owner's only (0600, or `mode`: e.g. `GROUP_FILE`), creating it empty if
    missing (so that a program that then opens it, e.g. SQLite, never creates it with the
    umask's mode).

    Returns:
        `path`.

    Raises:
        OSError: it cannot be created or its mode set.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, mode)
    try:
        if os.fstat(fd).st_mode & 0o777 != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one, whole.

    Safe when several threads or processes write the same path at once: each writes its own
    temp file, and the last rename wins with a complete file.

    Args:
        path: the destination; its folder is made if missing.
        data: the bytes to write.
        mode: permission bits of the new file (0o600 for keys).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
