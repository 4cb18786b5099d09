"""Fonts that carry Vietnamese, found on this machine with fontconfig and checked with fontTools.

No path is hard-coded: `fc-list` says where each family's files are, and a family whose regular,
bold or italic face lacks a Vietnamese letter (URW's C059, P052, Nimbus Roman) or is missing is
skipped with a message naming the Debian package that brings it.
"""

from __future__ import annotations

import functools
import logging
import subprocess
from dataclasses import dataclass

from fontTools.ttLib import TTFont
from PIL import ImageFont

log = logging.getLogger("bench.corpus.fonts")

_VI = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
VIETNAMESE = set(_VI + _VI.upper())

# family → the Debian package that ships it (for the message when it is absent)
FAMILIES = {
    "Tinos": "fonts-croscore",
    "Liberation Serif": "fonts-liberation2",
    "TeX Gyre Termes": "fonts-texgyre",
    "TeX Gyre Pagella": "fonts-texgyre",
    "TeX Gyre Bonum": "fonts-texgyre",
    "TeX Gyre Schola": "fonts-texgyre",
    "DejaVu Serif": "fonts-dejavu-core",
    "Noto Serif": "fonts-noto-core",
    "C059": "fonts-urw-base35",
    "P052": "fonts-urw-base35",
    "Nimbus Roman": "fonts-urw-base35",
    # serif families no split's mix uses, and sans ones: for stress sets (`--fonts`)
    "Charis SIL": "fonts-sil-charis",
    "Gentium Plus": "fonts-sil-gentiumplus",
    "Caladea": "fonts-crosextra-caladea",
    "Linux Libertine O": "fonts-linuxlibertine",
    "Arimo": "fonts-croscore",
    "Liberation Sans": "fonts-liberation2",
    "Noto Sans": "fonts-noto-core",
    "DejaVu Sans": "fonts-dejavu-core",
}
STYLES = {
    "r": ("Regular", "Book", "Roman"),
    "b": ("Bold",),
    "i": ("Italic", "Oblique"),
    "bi": ("Bold Italic", "Bold Oblique"),
}


class FontError(Exception):
    """No usable Vietnamese font: says which packages to install."""


@dataclass(frozen=True)
class Family:
    """A font family with one file per style key (r, b, i, bi)."""

    name: str
    files: dict[str, str]

    def font(self, style: str, px: int) -> ImageFont.FreeTypeFont:
        return _load(self.files[style], px)


@functools.lru_cache(maxsize=512)
def _load(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.BASIC)


def _covers(path: str) -> bool:
    try:
        cmap = TTFont(path, fontNumber=0, lazy=True).getBestCmap()
    except Exception:  # a Type 1 file or a damaged one: not usable here
        return False
    return all(ord(c) in cmap for c in VIETNAMESE)


@functools.lru_cache(maxsize=1)
def available() -> dict[str, Family]:
    """Every family of FAMILIES present with all four styles covering Vietnamese."""
    try:
        out = subprocess.run(
            ["fc-list", "--format", "%{family[0]}|%{style[0]}|%{file}\n"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FontError(f"fc-list failed ({exc}); install fontconfig") from exc
    found: dict[str, dict[str, str]] = {}
    for row in out.splitlines():
        family, style, path = [*row.split("|", 2), "", ""][:3]
        if family not in FAMILIES or not path.endswith((".ttf", ".otf")):
            continue
        for key, names in STYLES.items():
            if style in names:
                found.setdefault(family, {}).setdefault(key, path)
    usable: dict[str, Family] = {}
    for family, package in FAMILIES.items():
        files = found.get(family, {})
        if set(files) != set(STYLES):
            log.info("font %s skipped: not installed in 4 styles (Debian %s)", family, package)
            continue
        if not all(_covers(p) for p in files.values()):
            log.info("font %s skipped: lacks Vietnamese letters", family)
            continue
        usable[family] = Family(family, files)
    if not usable:
        raise FontError(
            "no serif font with Vietnamese found; install fonts-croscore fonts-texgyre "
            "fonts-liberation2 (scripts/debian-packages.txt)"
        )
    return usable


def pick(rng_value: float, mix: dict[str, float]) -> Family:
    """The family of the weighted mix at rng_value ∈ [0, 1); absent families drop out."""
    fams = available()
    present = [(name, w) for name, w in mix.items() if name in fams]
    if not present:
        present = [(name, 1.0) for name in sorted(fams)]
    total = sum(w for _, w in present)
    acc = 0.0
    for name, w in present:
        acc += w / total
        if rng_value < acc:
            return fams[name]
    return fams[present[-1][0]]
