"""The PDF/A-2b metadata of an assembled result: its XMP packet and its sRGB output profile.

What makes the PDFs of `edge.pdf.assemble` PDF/A-2b (ISO 19005-2:2011, level B), and where it is
made:
- identification: `pdfaid:part` 2 and `pdfaid:conformance` B in the XMP packet (6.6.4);
- an output intent (`/S /GTS_PDFA1`) with an embedded sRGB ICC profile, which makes the
  DeviceGray and DeviceRGB page images device-independent (6.2.3, 6.2.4.3);
- the Info dictionary and the XMP packet say the same thing (6.6.3, and Table 1 of 19005-1);
- every custom XMP property is described by a `pdfaExtension` schema (6.6.2.3);
- everything else (embedded glyphless font, trailer ID, no encryption, binary header comment,
  no LZW, no actions) is in how `edge.pdf.assemble` writes the file.

The result's fields go into XMP under the Sohoa namespace, named after the electronic-document
metadata of Nghị định 30/2020/NĐ-CP Phụ lục VI (TypeName, CodeNumber, CodeNotation, IssuedDate,
OrganName, Subject, Language, PageAmount, SignerInfo as SignerPosition and SignerFullName,
Description), plus the owner's identity of Thông tư 01/2023/TT-VPCP Điều 24 and the mark that
the file was converted from paper and by whom (Luật Giao dịch điện tử 2023 Điều 12); the
document's identity is `xmpMM:DocumentID` (the trailer's first /ID as a UUID). The mapping of
field keys to properties is `protocol.signed_metadata`'s: the server reads the fields back from
the signed file with it, and stores those, not the message's header (`signed_metadata` here is
the appliance's own reading, for its outbox).

Whether a file keeps these rules is checked by `edge.pdf.pdfa_check`, which the appliance does not
load.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import ImageCms

from edge.errors import PdfError
from protocol.signed_metadata import (
    CORRECTED_PROPERTY,
    FIELD_TO_PROPERTY,
    NS_XMPMM,
    SIGNED_FIELD_KEYS,
    SignedMetadata,
    SignedMetadataError,
    document_id_of,
    parse_xmp,
    read_property,
)
from protocol.signed_metadata import NS_SOHOA as NS_SOHOA  # re-exported: the schema's home
from protocol.signed_metadata import split_code as split_code
from protocol.xmltext import xml_text_problem

log = logging.getLogger(__name__)

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""Asia/Ho_Chi_Minh (no daylight saving): how times are shown to people in the documents."""

SRGB_PROFILE_PATHS = (Path("/usr/share/color/icc/sRGB.icc"),)
"""ICC v2 sRGB profiles from Debian (`icc-profiles-free`); used before Pillow's built-in v4.4
one because every PDF/A-2 validator accepts a v2 profile (PDF 1.7 cites ICC.1:2004-10, v4.2)."""
SRGB_IDENTIFIER = "sRGB IEC61966-2.1"

XMP_NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmpMM": NS_XMPMM,
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
    "pdfaType": "http://www.aiim.org/pdfa/ns/type#",
    "pdfaField": "http://www.aiim.org/pdfa/ns/field#",
    "sohoa": NS_SOHOA,
}
PDFA_PREFIXES = ("pdfaid", "pdfaExtension", "pdfaSchema", "pdfaProperty", "pdfaType", "pdfaField")
"""Namespaces whose prefix is fixed (19005-1 Cor. 2, kept by 19005-2 6.6.2.3.3)."""

# --- the Sohoa XMP schema -----------------------------------------------------------------------


@dataclass(frozen=True)
class XmpProperty:
    """One property of the Sohoa schema, as its pdfaExtension description declares it."""

    name: str
    value_type: str
    description: str


