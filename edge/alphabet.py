"""Letters OCR reads that no Vietnamese text holds, and the Vietnamese letter each stands for.

Tesseract's Vietnamese model still knows Latin-1: a speck over a letter comes out as a
diaeresis ("Cïl"), a breve that lost its curve as one ("Byä", "näm" for "Byă", "năm"), the
crossed D as the Icelandic eth ("QĐÐ-UBND"), a speck through an o or over an s as a stroke or
a caron ("theø", "Byăš"). One code point stands for one (NFC), so a line keeps
its length and positions within it. Used on the OCR's words and on text the field readers get.
"""

from __future__ import annotations

_STANDS_FOR = str.maketrans(
    dict(zip("ÐðäÄïëöüÿñÏËÖÜŸÑøØšŠ", "ĐđăĂieouynIEOUYNoOsS", strict=True))
)  # fmt: skip


def vietnamese_letters(text: str) -> str:
    """`text` (NFC) with each letter no Vietnamese text holds replaced by the one it stands for."""
    return text.translate(_STANDS_FOR)
