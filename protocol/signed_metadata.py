"""The result's fields as the signed PDF carries them: the Sohoa XMP schema the appliance writes
(`edge.pdf.xmp`) and the server reads back (`server.signed_fields`), and the rule that ties a
message's header to it.

A result's header (`ResultMessage.fields`, `ResultManifest.fields`) is not signed; the XMP packet
of the signed PDF is. So the server stores what the XMP says, and a header that disagrees with it
is refused (`RejectReason.FIELDS_MISMATCH`): what is shown beside `signature_valid` is what was
signed. The appliance's outbox applies the same rule before anything is queued.

Rules of this module:
- One mapping from field keys to the properties of Nghị định 30/2020 Phụ lục VI
  (`FIELD_TO_PROPERTY`; `so_ky_hieu` is split into CodeNumber and CodeNotation), used by the
  writer and the reader alike.
- Values compare in one canonical form (`canonical`): NFC, line ends as "\\n", an empty value
  is no value (the writer leaves empty values out), `so_ky_hieu` as the writer splits it.
- The document's identity is the file's own: `xmpMM:DocumentID` is "uuid:" and the first element
  of the trailer's /ID (`document_id_of`), which a signed incremental update keeps (PDF
  32000-1 14.4: the first element is the permanent identifier), so the signed file's trailer
  still names it; a DocumentID that disagrees is refused (`document_id_problem`).
- `parse_xmp` reads untrusted bytes: it refuses a packet over `MAX_XMP_BYTES`, a DTD or an
  entity declaration (XMP has neither; refusing them rules out entity expansion), text that is
  not UTF-8, a Sohoa property given twice or with a structured value, and a description of
  another resource than the document (`rdf:about` not empty). Each refusal is a
  `SignedMetadataError` whose message names the problem, never a value (values are citizens'
  data).
- Sans-IO: bytes in, values out.
"""

from __future__ import annotations

import unicodedata
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from protocol.errors import ProtocolError
from protocol.messages import FIELD_KEYS, MAX_TEXT

NS_SOHOA = "urn:sohoa:xmp:nd30:1.0/"
"""The XMP namespace of the result's metadata (Nghị định 30/2020 Phụ lục VI names). Not an
http URI on purpose: pyHanko, when it signs, rewrites the XMP and turns text values that start
with "http" into rdf:resource references, which would change the schema's declared URI."""
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XMPMM = "http://ns.adobe.com/xap/1.0/mm/"
"""XMP Media Management (a schema PDF/A predefines): `xmpMM:DocumentID` identifies the document."""

FIELD_TO_PROPERTY: Mapping[str, str] = {
    "loai_van_ban": "TypeName",
    "ngay_ban_hanh": "IssuedDate",
    "co_quan_ban_hanh": "OrganName",
    "trich_yeu": "Subject",
    "ho_ten": "OwnerFullName",
    "cccd": "OwnerIdentifier",
    "ngay_sinh": "OwnerBirthDate",
    "nguoi_ky": "SignerFullName",
    "chuc_vu_nguoi_ky": "SignerPosition",
}
"""Field keys written as one Sohoa property each (`so_ky_hieu` is split in two;
`chuc_vu_nguoi_ky`, the signer's position, is an optional extra key)."""

SIGNED_FIELD_KEYS: tuple[str, ...] = (*FIELD_KEYS, "chuc_vu_nguoi_ky")
"""Every field key the signed metadata carries: the header may name these and no other."""

CORRECTED_PROPERTY = "CorrectedFields"
"""The Sohoa property listing (comma-separated keys) the fields the officer corrected before
signing; each one's value as the appliance read it is `read_property(key)`, absent when nothing
was read. So the signed document keeps both what was read and what the officer confirmed."""


def read_property(key: str) -> str:
    """The Sohoa property holding field `key`'s value as read, before the officer's correction:
    "Read" and the field's property ("ReadCode" for the whole số ký hiệu).

    Raises:
        KeyError: `key` is not one of `SIGNED_FIELD_KEYS`.
    """
    return "ReadCode" if key == "so_ky_hieu" else "Read" + FIELD_TO_PROPERTY[key]


MAX_XMP_BYTES = 256 * 1024
"""The largest XMP packet read (ours are ~7 KB; nine fields of 4,096 characters stay below)."""
MAX_PAGES = 100_000
"""A PageAmount above this is not a page count."""
MAX_DOCUMENT_ID = 128
"""The longest document id read (ours are "uuid:" and 36 characters)."""

_CODE_NUMBER, _CODE_NOTATION, _PAGES = "CodeNumber", "CodeNotation", "PageAmount"
_DOCUMENT_ID = "{" + NS_XMPMM + "}DocumentID"
_RESOURCE = "{" + NS_RDF + "}resource"
_ABOUT = "{" + NS_RDF + "}about"
_DESCRIPTION = "{" + NS_RDF + "}Description"
_RDF = "{" + NS_RDF + "}RDF"