SOHOA_PROPERTIES = (
    XmpProperty("TypeName", "Text", "Document type (ND 30/2020 Phu luc VI: TypeName)"),
    XmpProperty("CodeNumber", "Text", "Document number (ND 30/2020: CodeNumber)"),
    XmpProperty("CodeNotation", "Text", "Document symbol (ND 30/2020: CodeNotation)"),
    XmpProperty("IssuedDate", "Date", "Date of issue (ND 30/2020: IssuedDate)"),
    XmpProperty("OrganName", "Text", "Issuing body (ND 30/2020: OrganName)"),
    XmpProperty("Subject", "Text", "Summary of the content (ND 30/2020: Subject)"),
    XmpProperty("Language", "Text", "Language of the document (ND 30/2020: Language)"),
    XmpProperty("PageAmount", "Integer", "Number of pages (ND 30/2020: PageAmount)"),
    XmpProperty("SignerPosition", "Text", "Signer's position (ND 30/2020: SignerInfo/Position)"),
    XmpProperty("SignerFullName", "Text", "Signer's name (ND 30/2020: SignerInfo/FullName)"),
    XmpProperty("Description", "Text", "Notes; here the conversion mark (ND 30/2020: Description)"),
    XmpProperty("OwnerFullName", "Text", "Person the result is about (TT 01/2023 Dieu 24)"),
    XmpProperty("OwnerIdentifier", "Text", "Personal ID number of that person (TT 01/2023)"),
    XmpProperty("OwnerBirthDate", "Date", "Date of birth of that person"),
    XmpProperty("ConvertedFromPaper", "Boolean", "True: digitized from a paper original"),
    XmpProperty("ConvertedBy", "Text", "Organisation that digitized the paper original"),
    XmpProperty("ConvertedAt", "Date", "When the paper original was digitized"),
    XmpProperty(CORRECTED_PROPERTY, "Text", "Fields the officer corrected before signing"),
    XmpProperty(read_property("so_ky_hieu"), "Text", "Document number and symbol as read"),
    *(
        XmpProperty(read_property(key), "Text", f"{name} as read, before the correction")
        for key, name in FIELD_TO_PROPERTY.items()
    ),
)

# `FIELD_TO_PROPERTY` (field keys to properties) is `protocol.signed_metadata`'s, which the
# server reads back with. SignerInfo is flattened into SignerPosition and SignerFullName rather
# than declared as an XMP structure type: pyHanko's XMP rewrite when signing renames the prefixes
# of the pdfaType and pdfaField namespaces, which PDF/A fixes.


@dataclass(frozen=True)
class Provenance:
    """Who digitized the paper original, and when: the conversion mark of the file.

    Attributes:
        organisation: the digitizing organisation (the unit), or "" when not configured.
        converted_at: when (timezone-aware); the time the PDF is assembled when None.
        language: the document's language (RFC 5646), Vietnamese by default.
    """

    organisation: str = ""
    converted_at: datetime | None = None
    language: str = "vi"


def conversion_note(organisation: str, when: datetime) -> str:
    """The human-readable conversion mark (Vietnamese, time in Vietnam's offset, ISO 8601)."""
    by = f" do {organisation}" if organisation else ""
    stamp = when.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")
    return f"Văn bản được số hóa (chuyển đổi) từ văn bản giấy{by}, lúc {stamp}."


def document_uri(document_id: str) -> str:
    """The `xmpMM:DocumentID` of a document whose file identifier is `document_id` (32 hex
    digits): "uuid:" and the identifier as a UUID's text (`protocol.signed_metadata.
    document_id_of`, by which the server checks it against the signed file's trailer /ID)."""
    return document_id_of(bytes.fromhex(document_id))


def xmp_date(when: datetime) -> str:
    """An XMP Date (ISO 8601 with offset)."""
    return when.isoformat(timespec="seconds")


def pdf_date(when: datetime) -> str:
    """The same instant as a PDF date string (PDF 32000-1 7.9.4): D:YYYYMMDDHHmmSS+HH'mm'."""
    offset = when.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return when.strftime("D:%Y%m%d%H%M%S") + f"{sign}{minutes // 60:02d}'{minutes % 60:02d}'"


@dataclass(frozen=True)
class DocumentMetadata:
    """Everything the Info dictionary and the XMP packet say about one document.

    Attributes:
        title: the document title (Info /Title, dc:title), or None.
        author: the digitizing organisation (Info /Author, dc:creator), or None.
        subject: the summary (Info /Subject, dc:description), or None.
        created: the creation time (timezone-aware).
        creator: the software that made the file (Info /Creator, xmp:CreatorTool; also
            pdf:Producer, which the Info dictionary leaves out so that pyHanko, when it signs,
            sets both to its own name).
        document_id: 32 hex digits, also the first element of the trailer's /ID.
        sohoa: the Sohoa schema's values by property name (str, int or bool).
        language: the document language.
    """

    title: str | None
    author: str | None
    subject: str | None
    created: datetime
    creator: str
    document_id: str
    sohoa: Mapping[str, str | int | bool]
    language: str

    def info_entries(self) -> dict[str, str]:
        """The Info dictionary's entries (without the leading slash), matching the XMP."""
        entries = {
            "Creator": self.creator,
            "CreationDate": pdf_date(self.created),
            "ModDate": pdf_date(self.created),
        }
        for key, value in (
            ("Title", self.title),
            ("Author", self.author),
            ("Subject", self.subject),
        ):
            if value:
                entries[key] = value
        return entries


