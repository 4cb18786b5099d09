"""A result exported per Nghị định 30/2020/NĐ-CP: its signed PDF exactly as the appliance sent it
and its metadata as XML, in one ZIP (`GET /api/results/{id}/export.zip`).

The XML (`metadata_xml`) carries the electronic document's metadata under the element names
shared/DOMAIN.md gives for Nghị định 30/2020 Phụ lục VI, the same names the appliance signs
into the PDF's XMP (`protocol.signed_metadata.FIELD_TO_PROPERTY`):

    <?xml version='1.0' encoding='UTF-8'?>
    <ElectronicDocument>
      <Identifier>sha256 of the PDF</Identifier>   the result's identity in the repository
      <TypeName>QUYẾT ĐỊNH</TypeName>              loai_van_ban
      <CodeNumber>05</CodeNumber>                  so_ky_hieu before the "/"
      <CodeNotation>QĐ-UBND</CodeNotation>         so_ky_hieu after it
      <IssuedDate>2025-01-05</IssuedDate>          ngay_ban_hanh (ISO date, as stored)
      <OrganName>UBND xã Vạn Thắng</OrganName>     co_quan_ban_hanh, as printed
      <OrganCode>22516</OrganCode>                 the unit the repository gave the result
      <Subject>…</Subject>                         trich_yeu
      <Language>Tiếng Việt</Language>
      <PageAmount>1</PageAmount>                   page_count (from the signed XMP)
      <SignerInfo><FullName>…</FullName></SignerInfo>   nguoi_ky
      <Description>…</Description>                 what this copy is (digitized, signed by …)
      <ProcedureCode>1.001193</ProcedureCode>      the procedure that produced it
      <OwnerIdentifier>056…</OwnerIdentifier>      cccd: Thông tư 01/2023/TT-VPCP Điều 24
    </ElectronicDocument>

What was confirmed and what is a reading: the list of fields and their names (TypeName,
CodeNumber, CodeNotation, IssuedDate, OrganName, Subject, Language, PageAmount, SignerInfo with
Position and FullName, Description) is shared/DOMAIN.md's; the public corpora searched for this
work held no text of Phụ lục VI itself nor an XSD of it, only an edXML parser using the same
codeNumber / codeNotation / organName / subject names, so the root element, the order, the
extra elements (Identifier, OrganCode, ProcedureCode, OwnerIdentifier) and the date form are
this module's reading. `SignerInfo/Position` is left out: the repository does not keep the
signer's position (the appliance signs it into the XMP as `SignerPosition` when it read one).
A value the record does not have is left out, element and all, never written empty; the name
and date of birth of the citizen are not written (the owner is identified by CCCD, and the
signed PDF in the same ZIP carries the rest).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

from protocol.messages import sha256_hex
from protocol.signed_metadata import split_code
from server.errors import RepositoryError
from server.models import RecordBase

LANGUAGE = "Tiếng Việt"
"""Nghị định 30's Language of every result the appliances digitize."""
ROOT = "ElectronicDocument"
PDF_MEMBER = "{result_id}.pdf"
XML_MEMBER = "{result_id}.xml"


def metadata_xml(record: RecordBase) -> bytes:
    """The record's Nghị định 30 metadata as an XML document (UTF-8, with its declaration)."""
    root = ET.Element(ROOT)
    number, notation = split_code(record.so_ky_hieu) if record.so_ky_hieu else (None, None)
    _add(root, "Identifier", record.result_id)
    _add(root, "TypeName", record.loai_van_ban)
    _add(root, "CodeNumber", number)
    _add(root, "CodeNotation", notation)
    _add(root, "IssuedDate", record.ngay_ban_hanh)
    _add(root, "OrganName", record.co_quan_ban_hanh)
    _add(root, "OrganCode", record.unit_code)
    _add(root, "Subject", record.trich_yeu)
    _add(root, "Language", LANGUAGE)
    _add(root, "PageAmount", None if record.page_count is None else str(record.page_count))
    if record.nguoi_ky:
        _add(ET.SubElement(root, "SignerInfo"), "FullName", record.nguoi_ky)
    _add(root, "Description", _description(record))
    _add(root, "ProcedureCode", record.procedure_code)
    _add(root, "OwnerIdentifier", record.cccd)
    ET.indent(root)
    out = io.BytesIO()
    ET.ElementTree(root).write(out, encoding="UTF-8", xml_declaration=True)
    return out.getvalue() + b"\n"


def export_zip(record: RecordBase, pdf: bytes) -> bytes:
    """The ZIP of `record`'s export: `<result_id>.pdf` (`pdf`, stored uncompressed, byte for
    byte) and `<result_id>.xml` (`metadata_xml`).

    Raises:
        RepositoryError: `pdf` is not the signed original (its SHA-256 is not the result id).
    """
    if sha256_hex(pdf) != record.result_id:
        raise RepositoryError(
            f"the stored PDF of result {record.result_id} no longer has that SHA-256: "
            "the blob store is damaged; restore the file from a backup"
        )
    # Members dated when the repository received the result, so an export is reproducible.
    when = record.received_at.timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        pdf_info = zipfile.ZipInfo(PDF_MEMBER.format(result_id=record.result_id), when)
        z.writestr(pdf_info, pdf, compress_type=zipfile.ZIP_STORED)
        xml_info = zipfile.ZipInfo(XML_MEMBER.format(result_id=record.result_id), when)
        z.writestr(xml_info, metadata_xml(record), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _add(parent: ET.Element, tag: str, value: str | None) -> None:
    """A child `tag` holding `value` (ElementTree escapes it), or nothing when there is none."""
    if value is None or not value.strip():
        return
    ET.SubElement(parent, tag).text = value


def _description(record: RecordBase) -> str:
    signer = record.signer_common_name or "không rõ"
    verdict = "hợp lệ" if record.signature_valid else "KHÔNG hợp lệ"
    return (
        "Bản điện tử số hóa từ kết quả giải quyết thủ tục hành chính bằng giấy; "
        f"ký số bởi {signer}, chữ ký {verdict} khi lưu vào kho."
    )
