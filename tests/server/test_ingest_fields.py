"""A record's fields come from the signed PDF's XMP, never from the message's unsigned header:
through the real ingest path (Mosquitto with TLS, PDFs signed on SoftHSM, the pyHanko verifier,
SQLite and PostgreSQL) and read back through the HTTP API.

The attack of issue 14: a signed PDF with no fields, sent with header fields `ho_ten` and
`cccd`, was stored and served beside `signature_valid: true`. Here it is refused
(`fields_mismatch`), and so is a header changed after signing, whole or in chunks.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import Engine

from edge.ocr.model import OcrPage
from edge.pdf.assemble import assemble_pdf
from edge.pdf.xmp import Provenance, signed_metadata
from edge.signing.pades import DocumentSigner
from protocol.encoding import encode
from protocol.messages import AckStatus, ResultManifest, ResultMessage, sha256_hex
from protocol.reasons import RejectReason
from provisioning.ca import CertificateAuthority
from provisioning.softhsm import SoftHsmSetup
from server.api.main import create_app
from server.catalogue_files import KHANH_HOA_UNITS, PROCEDURES, read_procedures, read_units
from server.config import ServerSettings
from server.db import session_scope
from server.ingest import IngestWorker
from server.repository import devices, procedures, records, units
from server.verify import Verifier
from tests.fixtures.token import make_pdf, new_blank_token, provision_signing_identity
from tests.server.conftest import INGEST_DEVICE
from tests.server.counts import stored_records
from tests.server.peers import CREATED, DevicePeer, chunks, running
from tests.server.signin import sign_in

CHUNK = 16 * 1024

SIGNED_FIELDS: Mapping[str, str | None] = {
    "so_ky_hieu": "123/QĐ-UBND",
    "ngay_ban_hanh": "2025-02-14",
    "co_quan_ban_hanh": "ỦY BAN NHÂN DÂN XÃ VẠN THẮNG",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc hỗ trợ chi phí mai táng",
    "ho_ten": "Trần Thị Bình",
    "cccd": "001190012345",
    "ngay_sinh": "1990-05-01",
    "nguoi_ky": "Nguyễn Văn Cường",
}
"""What the officer confirmed, signed into the assembled result's XMP."""

READ_VALUES: Mapping[str, str | None] = {"ho_ten": "Trần Thi Blnh", "cccd": None}
"""What the appliance had read of the two fields the officer corrected (the CCCD not at all),
signed beside the corrected values."""

FORGED = {"ho_ten": "Nguyen Van Forged", "cccd": "000000000001"}
"""The attacker's header fields."""


@dataclass(frozen=True)
class Signed:
    """Results of `INGEST_DEVICE` signed on a token of their own.

    Attributes:
        cert_sha256: the signing certificate's fingerprint (registered for the device).
        bare: a signed PDF whose XMP carries no fields (no XMP at all).
        assembled: a two-page PDF/A made by `edge.pdf.assemble` with `SIGNED_FIELDS`, signed.
        not_xml: like `assembled`, but its XMP's name holds U+0007, which XML cannot carry: a
            hostile signer's file (the appliance's writer refuses the value, and pyHanko will not
            sign an XMP it cannot parse: the bytes are changed before signing, and pyHanko's
            rewrite of the metadata is switched off for it).
    """

    cert_sha256: str
    bare: bytes
    assembled: bytes
    not_xml: bytes


def _page(text: str) -> tuple[Image.Image, OcrPage]:
    image = Image.new("L", (827, 1169), 255)  # A4 at 100 dpi: small and quick
    ImageDraw.Draw(image).text((60, 60), text, fill=0)
    return image, OcrPage("", (), image.width, image.height, 100, 0.0)