def document_metadata(
    fields: Mapping[str, str | None],
    *,
    title: str | None,
    pages: int,
    provenance: Provenance,
    created: datetime,
    creator: str,
    document_id: str,
    read: Mapping[str, str | None] | None = None,
) -> DocumentMetadata:
    """Map a result's fields (keys of `edge.fields.FIELD_KEYS`) to the document's metadata.

    Args:
        fields: the extracted fields; None values and unknown keys are left out.
        read: the fields the officer corrected, each with its value as read (None: nothing
            was read); written as `CorrectedFields` and the `Read…` properties.
        title: the document title.
        pages: the number of pages.
        provenance: who digitized it and when (`converted_at` None: `created`).
        created: when the PDF is assembled (timezone-aware).
        creator: the producing software's name.
        document_id: 32 hex digits identifying the file.

    Returns:
        The metadata, ready for `xmp_packet` and the Info dictionary.

    Raises:
        PdfError: a field, the title or the organisation holds a character XML cannot carry
            (`protocol.xmltext`): written, it would make the XMP packet ill-formed, the signed
            file's fields unreadable and the result refused by the server.
    """
    read = {k: v for k, v in (read or {}).items() if k in SIGNED_FIELD_KEYS}
    texts = {f"field {key}": value for key, value in fields.items()}
    texts.update({f"the value read of field {key}": value for key, value in read.items()})
    texts.update(
        {"the title": title, "the organisation (unit) configured": provenance.organisation}
    )
    for what, text in texts.items():
        problem = xml_text_problem(text) if text else None
        if problem is not None:
            raise PdfError(f"{what} {problem}: retype it without that character")
    converted = provenance.converted_at or created
    values: dict[str, str | int | bool] = {}
    code = fields.get("so_ky_hieu")
    if code:
        number, notation = split_code(code)
        values["CodeNumber"] = number
        if notation:
            values["CodeNotation"] = notation
    for key, name in FIELD_TO_PROPERTY.items():
        value = fields.get(key)
        if value:
            values[name] = value
    if read:
        values[CORRECTED_PROPERTY] = ",".join(sorted(read))
        values.update({read_property(k): v for k, v in read.items() if v})
    values["Language"] = provenance.language
    values["PageAmount"] = pages
    values["Description"] = conversion_note(provenance.organisation, converted)
    values["ConvertedFromPaper"] = True
    if provenance.organisation:
        values["ConvertedBy"] = provenance.organisation
    values["ConvertedAt"] = xmp_date(converted)
    return DocumentMetadata(
        title=title,
        author=provenance.organisation or None,
        subject=fields.get("trich_yeu") or None,
        created=created,
        creator=creator,
        document_id=document_id,
        sohoa=values,
        language=provenance.language,
    )


# --- the XMP packet -----------------------------------------------------------------------------


def _alt(value: str) -> str:
    return f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(value)}</rdf:li></rdf:Alt>'


def _schema_description() -> str:
    """The pdfaExtension description of the Sohoa schema (19005-2 6.6.2.3.3)."""
    rows = "".join(
        '<rdf:li rdf:parseType="Resource">'
        f"<pdfaProperty:name>{item.name}</pdfaProperty:name>"
        f"<pdfaProperty:valueType>{item.value_type}</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{escape(item.description)}</pdfaProperty:description>"
        "</rdf:li>"
        for item in SOHOA_PROPERTIES
    )
    return (
        '<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">'
        "<pdfaSchema:schema>Sohoa: electronic document metadata after Nghi dinh 30/2020 "
        "Phu luc VI</pdfaSchema:schema>"
        f"<pdfaSchema:namespaceURI>{NS_SOHOA}</pdfaSchema:namespaceURI>"
        "<pdfaSchema:prefix>sohoa</pdfaSchema:prefix>"
        f"<pdfaSchema:property><rdf:Seq>{rows}</rdf:Seq></pdfaSchema:property>"
        "</rdf:li></rdf:Bag></pdfaExtension:schemas>"
    )


def _description(*prefixes: str, body: str) -> str:
    declarations = " ".join(f'xmlns:{p}="{XMP_NAMESPACES[p]}"' for p in prefixes)
    return f'<rdf:Description rdf:about="" {declarations}>{body}</rdf:Description>\n'