class SignedMetadataError(ProtocolError):
    """The signed PDF's XMP packet cannot be read as the Sohoa schema; the message says why
    (never a field's value)."""


@dataclass(frozen=True)
class SignedMetadata:
    """What the signed PDF's XMP says about the document.

    A plain dict inside, so that a verdict carrying it can cross a process boundary (pickle).

    Attributes:
        fields: every key of `SIGNED_FIELD_KEYS`, its value (NFC) or None where the XMP has none.
        pages: the page count (`PageAmount`), or None.
        document_id: the document's identifier (`xmpMM:DocumentID`), or None.
        found: whether the PDF had an XMP packet at all.
        read: for each field the officer corrected before signing, its value as the appliance
            read it (None: nothing was read); empty when nothing was corrected.
    """

    fields: Mapping[str, str | None] = field(
        default_factory=lambda: dict.fromkeys(SIGNED_FIELD_KEYS)
    )
    pages: int | None = None
    document_id: str | None = None
    found: bool = False
    read: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def has_fields(self) -> bool:
        """Whether any field has a value."""
        return any(v is not None for v in self.fields.values())

    def stored_fields(self) -> dict[str, str | None]:
        """The fields a repository record keeps (`protocol.messages.FIELD_KEYS`)."""
        return {key: self.fields.get(key) for key in FIELD_KEYS}


def split_code(so_ky_hieu: str) -> tuple[str, str | None]:
    """Split `Số` into number and symbol: "05/QĐ-UBND" → ("05", "QĐ-UBND")."""
    number, slash, notation = so_ky_hieu.partition("/")
    return (number.strip(), notation.strip() or None) if slash else (so_ky_hieu.strip(), None)


def join_code(number: str | None, notation: str | None) -> str | None:
    """The inverse of `split_code`: ("05", "QĐ-UBND") → "05/QĐ-UBND"."""
    text = f"{number or ''}/{notation}" if notation else (number or "")
    return text or None


