"""The blob store beside the repository: content-addressed, idempotent, confined to its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.messages import sha256_hex
from server.blobs import BlobStore
from server.errors import RepositoryError


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"%PDF-1.7 blob"
    sha = sha256_hex(data)
    rel = store.put(data)
    assert rel == f"blobs/{sha[:2]}/{sha}.pdf"
    assert (tmp_path / rel).read_bytes() == data
    assert store.put(data) == rel
    assert store.read(sha) == data
    assert store.resolve(rel) == tmp_path / rel
    assert list((tmp_path / "blobs").rglob("*")) == [tmp_path / "blobs" / sha[:2], tmp_path / rel]


def test_blob_store_refuses_paths_outside_it_and_detects_corruption(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for bad in ("../etc/passwd", "blobs/ab/../../x.pdf", f"/blobs/aa/{'a' * 64}.pdf"):
        with pytest.raises(RepositoryError):
            store.resolve(bad)
    with pytest.raises(RepositoryError, match="missing"):
        store.read("0" * 64)
    sha = sha256_hex(b"original")
    (tmp_path / store.put(b"original")).write_bytes(b"tampered")
    with pytest.raises(RepositoryError, match="corrupt"):
        store.read(sha)
