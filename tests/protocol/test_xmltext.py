"""Field values XML cannot carry (`protocol.xmltext`): the appliance signs the fields into the
PDF's XMP packet, so a C0 control other than tab, LF and CR, a lone surrogate, U+FFFE or U+FFFF
can never be signed. The protocol refuses them in a result's header at decoding (reason
`schema`, naming the field and the code point, never the value), and the reader of the signed
XMP refuses a packet holding one as not well-formed."""

from __future__ import annotations

import json

import pytest

from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import ResultManifest, ResultMessage, sha256_hex
from protocol.reasons import RejectReason
from protocol.signed_metadata import SignedMetadataError, parse_xmp
from protocol.xmltext import xml_text_problem

AT = "2025-03-01T02:30:00+00:00"
PDF = b"%PDF-1.7 a signed result"
NOT_XML = ["\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff", "\ud800"]
XML = ["\t", "\n", "\r", " ", "\x7f", "\x85", "\ud7ff", "\ue000", "\ufffd", "𠀀", "Đặng"]


@pytest.mark.parametrize("char", NOT_XML)
def test_what_xml_cannot_carry_is_named_by_its_code_point(char: str) -> None:
    problem = xml_text_problem(f"Trần{char}Bình")
    assert problem is not None
    assert f"U+{ord(char):04X}" in problem and "Trần" not in problem


@pytest.mark.parametrize("char", XML)
def test_what_xml_can_carry_passes(char: str) -> None:
    assert xml_text_problem(f"Trần{char}Bình") is None


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\ufffe", "\uffff"])
def test_a_header_field_xml_cannot_carry_is_refused_at_decoding(char: str) -> None:
    header, body = encode(ResultMessage.for_pdf("dev-01", PDF, {"ho_ten": "Lê Thị"}, AT)).split(
        b"\n", 1
    )
    obj = json.loads(header)
    obj["fields"]["ho_ten"] = f"Lê{char}Thị"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode() + b"\n" + body)  # JSON escapes it as "\u0007"
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.result_id == sha256_hex(PDF)  # the answer reaches the device's result
    assert "field ho_ten" in str(caught.value) and f"U+{ord(char):04X}" in str(caught.value)
    assert "Lê" not in str(caught.value)
    # A device cannot build it either, whole or as a manifest.
    with pytest.raises(DecodeError, match="ho_ten"):
        ResultMessage.for_pdf("dev-01", PDF, {"ho_ten": f"Lê{char}Thị"}, AT)
    with pytest.raises(DecodeError, match="cccd"):
        ResultManifest("dev-01", sha256_hex(PDF), 10, 4, {"cccd": f"0{char}1"}, AT)


def test_tab_and_line_ends_in_a_field_still_pass() -> None:
    result = ResultMessage.for_pdf("dev-01", PDF, {"trich_yeu": "Về việc\r\nhỗ trợ\tchi phí"}, AT)
    assert decode(encode(result)) == result


@pytest.mark.parametrize("char", NOT_XML)
def test_a_signed_packet_holding_it_is_refused(char: str) -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:sohoa="urn:sohoa:xmp:nd30:1.0/">'
        f"<sohoa:OwnerFullName>Trần{char}Bình</sohoa:OwnerFullName>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    with pytest.raises(SignedMetadataError):
        parse_xmp(packet.encode("utf-8", "surrogatepass"))
    # Nor can a character reference smuggle it in (XML 1.0, well-formedness constraint: Legal
    # Character).
    with pytest.raises(SignedMetadataError, match="not well-formed"):
        parse_xmp(packet.replace(char, f"&#{ord(char)};").encode())
