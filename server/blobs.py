"""The content-addressed blob store: signed PDFs under `data_dir/blobs/ab/<sha256>.pdf`.

Rules of this module:
- A blob's name is the SHA-256 of its bytes (the result's identity), so the same PDF stored twice
  is one file, and a name can be checked against its content.
- Writes are atomic (temp file, fsync, rename): a crash leaves a whole blob or none.
- Blobs are citizen data: files 0600, their folders (and data_dir) 0700.
- Only names made here are opened: a path from the database that points outside the store is
  refused, never followed.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import BinaryIO

from protocol.messages import sha256_hex
from server.errors import RepositoryError
from support.files import PRIVATE_FILE, private_dir, write_atomic

BLOB_DIR = "blobs"
SUFFIX = ".pdf"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# write_atomic names its temp file after the process, so two threads of one process writing the
# same blob must take turns; striped by the name's first byte.
_LOCKS = [threading.Lock() for _ in range(256)]


class BlobStore:
    """Signed PDFs on disk, named by their SHA-256.

    Args:
        data_dir: the server's data folder; blobs go in its `blobs/` sub-folder.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / BLOB_DIR

    def relative_path(self, sha256: str) -> str:
        """The blob's path relative to `data_dir` (what the repository stores).

        Raises:
            RepositoryError: `sha256` is not 64 lower-case hex digits.
        """
        if not _SHA256.match(sha256):
            raise RepositoryError(f"not a SHA-256 blob name: {sha256!r}")
        return f"{BLOB_DIR}/{sha256[:2]}/{sha256}{SUFFIX}"

    def path(self, sha256: str) -> Path:
        """Where the blob named `sha256` lives (whether or not it exists)."""
        return self.data_dir / self.relative_path(sha256)

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored relative path, refusing anything outside the store.

        Raises:
            RepositoryError: `relative` does not name a blob of this store.
        """
        name = Path(relative).name.removesuffix(SUFFIX)
        if not _SHA256.match(name) or relative != self.relative_path(name):
            raise RepositoryError(f"not a blob path of this store: {relative!r}")
        return self.data_dir / relative

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its path relative to `data_dir`.

        Raises:
            RepositoryError: the blob could not be written (disk full, permissions).
        """
        sha = sha256_hex(data)
        path = self.path(sha)
        with _LOCKS[int(sha[:2], 16)]:
            try:
                if path.is_file() and path.stat().st_size == len(data):
                    return self.relative_path(sha)
                if not path.parent.is_dir():
                    for folder in (self.data_dir, self.root, path.parent):
                        private_dir(folder)
                write_atomic(path, data, mode=PRIVATE_FILE)
            except OSError as e:
                raise RepositoryError(
                    f"cannot write blob {sha} under {self.root}: {e}; check the disk and "
                    "the permissions of data_dir"
                ) from e
        return self.relative_path(sha)

    def exists(self, sha256: str) -> bool:
        """Whether the blob named `sha256` is stored."""
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for reading (the caller closes it).

        Raises:
            RepositoryError: there is no such blob.
        """
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError as e:
            raise RepositoryError(f"blob {sha256} is missing from {self.root}") from e

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, checked against its name.

        Raises:
            RepositoryError: there is no such blob, or its content no longer matches its name.
        """
        with self.open(sha256) as f:
            data = f.read()
        if sha256_hex(data) != sha256:
            raise RepositoryError(f"blob {sha256} is corrupt: its content has another SHA-256")
        return data