def canonical(key: str, value: str | None) -> str | None:
    """`value` of field `key` in the form header and XMP are compared in: NFC, "\\n" line ends,
    empty as None, `so_ky_hieu` as `split_code` and `join_code` make it."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if key == "so_ky_hieu":
        return join_code(*split_code(text))
    return text or None


def header_mismatch(
    fields: Mapping[str, str | None],
    signed: SignedMetadata,
    *,
    metadata: Mapping[str, str] | None = None,
) -> str | None:
    """Why a header does not match the signed metadata, or None when it does.

    Args:
        fields: the header's fields.
        signed: what the signed PDF's XMP says.
        metadata: the header's metadata; its `pages`, when given, must be the XMP's page count.

    Returns:
        A sentence naming the keys that differ (never their values), or None.
    """
    unknown = sorted(k for k in fields if k not in SIGNED_FIELD_KEYS)
    differ = [
        key
        for key in SIGNED_FIELD_KEYS
        if canonical(key, fields.get(key)) != canonical(key, signed.fields.get(key))
    ]
    problems = []
    if unknown:
        problems.append(f"names fields the signed metadata has no place for ({', '.join(unknown)})")
    if differ:
        where = "the signed PDF carries no fields" if not signed.has_fields else "the signed PDF"
        problems.append(f"differs from {where} in {', '.join(differ)}")
    pages = (metadata or {}).get("pages")
    if pages is not None and signed.pages is not None and pages.strip() != str(signed.pages):
        problems.append("says another page count than the signed PDF")
    if not problems:
        return None
    return (
        "the header's fields are not the signed ones: it "
        + "; it ".join(problems)
        + ": correct the fields before signing, so that they travel inside the signed document"
    )


FILE_ID_BYTES = 16
"""The length of the first /ID the appliance writes (an MD5 of the file's objects)."""


def document_id_of(file_id: bytes) -> str:
    """The `xmpMM:DocumentID` of a file whose trailer's first /ID is `file_id` (16 bytes): "uuid:"
    and those bytes as a UUID's text, as the appliance writes it.

    Raises:
        ValueError: `file_id` is not 16 bytes.
    """
    return f"uuid:{uuid.UUID(bytes=file_id)}"


def document_id_problem(document_id: str | None, file_id: bytes | None) -> str | None:
    """Why the XMP's DocumentID is not the file's own identifier, or None when it is or when the
    XMP names none (a PDF without XMP identity is stored without one).

    Args:
        document_id: what `xmpMM:DocumentID` says (`SignedMetadata.document_id`).
        file_id: the first element of the signed file's trailer /ID, or None if it has none.

    Returns:
        A sentence saying what disagrees (identifiers are no citizen's data, but none is
        quoted: the sentence is the same for every file), or None.
    """
    if document_id is None:
        return None
    if file_id is None or len(file_id) != FILE_ID_BYTES:
        return (
            "the XMP metadata names a DocumentID, but the file's trailer has no "
            f"{FILE_ID_BYTES}-byte first /ID it could be"
        )
    if document_id != document_id_of(file_id):
        return (
            "the XMP metadata's DocumentID is not the file's own identifier (the first element "
            "of its trailer's /ID): the metadata was made for another document"
        )
    return None


def parse_xmp(packet: bytes) -> SignedMetadata:
    """Read the Sohoa fields, the page count and the document id from an XMP packet.

    Properties are read from the top-level `rdf:Description`s, as elements (as the appliance
    writes them) or as attributes (as pyHanko rewrites them when it signs).

    Args:
        packet: the XMP packet's bytes (untrusted).

    Returns:
        The metadata (`found` True).

    Raises:
        SignedMetadataError: the packet is too large, not UTF-8, not well-formed XML, holds a
            DTD, or gives a Sohoa property twice, as a structure, or about another resource.
    """
    if len(packet) > MAX_XMP_BYTES:
        raise SignedMetadataError(
            f"the XMP metadata is {len(packet)} bytes, over the {MAX_XMP_BYTES} read"
        )
    try:
        text = packet.decode("utf-8")
    except UnicodeDecodeError:
        raise SignedMetadataError("the XMP metadata is not UTF-8") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise SignedMetadataError("the XMP metadata declares a DTD or entities (XMP has none)")
    try:
        # No DTD, hence no entity to expand (checked above); expat builds the tree iteratively.
        root = ET.fromstring(text.lstrip("\ufeff"))  # noqa: S314
    except ET.ParseError as e:
        raise SignedMetadataError(f"the XMP metadata is not well-formed XML ({e})") from None
    values: dict[str, str] = {}
    for name, value in _properties(root):
        if name in values:
            raise SignedMetadataError(f"the XMP metadata gives {_short(name)} twice")
        limit = MAX_DOCUMENT_ID if name == _DOCUMENT_ID else MAX_TEXT
        if len(value) > limit:
            raise SignedMetadataError(
                f"the XMP metadata's {_short(name)} is longer than {limit} characters"
            )
        values[name] = value
    sohoa = {k[len(NS_SOHOA) + 2 :]: v for k, v in values.items() if k.startswith("{" + NS_SOHOA)}
    fields: dict[str, str | None] = {
        "so_ky_hieu": canonical(
            "so_ky_hieu", join_code(sohoa.get(_CODE_NUMBER), sohoa.get(_CODE_NOTATION))
        )
    }
    for key, prop in FIELD_TO_PROPERTY.items():
        fields[key] = canonical(key, sohoa.get(prop))
    return SignedMetadata(
        fields={key: fields.get(key) for key in SIGNED_FIELD_KEYS},
        pages=_pages(sohoa.get(_PAGES)),
        document_id=(values.get(_DOCUMENT_ID) or "").strip() or None,
        found=True,
        read=_read_values(sohoa),
    )


def _read_values(sohoa: Mapping[str, str]) -> dict[str, str | None]:
    """The values as read of the fields `CorrectedFields` lists (see `read_property`)."""
    listed = [k.strip() for k in sohoa.get(CORRECTED_PROPERTY, "").split(",") if k.strip()]
    unknown = [k for k in listed if k not in SIGNED_FIELD_KEYS]
    if unknown:
        raise SignedMetadataError(
            f"the XMP metadata's {CORRECTED_PROPERTY} names {len(unknown)} unknown field key(s)"
        )
    return {key: canonical(key, sohoa.get(read_property(key))) for key in listed}


def _properties(root: ET.Element) -> Iterator[tuple[str, str]]:
    """(expanded name, value) of each Sohoa property and of xmpMM:DocumentID in the packet's
    top-level descriptions."""
    if root.tag == _RDF:
        rdf = root
    else:
        found = root.find(_RDF)
        if found is None:
            raise SignedMetadataError("the XMP metadata has no rdf:RDF element")
        rdf = found
    for description in rdf.findall(_DESCRIPTION):
        about = description.get(_ABOUT)
        if about:
            raise SignedMetadataError("the XMP metadata describes another resource than the PDF")
        for name, value in description.attrib.items():
            if _wanted(name):
                yield name, value
        for child in description:
            if not _wanted(child.tag):
                continue
            if len(child):
                raise SignedMetadataError(
                    f"the XMP metadata gives {_short(child.tag)} as a structure, not a value"
                )
            resource = child.get(_RESOURCE)  # pyHanko writes text starting "http" so
            yield child.tag, resource if resource is not None else (child.text or "")


def _wanted(name: str) -> bool:
    return name.startswith("{" + NS_SOHOA) or name == _DOCUMENT_ID


def _short(name: str) -> str:
    return name.rpartition("}")[2]


def _pages(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        pages = int(value.strip())
    except ValueError:
        raise SignedMetadataError("the XMP metadata's PageAmount is not a number") from None
    if not 1 <= pages <= MAX_PAGES:
        raise SignedMetadataError(f"the XMP metadata's PageAmount {pages} is not a page count")
    return pages