def xmp_packet(meta: DocumentMetadata) -> bytes:
    """The XMP metadata packet (UTF-8) for the catalog's /Metadata stream.

    It carries the PDF/A-2b identification, the Dublin Core, XMP basic and PDF properties that
    mirror the Info dictionary, the Sohoa properties, and their pdfaExtension description.
    """
    standard = [
        f"<dc:format>application/pdf</dc:format><dc:language><rdf:Bag><rdf:li>"
        f"{escape(meta.language)}</rdf:li></rdf:Bag></dc:language>"
    ]
    if meta.title:
        standard.append(f"<dc:title>{_alt(meta.title)}</dc:title>")
    if meta.author:
        standard.append(
            f"<dc:creator><rdf:Seq><rdf:li>{escape(meta.author)}</rdf:li></rdf:Seq></dc:creator>"
        )
    if meta.subject:
        standard.append(f"<dc:description>{_alt(meta.subject)}</dc:description>")
    date = xmp_date(meta.created)
    standard += [
        f"<xmp:CreateDate>{date}</xmp:CreateDate><xmp:ModifyDate>{date}</xmp:ModifyDate>",
        f"<xmp:MetadataDate>{date}</xmp:MetadataDate>",
        f"<xmp:CreatorTool>{escape(meta.creator)}</xmp:CreatorTool>",
        f"<pdf:Producer>{escape(meta.creator)}</pdf:Producer>",
        # The document's identity, which the server stores (the trailer's first /ID too).
        f"<xmpMM:DocumentID>{document_uri(meta.document_id)}</xmpMM:DocumentID>",
    ]
    values = []
    for prop in SOHOA_PROPERTIES:
        value = meta.sohoa.get(prop.name)
        if value is None:
            continue
        text = ("True" if value else "False") if isinstance(value, bool) else str(value)
        values.append(f"<sohoa:{prop.name}>{escape(text)}</sohoa:{prop.name}>")
    identification = "<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
    extension = ("pdfaExtension", "pdfaSchema", "pdfaProperty")
    body = (
        _description("pdfaid", body=identification)
        + _description("dc", "xmp", "pdf", "xmpMM", body="".join(standard))
        + _description(*extension, body=_schema_description())
        + _description("sohoa", body="".join(values))
    )
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f'<rdf:RDF xmlns:rdf="{XMP_NAMESPACES["rdf"]}">\n{body}</rdf:RDF>\n</x:xmpmeta>\n'
        # Padding lets an editor rewrite the packet in place (XMP Part 1, 7.3.2).
        + (" " * 99 + "\n") * 20
        + '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


# --- the output profile -------------------------------------------------------------------------


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC display profile for the PDF/A output intent.

    Debian's v2 profile (`icc-profiles-free`) when installed, else the v4.4 profile LittleCMS
    builds through Pillow (`check_pdfa` accepts both: it checks the major version only).
    """
    for path in SRGB_PROFILE_PATHS:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not icc_header_problems(data, components=3):
            return data
        log.warning("%s is not a usable sRGB output profile; using Pillow's", path)
    log.info("no sRGB profile from icc-profiles-free; using Pillow's built-in (ICC v4.4)")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def icc_header_problems(data: bytes, *, components: int) -> list[str]:
    """What makes `data` unacceptable as a PDF/A output-intent profile (19005-2 6.2.3).

    Checks the header only: the 'acsp' signature, the declared size, a major version of 2 to 4,
    a device class of display, printer, input or colour-space conversion, and a data colour
    space of `components` components (1 grey, 3 RGB, 4 CMYK).
    """
    if len(data) < 128 or data[36:40] != b"acsp":
        return ["the output intent's ICC profile has no valid ICC header"]
    problems = []
    if int.from_bytes(data[0:4], "big") != len(data):
        problems.append("the ICC profile's declared size does not match its length")
    if not 2 <= data[8] <= 4:
        problems.append(f"the ICC profile is version {data[8]}; PDF/A-2 takes versions 2 to 4")
    if data[12:16] not in (b"mntr", b"prtr", b"scnr", b"spac"):
        problems.append(f"the ICC profile's device class {data[12:16]!r} is not an output class")
    expected = {1: b"GRAY", 3: b"RGB ", 4: b"CMYK"}.get(components)
    if data[16:20] != expected:
        problems.append(
            f"the ICC profile's colour space {data[16:20]!r} does not match /N {components}"
        )
    return problems


# --- reading it back ----------------------------------------------------------------------------


def signed_metadata(pdf: bytes) -> SignedMetadata | None:
    """What the XMP of `pdf` (the appliance's own file, signed or not) says: its fields, page
    count and document id, read as the server reads them.

    Args:
        pdf: the PDF's bytes.

    Returns:
        The metadata (`found` False when the file has no XMP), or None when the bytes are not a
        PDF pyHanko can read (the server refuses such a file whatever its header says).

    Raises:
        PdfError: the file's XMP cannot be read as the Sohoa schema.
    """
    # Loaded here: assembly (`edge process` without --sign) need not load pyHanko.
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        root = reader.root
    except Exception:  # any parser error: not a readable PDF
        return None
    try:
        if "/Metadata" not in root:
            return SignedMetadata()
        return parse_xmp(bytes(root["/Metadata"].data))
    except SignedMetadataError as e:
        raise PdfError(f"the PDF's XMP metadata cannot be read: {e}") from e
    except Exception as e:
        raise PdfError(f"the PDF's XMP metadata cannot be read ({type(e).__name__})") from e
