"""The rule that ties a result's header to its signed XMP (`protocol.signed_metadata`): values
compare in one canonical form, null and absent are equal, and a refusal names keys, never
values; and the packet reader, on the packets the appliance and pyHanko write."""

from __future__ import annotations

import unicodedata

import pytest

from protocol.signed_metadata import (
    SIGNED_FIELD_KEYS,
    SignedMetadata,
    SignedMetadataError,
    canonical,
    document_id_of,
    document_id_problem,
    header_mismatch,
    parse_xmp,
)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def signed(**fields: str | None) -> SignedMetadata:
    values = {key: canonical(key, fields.get(key)) for key in SIGNED_FIELD_KEYS}
    return SignedMetadata(fields=values, pages=2, document_id="uuid:x", found=True)


def packet(body: str, attributes: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
        '<rdf:Description rdf:about="" xmlns:sohoa="urn:sohoa:xmp:nd30:1.0/" '
        f'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" {attributes}>{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def test_equal_fields_match_in_any_unicode_form_and_null_is_absent() -> None:
    name = "Nguyễn Thị Huệ"
    xmp = signed(ho_ten=name, so_ky_hieu="05/QĐ-UBND")
    nfd = unicodedata.normalize("NFD", name)
    assert header_mismatch({"ho_ten": nfd, "so_ky_hieu": "05 / QĐ-UBND", "cccd": None}, xmp) is None
    assert header_mismatch({"ho_ten": name, "so_ky_hieu": "05/QĐ-UBND", "cccd": ""}, xmp) is None


def test_a_difference_is_named_by_its_key_never_its_value() -> None:
    xmp = signed(ho_ten="Trần Thị Bình", cccd="001190012345")
    detail = header_mismatch({"ho_ten": "Trần Thị Bình", "cccd": "000000000001"}, xmp)
    assert detail is not None and "cccd" in detail and "ho_ten" not in detail
    assert "000000000001" not in detail and "001190012345" not in detail
    assert "before signing" in detail  # what to do


def test_header_fields_beside_a_pdf_that_signed_none_are_refused() -> None:
    detail = header_mismatch({"ho_ten": "Nguyen Van Forged"}, SignedMetadata())
    assert detail is not None and "carries no fields" in detail and "Forged" not in detail
    assert header_mismatch({"ho_ten": None}, SignedMetadata()) is None


def test_a_field_the_signed_metadata_has_no_place_for_is_refused() -> None:
    detail = header_mismatch({"ghi_chu": "x"}, SignedMetadata())
    assert detail is not None and "ghi_chu" in detail


def test_a_page_count_in_the_header_must_be_the_signed_one() -> None:
    assert header_mismatch({}, signed(), metadata={"pages": "2"}) is None
    assert header_mismatch({}, signed(), metadata={"pages": "3"}) is not None


def test_elements_and_attributes_both_read_and_a_resource_is_a_value() -> None:
    read = parse_xmp(
        packet(
            "<sohoa:CodeNumber>05</sohoa:CodeNumber>"
            '<sohoa:SignerFullName rdf:resource="http://x y"/>'
            "<sohoa:PageAmount> 3 </sohoa:PageAmount>",
            'sohoa:CodeNotation="QĐ-UBND" sohoa:Subject="a&#10;b" xmpMM:DocumentID="uuid:1"',
        )
    )
    assert read.fields["so_ky_hieu"] == "05/QĐ-UBND"
    assert read.fields["nguoi_ky"] == "http://x y"
    assert read.fields["trich_yeu"] == "a\nb"
    assert (read.pages, read.document_id, read.found) == (3, "uuid:1", True)
    assert read.fields["ho_ten"] is None


def test_the_values_read_of_the_corrected_fields_are_read_and_only_theirs() -> None:
    read = parse_xmp(
        packet(
            "<sohoa:CorrectedFields>ho_ten, so_ky_hieu,cccd</sohoa:CorrectedFields>"
            "<sohoa:OwnerFullName>Lê Thị Hoà</sohoa:OwnerFullName>"
            "<sohoa:ReadOwnerFullName>Le Thi Hoa</sohoa:ReadOwnerFullName>"
            "<sohoa:ReadCode>05 / QĐ-UBND</sohoa:ReadCode>"
            "<sohoa:ReadSignerFullName>not listed</sohoa:ReadSignerFullName>"
        )
    )
    assert read.fields["ho_ten"] == "Lê Thị Hoà"
    assert read.read == {"ho_ten": "Le Thi Hoa", "so_ky_hieu": "05/QĐ-UBND", "cccd": None}
    assert parse_xmp(packet("<sohoa:ReadOwnerFullName>x</sohoa:ReadOwnerFullName>")).read == {}


def test_a_corrected_field_the_schema_has_no_place_for_is_refused_without_its_name() -> None:
    with pytest.raises(SignedMetadataError, match="1 unknown field key") as refused:
        parse_xmp(packet("<sohoa:CorrectedFields>ho_ten,Nguyen Van A</sohoa:CorrectedFields>"))
    assert "Nguyen" not in str(refused.value)


def test_a_property_in_an_element_and_an_attribute_is_given_twice() -> None:
    with pytest.raises(SignedMetadataError, match="twice"):
        parse_xmp(packet("<sohoa:OwnerFullName>A</sohoa:OwnerFullName>", 'sohoa:OwnerFullName="B"'))


@pytest.mark.parametrize("pages", ["0", "-1", "100001", "2.5"])
def test_a_page_amount_that_is_no_page_count_is_refused(pages: str) -> None:
    with pytest.raises(SignedMetadataError, match="PageAmount"):
        parse_xmp(packet(f"<sohoa:PageAmount>{pages}</sohoa:PageAmount>"))


def test_a_packet_without_rdf_is_refused() -> None:
    with pytest.raises(SignedMetadataError, match="rdf:RDF"):
        parse_xmp(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')


def test_the_document_id_must_be_the_files_first_id() -> None:
    file_id = bytes.fromhex("C1E9F28B205CE7C0EBC23F89C6D25A7D")
    assert document_id_of(file_id) == "uuid:c1e9f28b-205c-e7c0-ebc2-3f89c6d25a7d"
    assert document_id_problem(document_id_of(file_id), file_id) is None
    assert document_id_problem(None, None) is None  # no identity stated: nothing to tie
    other = document_id_of(bytes(16))
    assert "not the file's own" in str(document_id_problem(other, file_id))
    assert document_id_problem(document_id_of(file_id).upper(), file_id) is not None  # exact
    assert "no 16-byte" in str(document_id_problem(other, None))
    assert "no 16-byte" in str(document_id_problem(other, file_id[:8]))
