"""Building a transmission's messages from a result, and checking a reassembled one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.chunking import Reassembly, ReassemblyError, ResultSource, build_messages
from protocol.errors import ProtocolError
from protocol.messages import ResultChunk, ResultManifest, ResultMessage, sha256_hex
from protocol.sender import WHOLE, Part, Transmission

AT = "2025-03-01T02:03:04+00:00"


def source(pdf: bytes) -> ResultSource:
    return ResultSource("dev-01", pdf, {"so_ky_hieu": "1/QĐ"}, AT, {"pages": "2"})


def test_a_whole_transmission_is_one_result_message() -> None:
    pdf = b"%PDF small"
    (message,) = build_messages(Transmission(sha256_hex(pdf), (WHOLE,), None), source(pdf))
    assert isinstance(message, ResultMessage)
    assert message.pdf == pdf and message.metadata == {"pages": "2"}


def test_a_chunked_transmission_is_a_manifest_then_its_chunks() -> None:
    pdf = bytes(range(256)) * 4
    parts = (Part.manifest(resume=False), *(Part.chunk(i) for i in range(4)))
    out = list(build_messages(Transmission(sha256_hex(pdf), parts, 300), source(pdf)))
    manifest, *chunks = out
    assert isinstance(manifest, ResultManifest) and manifest.chunk_count == 4
    assert not manifest.resume
    assert all(isinstance(c, ResultChunk) and c.intact for c in chunks)
    assert b"".join(c.data for c in chunks if isinstance(c, ResultChunk)) == pdf


def test_a_pdf_that_is_not_the_result_is_refused() -> None:
    with pytest.raises(ProtocolError):
        list(build_messages(Transmission("0" * 64, (WHOLE,), None), source(b"x")))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=700))
def test_reassembly_hashes_the_whole_as_the_chunks_come_back(pdf: bytes, chunk_size: int) -> None:
    rid = sha256_hex(pdf)
    manifest = ResultManifest("dev-01", rid, len(pdf), chunk_size, {}, AT)
    check = Reassembly(manifest)
    for i in range(manifest.chunk_count):
        check.add(i, ResultChunk.cut("dev-01", rid, pdf, chunk_size, i).data)
    assert check.complete and check.sha256() == rid


def test_reassembly_refuses_order_and_length_mistakes() -> None:
    pdf = bytes(100)
    manifest = ResultManifest("dev-01", sha256_hex(pdf), 100, 40, {}, AT)
    check = Reassembly(manifest)
    with pytest.raises(ReassemblyError):
        check.add(1, bytes(40))
    with pytest.raises(ReassemblyError):
        check.add(0, bytes(39))
    check.add(0, bytes(40))
    with pytest.raises(ReassemblyError):
        check.sha256()  # chunks 1 and 2 not fed yet
