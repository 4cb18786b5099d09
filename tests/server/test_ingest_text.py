"""The text layer of an ingested result is read after its ack (`server.pdftext.TextLayerReader`)
and the result is searchable by its words within seconds of the ack, on SQLite and PostgreSQL;
while its text is pending the search index waits for it rather than index the result without
it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine

from edge.signing.pades import DocumentSigner
from protocol.messages import AckStatus, sha256_hex
from provisioning.ca import CertificateAuthority
from provisioning.softhsm import SoftHsmSetup
from server.config import ServerSettings
from server.db import session_scope
from server.ingest import IngestWorker
from server.models import Record
from server.pdftext import TEXT_PENDING, TEXT_WAIT_S
from server.repository import devices, records, search_source
from server.search.index import SearchIndex
from server.search.query import SearchQuery, text_words
from server.verify import Verifier
from tests.fixtures.token import new_blank_token, provision_signing_identity, with_fields
from tests.server.conftest import INGEST_DEVICE
from tests.server.peers import FIELDS, DevicePeer, running, wait_for, whole
from tests.server.test_pdftext import pdf_with_text

WORDS = "Bien ban ban giao mat bang thua dat so 217"


@pytest.fixture(scope="module")
def texted(softhsm: SoftHsmSetup, signing_ca: CertificateAuthority) -> tuple[str, bytes]:
    """(the signing certificate's fingerprint, a signed result with a text layer)."""
    with new_blank_token(softhsm).open() as opened:
        identity = provision_signing_identity(opened, signing_ca, device_id=INGEST_DEVICE)
        signer = DocumentSigner(opened, identity.key_id, organisation=identity.unit)
        pdf = signer.sign(with_fields(pdf_with_text(WORDS), FIELDS))
    return identity.certificate.fingerprint(hashes.SHA256()).hex(), pdf


@pytest.fixture
def worker(
    settings: ServerSettings,
    db_engine: Engine,
    signing_ca: CertificateAuthority,
    texted: tuple[str, bytes],
) -> Iterator[IngestWorker]:
    with session_scope(db_engine) as s:
        devices.register_device(s, INGEST_DEVICE, "UBND xã Vạn Thắng", texted[0])
    with running(IngestWorker(settings, db_engine, Verifier([signing_ca.cert]))) as worker:
        yield worker


def test_an_ingested_results_text_is_searchable_within_seconds_of_its_ack(
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    texted: tuple[str, bytes],
    tmp_path: Path,
) -> None:
    index = SearchIndex(tmp_path / "search", db_engine, refresh_s=0.05)
    query = SearchQuery(text=text_words("ban giao mat bang", "q"))
    assert index.search(query, 5).ids == []
    device.send(whole(INGEST_DEVICE, texted[1]))
    ack = device.next_ack()
    acked = time.monotonic()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    wait_for(lambda: index.search(query, 5).ids == [ack.record_id], "the text found", timeout=10)
    assert time.monotonic() - acked < 5
    with session_scope(db_engine) as s:
        stored = s.get(Record, ack.record_id)
        assert stored is not None and stored.ocr_text is not None and "217" in stored.ocr_text


class Verdict:
    valid = True
    signer_common_name = "text-02"
    signing_time: dt.datetime | None = None


def _pending(engine: Engine, name: str) -> str:
    with session_scope(engine) as s:
        if devices.get_device(s, "text-02") is None:
            devices.register_device(s, "text-02", "UBND xã Vạn Thắng", sha256_hex(b"cert"))
        return records.merge_result(
            s,
            result_id=sha256_hex(name.encode()),
            device_id="text-02",
            fields={"ho_ten": name},
            verdict=Verdict(),
            pdf_path="x.pdf",
            pdf_size=1,
            ocr_text=TEXT_PENDING,
        ).record_id


def test_the_index_waits_for_a_pending_text_then_indexes_the_result_with_it(
    db_engine: Engine, tmp_path: Path
) -> None:
    record_id = _pending(db_engine, "Mấu Thị Chờ")
    index = SearchIndex(tmp_path / "search", db_engine, refresh_s=0.001)
    by_name = SearchQuery(name=text_words("mau thi cho", "name"))
    assert index.search(by_name, 5).ids == []  # not indexed without its text
    with session_scope(db_engine) as s:
        search_source.store_text(s, record_id, WORDS)
    assert index.search(by_name, 5).ids == [record_id]
    by_text = SearchQuery(text=text_words("mat bang thua dat", "q"))
    assert index.search(by_text, 5).ids == [record_id]  # indexed once, with its text


def test_a_text_pending_too_long_is_indexed_without_it(db_engine: Engine, tmp_path: Path) -> None:
    record_id = _pending(db_engine, "Mấu Thị Lâu")
    with session_scope(db_engine) as s:
        record = s.get(Record, record_id)
        assert record is not None
        record.received_at = record.received_at - dt.timedelta(seconds=TEXT_WAIT_S + 1)
        s.add(record)
        s.commit()
    index = SearchIndex(tmp_path / "search", db_engine, refresh_s=0.001)
    assert index.search(SearchQuery(name=text_words("mau thi lau", "name")), 5).ids == [record_id]
