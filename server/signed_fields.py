"""The fields, page count and document id a signed result carries in its XMP metadata, read from
the PDF's bytes (untrusted input), and the check that the message's header says the same.

Why: the header of a result (`fields`) is not covered by the signature; the XMP packet is. The
server stores the XMP's values and refuses (`RejectReason.FIELDS_MISMATCH`) a header that
disagrees, so that nothing unsigned is served beside `signature_valid: true`. A signed PDF with
no fields in its XMP sent with header fields is refused too, rather than stored without them:
storing would silently drop what the officer confirmed (the record could never be found by the
citizen's name or ID) and tell the appliance that all went well; a refusal says what to fix.

Rules of this module:
- `read_signed_metadata` is a pure function of the bytes; `signed_metadata_of` reads the same
  from a reader verification already holds (`server.verify`), so the PDF is parsed once. Only the
  last revision counts: verification has checked that the signature covers the whole file, so the
  metadata read is the metadata signed.
- What it reads is bounded: the catalog's `/Metadata` stream only, unfiltered or `/FlateDecode`
  without parameters (PDF/A wants it unfiltered; other filters are refused), inflated to at most
  `MAX_XMP_BYTES`; the XML is read by `protocol.signed_metadata.parse_xmp` (no DTD, no entities).
- The page count the XMP states must be the page tree's `/Count`, and the DocumentID it states
  the first element of the trailer's /ID (`protocol.signed_metadata.document_id_problem`): the
  appliance writes one from the other, and signing, an incremental update, keeps /ID[0].
- Errors are `SignedMetadataError`s naming the problem, never a field's value.
"""

from __future__ import annotations

import io
import zlib

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from protocol.signed_metadata import (
    MAX_XMP_BYTES,
    SignedMetadata,
    SignedMetadataError,
    document_id_problem,
    parse_xmp,
)

__all__ = ["SignedMetadata", "SignedMetadataError", "read_signed_metadata", "signed_metadata_of"]


def read_signed_metadata(pdf: bytes) -> SignedMetadata:
    """The fields, page count and document id in the XMP metadata of `pdf`.

    Args:
        pdf: a PDF's bytes (untrusted; check its signature first, see `server.verify`).

    Returns:
        What the XMP says (`found` False and no fields when the PDF has no XMP).

    Raises:
        SignedMetadataError: the bytes are not a readable PDF, or its XMP cannot be read.
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    except Exception as e:  # untrusted bytes can fail anywhere in a PDF parser
        raise SignedMetadataError(f"the PDF cannot be read ({type(e).__name__})") from e
    return signed_metadata_of(reader)


def signed_metadata_of(reader: PdfFileReader) -> SignedMetadata:
    """`read_signed_metadata` on a PDF already open (the one verification read).

    Raises:
        SignedMetadataError: the XMP cannot be read, or states another page count than the
            page tree's, or another DocumentID than the trailer's first /ID.
    """
    try:
        root = reader.root
        packet = _packet(root.raw_get("/Metadata") if "/Metadata" in root else None)
        metadata = SignedMetadata() if packet is None else parse_xmp(packet)
        if metadata.pages is not None:
            count = root["/Pages"]["/Count"]
            if not isinstance(count, int) or count != metadata.pages:
                raise SignedMetadataError(
                    f"the XMP metadata says {metadata.pages} pages, the page tree another count"
                )
        if metadata.document_id is not None:
            problem = document_id_problem(metadata.document_id, _file_id(reader))
            if problem is not None:
                raise SignedMetadataError(problem)
    except SignedMetadataError:
        raise
    except Exception as e:  # a damaged catalog or stream, whatever the parser raises
        raise SignedMetadataError(
            f"the PDF's XMP metadata cannot be read ({type(e).__name__})"
        ) from e
    return metadata


def _file_id(reader: PdfFileReader) -> bytes | None:
    """The first element of the last trailer's /ID (the signed one: verification has checked
    that the signature covers the whole file), or None when there is none."""
    ids = reader.trailer_view.get("/ID")
    if not isinstance(ids, generic.ArrayObject) or not ids:
        return None
    first = ids[0]
    if isinstance(first, generic.ByteStringObject):
        return bytes(first)
    if isinstance(first, generic.TextStringObject):  # bytes that happened to decode as text
        return bytes(first.original_bytes)
    return None


def _packet(entry: object) -> bytes | None:
    """The XMP packet of the catalog's `/Metadata` entry, decoded within bounds; None if none."""
    if entry is None:
        return None
    if isinstance(entry, generic.IndirectObject):
        entry = entry.get_object()  # type: ignore[no-untyped-call]
    stream = entry
    if not isinstance(stream, generic.StreamObject):
        raise SignedMetadataError("the catalog's /Metadata is not a stream")
    filters = stream.get("/Filter")
    if isinstance(filters, generic.ArrayObject) and len(filters) == 1:
        filters = filters[0]
    encoded = stream.encoded_data
    if filters is None:
        data = encoded
    elif filters == "/FlateDecode" and "/DecodeParms" not in stream:
        inflate = zlib.decompressobj()
        try:
            data = inflate.decompress(encoded, MAX_XMP_BYTES + 1)
        except zlib.error:
            raise SignedMetadataError("the XMP metadata stream does not inflate") from None
    else:
        raise SignedMetadataError(
            "the XMP metadata stream has filters other than /FlateDecode (PDF/A wants none)"
        )
    if len(data) > MAX_XMP_BYTES:
        raise SignedMetadataError(f"the XMP metadata is over the {MAX_XMP_BYTES} bytes read")
    return bytes(data)
