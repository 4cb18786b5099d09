"""How much pyHanko may decode of a device's bytes while it verifies them: `RESULT_DECODE_LIMITS`,
its decoding limits tightened to what a result can need. A PDF beyond them is refused
`too_complex` (`server.verify`); these limits bound decompression, not parsing, which the
verifier process's CPU and memory limits bound (`server.sandbox`).
"""

from __future__ import annotations

from pyhanko.pdf_utils.decode_limits import (
    DEFAULT_PURPOSE_LIMITS,
    DecodeLimits,
    DecodePurpose,
    DocumentDecodeBudget,
    StreamDecodeLimits,
)

_MiB = 1024 * 1024

RESULT_DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=_MiB, max_output_size=64 * _MiB),
    per_purpose={
        **DEFAULT_PURPOSE_LIMITS,
        DecodePurpose.OBJECT_STREAM: StreamDecodeLimits(
            max_ratio=100, ratio_floor=256 * 1024, max_output_size=_MiB
        ),
        DecodePurpose.XREF_STREAM: StreamDecodeLimits(
            max_ratio=100, ratio_floor=256 * 1024, max_output_size=_MiB
        ),
        DecodePurpose.XMP_METADATA: StreamDecodeLimits(
            max_ratio=100, ratio_floor=256 * 1024, max_output_size=_MiB
        ),
    },
    document_budget=DocumentDecodeBudget(base_allowance=4 * _MiB, max_ratio=2),
)
"""pyHanko's decoding limits for a device's bytes, tightened to what a result can need (a few
pages, one signature field, an XMP packet of a few KB): signature validation decodes only the
document's structure (object and cross-reference streams, the XMP), never page content, so an
object or xref stream of more than 1 MiB, or more than 4 MiB (or twice the file) decoded in all,
is a bomb, not a result. pyHanko's defaults (64 MiB per object stream, 256 MiB per document) let
a 0.9 MB file expand to a 60 MiB /Fields array that took 81 s and 2.3 GB to parse."""
