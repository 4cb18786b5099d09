"""Refuse, never crash (issue 14, item 5), against the real services: Mosquitto with TLS, PDFs
signed on SoftHSM, the pyHanko verifier and the real ingest worker, on SQLite and PostgreSQL.

A result holding a value no repository can store is refused with a reason before anything of
it is stored; an unforeseen error while handling one result (injected through a verifier that
raises, given to the worker's constructor) rejects that result, names no citizen in the log,
and the next result is accepted. On SQLite, the repository's files are the server's user's
only after real use (item 6)."""

from __future__ import annotations

import json
import logging
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from protocol.encoding import encode
from protocol.messages import AckStatus, sha256_hex
from protocol.reasons import RejectReason
from server.blobs import BLOB_DIR
from server.config import ServerSettings
from server.ingest import IngestWorker, VerdictLike
from server.verify import Verifier
from tests.server.conftest import IngestSigner
from tests.server.counts import staged_rows, stored_records
from tests.server.peers import DevicePeer, manifest, running, wait_for, whole

CITIZEN = "Nguyễn Văn Bình 001099012345"
"""What an error message may quote of a result (a database error quotes the row): never logged."""


def _blobs(settings: ServerSettings) -> list[Path]:
    return sorted((settings.data_dir / BLOB_DIR).rglob("*.pdf"))


def _with_field(payload: bytes, key: str, value: str) -> bytes:
    """`payload` (a result or manifest) with one field set to `value`, escaped as JSON allows
    (a lone surrogate becomes "\\ud800", as a hostile sender would write it)."""
    header, sep, body = payload.partition(b"\n")
    obj = json.loads(header)
    obj["fields"][key] = value
    return json.dumps(obj).encode() + sep + body


@pytest.mark.parametrize(
    "bad",
    ["Nguy\ud800n Văn A", "Trần\x00Thị B", "Trần\x07Thị B"],
    ids=["surrogate", "nul", "not-xml"],
)
def test_a_field_no_repository_can_store_is_rejected_and_the_next_result_is_accepted(
    bad: str,
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    settings: ServerSettings,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    poisoned = ingest_signer.extra[0]
    device.send(_with_field(whole(device.device_id, poisoned), "ho_ten", bad))
    ack = device.next_ack()
    assert ack.result_id == sha256_hex(poisoned)
    assert (ack.status, ack.reason) == (AckStatus.REJECTED, RejectReason.SCHEMA)
    assert re.search(r"fields?[. ]ho_ten", ack.detail)
    # Refused before verification: no blob written for a record that never came (no orphan).
    assert _blobs(settings) == []

    # The same through a chunked transfer: its manifest is refused before it is staged.
    big = ingest_signer.large
    device.send(_with_field(encode(manifest(device.device_id, big, 64 * 1024)), "cccd", bad))
    ack = device.next_ack()
    assert (ack.result_id, ack.reason) == (sha256_hex(big), RejectReason.SCHEMA)

    device.send(whole(device.device_id, ingest_signer.small))
    ack = device.next_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert stored_records(db_engine) == 1
    assert [p.name for p in _blobs(settings)] == [f"{sha256_hex(ingest_signer.small)}.pdf"]


class _FailsOn:
    """A verifier that fails unforeseen (a bug's exception, quoting a citizen) on one result
    and verifies every other with the real verifier: the hook of an unexpected error."""

    def __init__(self, real: Verifier, result_id: str) -> None:
        self.real = real
        self.result_id = result_id
        self.calls = 0

    def verify(self, pdf: bytes, *, device_id: str) -> VerdictLike:
        self.calls += 1
        if sha256_hex(pdf) == self.result_id:
            raise RuntimeError(f"cannot handle {CITIZEN}")
        return self.real.verify(pdf, device_id=device_id)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_an_unforeseen_error_on_one_result_rejects_it_and_the_worker_goes_on(
    chunked: bool,
    settings: ServerSettings,
    device: DevicePeer,
    db_engine: Engine,
    verifier: Verifier,
    ingest_signer: IngestSigner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest_signer.register(db_engine)
    poison = ingest_signer.large if chunked else ingest_signer.extra[1]
    failing = _FailsOn(verifier, sha256_hex(poison))
    caplog.set_level(logging.DEBUG)
    with running(IngestWorker(settings, db_engine, failing)) as worker:
        if chunked:
            device.send_chunked(poison, 64 * 1024)
        else:
            device.send(whole(device.device_id, poison))
        ack = device.next_final_ack()
        assert ack.result_id == sha256_hex(poison)
        assert (ack.status, ack.reason) == (AckStatus.REJECTED, RejectReason.INTERNAL)
        assert "RuntimeError" in ack.detail and CITIZEN not in ack.detail

        device.send(whole(device.device_id, ingest_signer.small))
        ack = device.next_ack()
        assert ack.status is AckStatus.ACCEPTED, ack.detail
        wait_for(lambda: worker.stats().accepted == 1, "the accepted count")
        assert worker.stats().rejected == 1
    assert stored_records(db_engine) == 1
    assert staged_rows(db_engine) == (0, 0)  # the rejected transfer's staged parts are gone
    assert failing.calls == 2
    logged = caplog.text
    assert "RuntimeError at" in logged and "_merge" in logged  # the kind and the place...
    assert "Nguyễn" not in logged and "001099012345" not in logged  # ...never the data


def test_the_repository_is_the_server_users_only_after_real_use(
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    db_url: str,
    settings: ServerSettings,
    ingest_signer: IngestSigner,
) -> None:
    ingest_signer.register(db_engine)
    device.send(whole(device.device_id, ingest_signer.small))
    assert device.next_ack().status is AckStatus.ACCEPTED
    device.send_chunked(ingest_signer.large, 64 * 1024)
    assert device.next_final_ack().status is AckStatus.ACCEPTED

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    blobs = _blobs(settings)
    assert len(blobs) == 2
    folders = {settings.data_dir, settings.data_dir / BLOB_DIR, *(p.parent for p in blobs)}
    assert {str(f): mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    assert {str(p): mode(p) for p in blobs} == {str(p): 0o600 for p in blobs}
    if db_url.startswith("sqlite"):
        database = Path(db_url.removeprefix("sqlite:///"))
        files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
        assert all(f.exists() for f in files)  # WAL mode, in use
        assert {str(f): mode(f) for f in files} == {str(f): 0o600 for f in files}
