"""Which text an XML document can carry, for the result's fields: the appliance writes them into
the signed PDF's XMP packet (an XML document), so a value XML cannot hold could never be signed.

XML 1.0 (Fifth Edition) section 2.2, production [2] `Char`, allows tab, LF, CR, U+0020-U+D7FF,
U+E000-U+FFFD and U+10000-U+10FFFF, and nothing else, not even as a character reference
("&#1;" is not well-formed either). Outside it: the C0 controls but tab, LF and CR (a NUL, a
bell, a form feed pasted from another program), lone UTF-16 surrogates, U+FFFE and U+FFFF.

Rules of this module:
- One rule (`xml_text_problem`), used where a field value is taken in: the appliance's field
  validation (`edge.fields.validate`), its XMP writer (`edge.pdf.xmp`) and the protocol's
  decoding of a result's header (`protocol.messages`). The server's reader of the signed XMP
  (`protocol.signed_metadata.parse_xmp`) refuses such a packet as not well-formed XML.
- A problem names the character by its code point, never the value (values are citizens' data).
- Sans-IO.
"""

from __future__ import annotations

import re

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Every character outside XML 1.0's `Char` production (its complement in the BMP)."""


def xml_text_problem(text: str) -> str | None:
    """Why `text` cannot be written in an XML document, or None when it can.

    Returns:
        A phrase to follow the value's name ("holds the control character U+0007, …"), naming
        the first character XML cannot carry by its code point.
    """
    found = _NOT_XML.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone UTF-16 surrogate"
    elif code < 0x20:
        kind = "the control character"
    else:
        kind = "the noncharacter"
    return f"holds {kind} U+{code:04X}, which the signed document's metadata (XML) cannot carry"