@pytest.fixture(scope="module")
def signed(softhsm: SoftHsmSetup, signing_ca: CertificateAuthority) -> Signed:
    pdf = assemble_pdf(
        [_page("QUYET DINH so 123/QD-UBND"), _page("Noi nhan")],
        title="QUYẾT ĐỊNH",
        metadata=SIGNED_FIELDS,
        provenance=Provenance("UBND xã Vạn Thắng"),
        read=READ_VALUES,
    )
    marked = assemble_pdf(
        [_page("QUYET DINH so 123/QD-UBND")],
        metadata={**SIGNED_FIELDS, "ho_ten": "Trần Thị#Bình"},
    )
    assert marked.count("Thị#Bình".encode()) == 1  # in the XMP only
    not_xml = marked.replace("Thị#Bình".encode(), "Thị\x07Bình".encode())  # same length
    with new_blank_token(softhsm).open() as opened:
        identity = provision_signing_identity(opened, signing_ca, device_id=INGEST_DEVICE)
        signer = DocumentSigner(opened, identity.key_id, organisation=identity.unit)
        bare = signer.sign(make_pdf("QUYET DINH so 99/QD-UBND"))
        assembled = signer.sign(pdf)
        with pytest.MonkeyPatch.context() as hostile:
            hostile.setattr(IncrementalPdfFileWriter, "_update_meta", lambda self: None)
            not_xml = signer.sign(not_xml)
    fingerprint = identity.certificate.fingerprint(hashes.SHA256()).hex()
    return Signed(fingerprint, bare, assembled, not_xml)


@pytest.fixture
def worker(
    settings: ServerSettings, db_engine: Engine, signing_ca: CertificateAuthority, signed: Signed
) -> Iterator[IngestWorker]:
    with session_scope(db_engine) as s:
        devices.register_device(s, INGEST_DEVICE, "UBND xã Vạn Thắng", signed.cert_sha256)
    with running(IngestWorker(settings, db_engine, Verifier([signing_ca.cert]))) as worker:
        yield worker


def _whole(pdf: bytes, fields: Mapping[str, str | None]) -> bytes:
    return encode(ResultMessage.for_pdf(INGEST_DEVICE, pdf, fields, CREATED))


def _assert_refused_without_values(detail: str, *keys: str) -> None:
    for key in keys:
        assert key in detail
    for value in (*FORGED.values(), *(v for v in SIGNED_FIELDS.values() if v)):
        assert value not in detail  # a citizen's data never goes into a detail or a log


def test_a_signed_pdf_without_fields_sent_with_header_fields_is_rejected(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    device.send(_whole(signed.bare, FORGED))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is RejectReason.FIELDS_MISMATCH
    assert "carries no fields" in ack.detail
    _assert_refused_without_values(ack.detail, "ho_ten", "cccd")
    assert stored_records(db_engine) == 0


def test_the_forged_header_is_rejected_in_chunks_too(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    manifest = ResultManifest(
        device_id=INGEST_DEVICE,
        result_id=sha256_hex(signed.bare),
        size=len(signed.bare),
        chunk_size=CHUNK,
        fields=FORGED,
        created_at=CREATED,
    )
    device.send_all([manifest, *chunks(INGEST_DEVICE, signed.bare, CHUNK)])
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.FIELDS_MISMATCH
    assert stored_records(db_engine) == 0


def test_a_header_changed_after_signing_is_rejected(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    device.send(_whole(signed.assembled, {**SIGNED_FIELDS, "cccd": FORGED["cccd"]}))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.FIELDS_MISMATCH
    _assert_refused_without_values(ack.detail, "cccd")
    assert "ho_ten" not in ack.detail  # only the key that differs is named
    # A header that leaves a signed field out disagrees as well.
    device.send(_whole(signed.assembled, {**SIGNED_FIELDS, "ho_ten": None}))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.FIELDS_MISMATCH
    assert stored_records(db_engine) == 0


def test_a_signed_xmp_holding_what_xml_cannot_carry_is_rejected(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    """A document signed with a control character in a field (past the appliance's checks) is
    refused: its header cannot carry the value (refused at decoding) and its XMP cannot be read."""
    device.send(_whole(signed.not_xml, {**SIGNED_FIELDS, "ho_ten": None}))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.FIELDS_MISMATCH
    assert "not well-formed XML" in ack.detail
    _assert_refused_without_values(ack.detail)
    header, sep, body = _whole(signed.not_xml, SIGNED_FIELDS).partition(b"\n")
    obj = json.loads(header)
    obj["fields"]["ho_ten"] = "Trần Thị\x07Bình"  # as the XMP says it
    device.send(json.dumps(obj).encode() + sep + body)
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.SCHEMA
    assert "field ho_ten" in ack.detail and "U+0007" in ack.detail
    assert stored_records(db_engine) == 0


def test_a_refused_header_does_not_refuse_the_signed_pdf_with_its_own_fields(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    """A fields mismatch refuses the header, not the bytes: the same signed PDF sent again with
    the fields it carries is stored (the refusal is not kept for its copies)."""
    device.send(_whole(signed.assembled, {**SIGNED_FIELDS, "cccd": FORGED["cccd"]}))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.REJECTED and ack.reason is RejectReason.FIELDS_MISMATCH
    device.send(_whole(signed.assembled, SIGNED_FIELDS))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    assert stored_records(db_engine) == 1


def test_a_matching_header_is_stored_with_the_signed_values_and_served(
    worker: IngestWorker,
    device: DevicePeer,
    db_engine: Engine,
    settings: ServerSettings,
    signed: Signed,
) -> None:
    # The same fields in another form: decomposed (NFD), the number spaced around its slash.
    header = {k: unicodedata.normalize("NFD", v) if v else v for k, v in SIGNED_FIELDS.items()}
    header["so_ky_hieu"] = "123 / QĐ-UBND"
    device.send(_whole(signed.assembled, header))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    in_xmp = signed_metadata(signed.assembled)
    assert in_xmp is not None and in_xmp.document_id is not None
    with session_scope(db_engine) as s:
        record = records.get_record(s, str(ack.record_id))
        assert record is not None
        stored = {key: getattr(record, key) for key in SIGNED_FIELDS}
        assert (record.page_count, record.document_id) == (2, in_xmp.document_id)
    assert stored == dict(SIGNED_FIELDS)  # the XMP's values, not the header's forms
    with TestClient(create_app(settings, db_engine)) as client:
        sign_in(client, db_engine)
        served = client.get(f"/api/records/{ack.record_id}").json()
    assert served["signature_valid"] is True
    assert {key: served[key] for key in SIGNED_FIELDS} == in_xmp.stored_fields()
    assert served["page_count"] == 2 and served["document_id"] == in_xmp.document_id
    # Both the value read and the value the officer corrected it to are kept and served.
    assert in_xmp.read == READ_VALUES
    assert served["read_values"] == READ_VALUES
    assert served["ho_ten"] == SIGNED_FIELDS["ho_ten"]


def test_a_signed_pdf_without_fields_sent_without_fields_is_stored_without_fields(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    device.send(_whole(signed.bare, {"ho_ten": None, "cccd": ""}))  # null, empty: no value
    ack = device.next_final_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    with session_scope(db_engine) as s:
        record = records.get_record(s, str(ack.record_id))
        assert record is not None
        assert all(getattr(record, key) is None for key in SIGNED_FIELDS)
        assert record.page_count is None and record.document_id is None
        assert record.read_values is None  # nothing was corrected


def test_a_result_gets_its_unit_and_the_procedure_its_appliance_named(
    worker: IngestWorker, device: DevicePeer, db_engine: Engine, signed: Signed
) -> None:
    """The appliance's `procedure` metadata wins over the inference from the result type; the
    issuer printed on the result names its unit (on its issue date), and stays as printed."""
    with session_scope(db_engine) as s:
        units.import_units(s, read_units(KHANH_HOA_UNITS))
        procedures.import_procedures(s, read_procedures(PROCEDURES))
    message = ResultMessage.for_pdf(
        INGEST_DEVICE, signed.assembled, SIGNED_FIELDS, CREATED, metadata={"procedure": "1.004884"}
    )
    device.send(encode(message))
    ack = device.next_final_ack()
    assert ack.status is AckStatus.ACCEPTED, ack.detail
    with session_scope(db_engine) as s:
        record = records.get_record(s, str(ack.record_id))
        assert record is not None
        assert (record.procedure_code, record.unit_code) == ("1.004884", "22516")
        assert record.co_quan_ban_hanh == SIGNED_FIELDS["co_quan_ban_hanh"]
