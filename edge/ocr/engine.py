"""One loaded Tesseract (`OcrEngine`) reading page images — the only module that imports
tesserocr. It turns tesserocr's types into ours (`OcrPage`, `OcrWord`) and its failures into
`OcrError`.

Rules of this module:
- Text leaves here in Unicode NFC (never NFKC: it would rewrite characters the document printed).
- Tesseract is told the page's resolution; without it, font-size heuristics assume 70 dpi.
- One `OcrEngine` holds one loaded `PyTessBaseAPI` and is not thread-safe: use one per worker
  thread (`edge.ocr.pool`).
- The language is `vie` alone: on the development corpus `vie+eng` raised the CER of scans from
  3.2% to 3.8% (English word shapes win over Vietnamese letters whose diacritics are faint:
  "NGUYỄN" → "NGUYEN") for no gain on the few English words of these documents. Other
  languages can still be asked for with "+" (e.g. "vie+eng").
- After the main pass (PSM auto: it finds the header's two columns), a band of print it took
  for text set top to bottom is read again as one block (`edge.ocr.sideways_blocks`), a line
  of print it garbled is read again alone (`edge.ocr.garbled_lines`), and a place–date it
  misread beside the number (`edge.ocr.header_rows`); then second looks at what it lost:
  the start of the signer's title or of the signing instruction under the seal's ring
  (`edge.ocr.title_lines`), the signer's name under the seal (`edge.ocr.signer_name`) and lines
  its layout analysis dropped (`edge.ocr.lost_lines`).
- The signature area is read as two columns, "Nơi nhận" first, then the signer's block
  (`edge.ocr.columns`).
- Marks (words of no letter or digit) at the image's edge are no print
  (`edge.ocr.model.without_stray_marks`); on a page where Tesseract's word boxes are too tall,
  they are cut down to their print before any pass reasons on them (`edge.ocr.boxes`).
- Last, lines read at a mean confidence under 20 are dropped: a signature, a stain or a seal
  read as letters (`edge.ocr.model.without_noise`); a line Tesseract read after a line of its
  column printed below it goes back above it (`edge.ocr.model.restacked`); the signing
  instruction's misread words are respelled as its wording prints them
  (`edge.ocr.instruction_words`).
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tesserocr
from PIL import Image

from edge.alphabet import vietnamese_letters
from edge.errors import OcrError
from edge.ocr import deblur
from edge.ocr.boxes import fitted_to_print
from edge.ocr.columns import (
    column_words,
    find_columns,
    in_columns,
    is_doubtful,
    signature_columns,
)
from edge.ocr.garbled_lines import crop_box, garbled_lines
from edge.ocr.header_rows import accepted, joined_place_dates
from edge.ocr.instruction_words import respelled_instruction
from edge.ocr.list_markers import sideways_rows
from edge.ocr.lost_lines import find_lost_lines, insert_lines, is_text
from edge.ocr.model import (
    OcrPage,
    OcrWord,
    group_lines,
    joined_rows,
    line_box,
    line_confidence,
    page_text,
    renumber,
    restacked,
    without_noise,
    without_stray_marks,
)
from edge.ocr.seal import (
    blur_dither,
    coloured_ink,
    is_bilevel_image,
    suppress_seal,
    without_colour,
)
from edge.ocr.sideways_blocks import joined_to_rows, sideways_blocks
from edge.ocr.signer_name import (
    SignerRegion,
    accepted_lines,
    deepened,
    has_name,
    has_title,
    signer_region,
    splice_lines,
)
from edge.ocr.title_lines import (
    CutLine,
    cut_lines,
    instruction_end,
    mended_line,
    placed,
    reads_as_instruction,
)
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

TESSDATA_DIRS = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
)
"""Where Debian's `tesseract-ocr-<lang>` packages put the language data, newest first."""


DEFAULT_LANG = "vie"
TESSERACT_VARIABLES = {
    # Results are printed dark on light. Tesseract's retry of unsure words as white on black
    # costs 4% of a page and on corpus-dev only turned specks into symbols ("¬" for "_").
    "tessedit_do_invert": "0",
}
"""Tesseract settings every engine is loaded with."""
PAPER_WHITE = 250
"""Grey levels from here up are paper: no ink, not even a pale stamp, is this light. (At 245 a
hard photo's signer line moved on corpus-dev: its CER 2.3% → 3.7%.)"""
_WHITE_PAPER_LUT = [level if level < PAPER_WHITE else 255 for level in range(256)]
SURE = 85.0  # a second look read this confidently needs no other reading


class SignerReading(NamedTuple):
    """How the signer block is cleaned for one reading (the flags of `suppress_seal`)."""

    thin_tall: bool = False
    strokes: bool = False
    darkest: bool = False


SIGNER_READINGS = (
    SignerReading(),
    SignerReading(thin_tall=True),
    SignerReading(darkest=True),
    SignerReading(thin_tall=True, strokes=True),
)
"""The readings of the signer block, in order: the signature dropped whole; thinned; only the
darkest ink kept (a pen is paler than toner, and a stroke along the name's letters goes with
it); thinned and its level strokes cut (only when no name was read at all: it also cuts the bars
of letters such as T)."""


def white_paper(image: Image.Image) -> Image.Image:
    """A grey page with its near-white paper (`PAPER_WHITE` and up) made pure white; other
    modes as they are.

    Tesseract copies every text line it reads through PNG and back; the grain left in a
    photographed page's flattened paper costs that copy ~8% of the page's reading. On corpus-dev
    the CER moves within noise (photos 0.93% → 1.04%, hard photos 2.32% → 2.24%)."""
    return image.point(_WHITE_PAPER_LUT) if image.mode == "L" else image


def tesseract_version() -> str:
    """The version of the Tesseract library the OCR runs on (tesserocr's own), e.g. "5.5.0"."""
    first = str(tesserocr.tesseract_version()).splitlines()[0]
    return first.removeprefix("tesseract").strip()


def find_tessdata(lang: str = DEFAULT_LANG) -> Path:
    """Find the tessdata directory holding `<lang>.traineddata` (each of `a+b`'s languages).

    `$TESSDATA_PREFIX` wins when set (either the tessdata directory itself or its parent, as
    Tesseract 3 wanted); then Debian's directories for Tesseract 5 and 4.

    Args:
        lang: the Tesseract language code.

    Returns:
        The directory (tesserocr's bundled Tesseract is pointed at it).

    Raises:
        OcrError: the language data is installed nowhere.
    """
    candidates: list[Path] = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    candidates += TESSDATA_DIRS
    languages = [part for part in lang.split("+") if part]
    for directory in candidates:
        if languages and all((directory / f"{code}.traineddata").is_file() for code in languages):
            return directory
    missing = next(
        (
            code
            for code in languages
            if not any((d / f"{code}.traineddata").is_file() for d in candidates)
        ),
        lang,
    )
    if missing == "vie":
        raise OcrError("Vietnamese OCR data missing: run `apt-get install tesseract-ocr-vie`")
    raise OcrError(
        f"OCR data for language {missing!r} missing: run `apt-get install tesseract-ocr-{missing}` "
        "or point TESSDATA_PREFIX at a directory holding it"
    )


class OcrEngine(Closeable):
    """A loaded Tesseract for one language; recognise pages one after another.

    Loading takes a fraction of a second, so keep the engine for a batch. Not thread-safe: give
    each worker thread its own engine. Use as a context manager, or call `close()`.

    Args:
        lang: Tesseract language code(s), e.g. "vie".
        tessdata: the tessdata directory; found with `find_tessdata` when omitted.

    Raises:
        OcrError: the language data is missing or Tesseract cannot load it.
    """

    def __init__(self, lang: str = DEFAULT_LANG, tessdata: Path | None = None) -> None:
        directory = tessdata if tessdata is not None else find_tessdata(lang)
        self.lang = lang
        try:
            # The path must end in "/" for tesserocr; PSM.AUTO finds the header's two columns.
            self._api: tesserocr.PyTessBaseAPI | None = tesserocr.PyTessBaseAPI(
                path=f"{directory}/", lang=lang, psm=tesserocr.PSM.AUTO
            )
        except RuntimeError as e:
            raise OcrError(
                f"Tesseract could not load {lang!r} from {directory}: reinstall "
                f"`tesseract-ocr-{lang}` (the traineddata file may be damaged)"
            ) from e
        for name, value in TESSERACT_VARIABLES.items():
            if not self._api.SetVariable(name, value):
                raise OcrError(f"internal error: Tesseract has no setting {name!r}")
        log.debug("Tesseract %s loaded %s from %s", tesserocr.tesseract_version(), lang, directory)

    def close(self) -> None:
        """Free Tesseract's memory; the engine cannot be used afterwards."""
        if self._api is not None:
            self._api.End()
            self._api = None

    def recognize(
        self, image: Image.Image, dpi: int = 300, *, colour: Image.Image | None = None
    ) -> OcrPage:
        """Recognise one page image.

        Args:
            image: the page, upright, in mode "1", "L" or "RGB" (others are converted to RGB).
            dpi: its resolution in pixels per inch.
            colour: the same page in colour (same size), when it was captured so and `image` is
                its grey OCR copy: the signer pass then tells the red seal and the blue
                signature from the black print by their colour.

        Returns:
            The page's text and words.

        Raises:
            OcrError: the engine is closed, or Tesseract failed on the image.
        """
        if self._api is None:
            raise OcrError("the OCR engine was closed: create a new OcrEngine")
        if image.mode not in ("1", "L", "RGB"):
            image = image.convert("RGB")
        if colour is None and image.mode == "RGB":
            colour = image  # kept before the OCR image may be made grey below
        image = white_paper(self._unsmear(image, dpi))
        api = self._api
        try:
            api.SetImage(image)
            api.SetSourceResolution(dpi)  # after SetImage, which resets it
            if not api.Recognize():
                raise OcrError("Tesseract could not recognise the page: check the image")
            words = without_stray_marks(_words(api), image.width, image.height)
            words = fitted_to_print(words, image)
        except (RuntimeError, ValueError) as e:  # ValueError: Pillow cannot hand the image over
            raise OcrError(f"Tesseract failed on the page ({e}): check the image") from e
        finally:
            # Drop the image and results so a long-lived engine does not hold the last page.
            api.Clear()
        # The signature area in two columns before the second looks (the signer pass finds the
        # title as a line of its own), and again after them (their lines placed, seal pieces
        # dropped).
        words = self._reread_sideways(image, dpi, words)
        words = self._reread_garbled(image, dpi, words)
        words = self._reread_place_date(image, dpi, words)
        words = self._read_columns(image, dpi, words, colour)
        words = self._recover_signer(image, dpi, words, colour)
        words = self._recover_list_rows(image, dpi, words)
        words = self._recover_lost_lines(image, dpi, words)
        # Last: the title or instruction the seal cut may be a line the passes above placed.
        words = self._recover_titles(image, dpi, words, colour)
        # Noise lines go before rows are joined: a speck read beside a line is no part of it.
        words = joined_rows(restacked(without_noise(words)))
        words = without_noise(signature_columns(words, image.height))
        # Last, on the lines as they stand: the instruction's misread words (see the module).
        words = respelled_instruction(words)
        mean = sum(w.confidence for w in words) / len(words) if words else 0.0
        return OcrPage(
            text=page_text(words),
            words=words,
            width=image.width,
            height=image.height,
            dpi=dpi,
            mean_confidence=mean,
        )

    def _unsmear(self, image: Image.Image, dpi: int) -> Image.Image:
        """The page with a camera shake's smear taken out (see `edge.ocr.deblur`), or `image`
        when it has none or no trial reads surer than the page as it is.

        The direction comes from the image; the length from trials (`deblur.search_smear`): a
        band of text is deconvolved and read with each candidate, scored by the characters read
        surely; the smear is kept only when the best trial beats the band as it is by `GAIN`.
        A black-and-white scan ("1") is never smeared by a shaking hand and is left alone."""
        if image.mode not in ("L", "RGB"):
            return image
        grey = np.asarray(image if image.mode == "L" else image.convert("L"))
        scale = dpi / 300
        smear = deblur.find_smear(grey, dpi)
        if smear is None:
            return image
        top, bottom = deblur.text_band(grey, round(deblur.BAND * scale))
        margin = round(grey.shape[1] * deblur.BAND_MARGIN)
        band = grey[top:bottom, margin : grey.shape[1] - margin]

        def sureness(length: float, angle: float) -> float:
            trial = (
                band
                if length == 0
                else deblur.unsmear(band, deblur.smear_kernel(length * scale, angle))
            )
            words = self._read(Image.fromarray(trial), dpi, tesserocr.PSM.SINGLE_BLOCK)
            return float(sum(len(w.text) for w in words if w.confidence >= deblur.SURE_WORD))

        as_is = sureness(0, smear.angle)
        length, angle, best = deblur.search_smear(smear, sureness)
        if best < deblur.GAIN * as_is:
            log.debug("smear at %.0f° left: no trial read surer", smear.angle)
            return image
        log.debug("smear %.1f px at %.1f° taken out", length, angle)
        return Image.fromarray(deblur.unsmear(grey, deblur.smear_kernel(length * scale, angle)))

    def _read(self, image: Image.Image, dpi: int, psm: int) -> tuple[OcrWord, ...]:
        """Read a crop in the given page segmentation mode; nothing when Tesseract fails on it
        (a second look is a bonus: its failure must not fail the page)."""
        api = self._api
        if api is None:
            return ()
        try:
            api.SetPageSegMode(psm)
            api.SetImage(image)
            api.SetSourceResolution(dpi)
            return _words(api) if api.Recognize() else ()
        except (RuntimeError, ValueError) as e:
            log.debug("second look failed: %s", e)
            return ()
        finally:
            api.Clear()
            api.SetPageSegMode(tesserocr.PSM.AUTO)

    def _reread_sideways(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Read again as one block each band of print the page's reading took for text set top
        to bottom (see `edge.ocr.sideways_blocks`); its rows take the place of the tall pieces
        when they read as confident text."""
        for block in sideways_blocks(words, image.width, image.height):
            read = self._read(image.crop(block.box), dpi, tesserocr.PSM.SINGLE_BLOCK)
            rows = [_on_page(row, *block.box[:2]) for row in group_lines(read)]
            if not rows or not all(is_text(row) for row in rows):
                continue
            log.debug("sideways pass: a band read again as %d row(s)", len(rows))
            kept, alone = joined_to_rows([w for w in words if w not in block.words], rows)
            words = insert_lines(kept, alone)
        return words

    def _reread_garbled(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Read again alone each line of print the page's reading garbled (see
        `edge.ocr.garbled_lines`); the new reading takes the line's place when it reads as
        confident text and is surer."""
        again: dict[int, list[OcrWord]] = {}
        for line in garbled_lines(words):
            box = crop_box(line, image.width, image.height)
            read = self._read(image.crop(box), dpi, tesserocr.PSM.SINGLE_LINE)
            if is_text(read) and _mean(read) > line_confidence(line):
                again[line[0].line] = _on_page(read, *box[:2], line[0].line)
        if not again:
            return words
        log.debug("garbled-line pass: %d line(s) read again", len(again))
        return _with_lines(words, again)

    def _reread_place_date(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Read again alone a place–date line the page's reading joined to the number beside
        it (see `edge.ocr.header_rows`); the new reading takes its place when it reads as a
        date, word for word and fairly surely."""
        again: dict[int, list[OcrWord]] = {}
        for part in joined_place_dates(words, image.height):
            box = crop_box(part, image.width, image.height)
            read = self._read(image.crop(box), dpi, tesserocr.PSM.SINGLE_LINE)
            if accepted(read, part):
                number = part[0].line
                kept = [w for w in words if w.line == number and w not in part]
                again[number] = kept + _on_page(read, *box[:2], number)
        if not again:
            return words
        log.debug("place-date pass: %d line(s) read again", len(again))
        return _with_lines(words, again)

    def _read_columns(
        self,
        image: Image.Image,
        dpi: int,
        words: tuple[OcrWord, ...],
        colour: Image.Image | None = None,
    ) -> tuple[OcrWord, ...]:
        """The page's words with the signature area in two columns (`edge.ocr.columns`).

        Where the page's reading of a column is doubtful (Tesseract's lines crossed the other
        column's rows, which mangles both), the column is read again on its own as one block
        (its coloured ink, the seal and the signature, made paper on a colour capture), and of
        the two readings of each row the surer is kept."""
        columns = find_columns(words, image.height)
        if columns is None:
            return words
        again: dict[str, tuple[OcrWord, ...]] = {}
        pad = round(0.5 * columns.text_height)
        for side, box in (("left", columns.left), ("right", columns.right)):
            read = column_words(words, columns, side == "left")
            if not is_doubtful(read, columns.text_height, even_rows=side == "left"):
                continue
            x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
            cut = (x0, y0, min(image.width, box[2] + pad), min(image.height, box[3] + pad))
            crop = image.crop(cut)
            if colour is not None and colour.mode == "RGB" and colour.size == image.size:
                crop = without_colour(crop, coloured_ink(colour.crop(cut)))
            alone = tuple(_on_page(self._read(crop, dpi, tesserocr.PSM.SINGLE_BLOCK), x0, y0))
            if alone:
                again[side] = alone
        log.debug("signature area in two columns, read again: %s", sorted(again) or "none")
        return in_columns(words, columns, left=again.get("left"), right=again.get("right"))

    def _recover_titles(
        self,
        image: Image.Image,
        dpi: int,
        words: tuple[OcrWord, ...],
        colour: Image.Image | None = None,
    ) -> tuple[OcrWord, ...]:
        """Read again each signer's title or signing instruction whose start the seal's ring
        cut (`edge.ocr.title_lines`), over the block's width with the seal taken away, and put
        the reading in the line's place when it is the whole line; else keep the line. The row
        under an instruction whose end is lost is read the same way, and its reading put after
        the instruction when it is the end."""
        again: dict[int, list[OcrWord]] = {}
        ends: dict[int, list[OcrWord]] = {}  # an instruction's lost end, by its first line
        for cut in cut_lines(words, image.width, image.height):
            old = [w for w in words if w.line == cut.line]
            new = self._read_cut_line(image, dpi, cut, colour)
            if cut.continued:
                if end := instruction_end(new):
                    ends[cut.line] = end
            elif mended_line(cut, old, new):
                again[cut.line] = new
        if not again and not ends:
            return words
        log.debug("title pass: %d cut line(s) read whole, %d end(s)", len(again), len(ends))
        lines: list[Sequence[OcrWord]] = []
        for line in group_lines(words):
            lines.append(again.get(line[0].line, line))
            if line[0].line in ends:
                lines.append(ends[line[0].line])
        return renumber(placed(lines, set(again)))

    def _read_cut_line(
        self, image: Image.Image, dpi: int, cut: CutLine, colour: Image.Image | None
    ) -> list[OcrWord]:
        """One line of `_recover_titles`, read with the seal taken away (page coordinates)."""
        crop = image.crop(cut.box)
        if is_bilevel_image(crop):
            crop = blur_dither(crop)  # the seal's dither made the mid-grey that goes
        elif colour is not None and colour.mode == "RGB" and colour.size == image.size:
            crop = without_colour(crop, coloured_ink(colour.crop(cut.box)))
        crop = suppress_seal(crop, cut.line_height)
        # Tesseract 5.5's line finding may drop the whole line for what the ring left beside
        # it, and read nothing ("CHỦ TỊCH" after a dithered ring): read it raw then.
        read = self._read(crop, dpi, tesserocr.PSM.SINGLE_LINE) or self._read(
            crop, dpi, tesserocr.PSM.RAW_LINE
        )
        # The end of the seal's ring read before the line: specks alone, or at its start.
        kept = _on_page([w for w in read if w.text.strip(RING_SPECKS)], *cut.box[:2], cut.line)
        if kept:
            kept[0] = replace(kept[0], text=kept[0].text.lstrip(RING_SPECKS))  # "_(Ký", "„TRƯỞNG"
        return kept

    def _recover_signer(
        self,
        image: Image.Image,
        dpi: int,
        words: tuple[OcrWord, ...],
        colour: Image.Image | None = None,
    ) -> tuple[OcrWord, ...]:
        """Second pass over the signature block: re-read the signer's name when the main pass
        lost it under the seal or the handwritten signature (see `edge.ocr.signer_name`).

        The block is read up to four times (`SIGNER_READINGS`: a stroke through the name joins
        it to the signature, so dropping the signature whole can drop the name), and the
        reading with the most lines, then the surest, is kept. When the main pass lost the
        title too, the region is a guess (the lower right of the page): it is read again only if
        its first reading finds a title there. A page captured in colour is
        first read with its coloured ink (seal, signature) filled from around, which mends a
        letter a stroke crossed, then with it made paper, which the readings above build on.

        Returns the page's words with the recovered line(s) spliced in after the signer's title
        block (each word keeps the confidence of the second pass), or `words` unchanged when there
        is no title block, the main pass already has a name line there, or nothing plausible is
        read.
        """
        region = signer_region(words, image.width, image.height)
        if region is None:
            return words
        best = self._read_signer_block(image, dpi, region, colour)
        if (deeper := deepened(region, best, image.height)) is not None:
            # A guessed region held the block's title but not the name under it: read again,
            # deep enough under that title.
            region, best = deeper, self._read_signer_block(image, dpi, deeper, colour)
        if not best:
            return words
        log.debug("signer pass: %d line(s) recovered", len(best))
        return splice_lines(words, best, region)

    def _read_signer_block(
        self,
        image: Image.Image,
        dpi: int,
        region: SignerRegion,
        colour: Image.Image | None,
    ) -> list[list[OcrWord]]:
        """The surest lines of `_recover_signer`'s readings of one region (page coordinates)."""
        crop = image.crop(region.box)
        crops = [crop]
        if is_bilevel_image(crop):
            # A black-and-white scan prints the seal as a dither of dots: blurred, it is the
            # mid-grey `suppress_seal` removes, and the name's strokes stay dark.
            crops = [blur_dither(crop)]
        elif colour is not None and colour.mode == "RGB" and colour.size == image.size:
            tinted = coloured_ink(colour.crop(region.box))
            crops = [without_colour(crop, tinted, fill=True), without_colour(crop, tinted)]
        readings = [(c, SignerReading()) for c in crops[:-1]]
        readings += [(crops[-1], reading) for reading in SIGNER_READINGS]
        best: list[list[OcrWord]] = []
        for cleaned, reading in readings:
            if reading.strokes and has_name(best, 0.0):
                break  # cutting strokes also cuts letters' bars: only when no name was read
            clean = suppress_seal(cleaned, region.line_height, **reading._asdict())
            lines = accepted_lines(self._read(clean, dpi, tesserocr.PSM.SINGLE_BLOCK), region)
            if _surer(lines, best):
                best = lines
            if region.title_line is None and not has_title(best):
                break  # a guessed region whose first reading shows no title holds no block
            if has_name(best, SURE):
                break  # a name read surely: spare the other readings
        return best

    def _recover_list_rows(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Drop a numbered list's markers read sideways as one line, and re-read each row they
        belong to whole, marker included (see `edge.ocr.list_markers`); a row whose re-reading
        does not read as text keeps its first reading."""
        sideways, rows = sideways_rows(words)
        if not sideways:
            return words
        again: dict[int, list[OcrWord]] = {}
        for row in rows:
            x0, y0 = max(0, row.box[0]), max(0, row.box[1])
            box = (x0, y0, min(image.width, row.box[2]), min(image.height, row.box[3]))
            read = self._read(image.crop(box), dpi, tesserocr.PSM.SINGLE_LINE)
            if is_text(read):
                again[row.line] = _on_page(read, x0, y0)
        log.debug("list markers read sideways: %d row(s) read again", len(again))
        boxes = [line_box(row) for row in again.values()]
        kept: list[list[OcrWord]] = []
        placed = False
        for line in group_lines(words):
            number = line[0].line
            if number in again:
                if not placed:  # the list's rows go together, top to bottom, where its first was
                    kept += sorted(again.values(), key=lambda row: line_box(row)[1])
                    placed = True
            elif number not in sideways and not any(_inside(line_box(line), b) for b in boxes):
                kept.append(line)  # a marker read as a line of its own is in its row now
        return renumber(kept)

    def _recover_lost_lines(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Re-read the rows of print the main pass's layout analysis dropped (see
        `edge.ocr.lost_lines`), each as one line, as cut and with its surroundings whitened;
        the surer reading is kept when it reads as text, or as the whole signing instruction
        (`title_lines.reads_as_instruction`: the seal's ring across it makes a few words unsure)."""
        recovered: list[tuple[OcrWord, ...]] = []
        for lost in find_lost_lines(image, words):
            x0, y0 = lost.box[:2]
            best: tuple[OcrWord, ...] = ()
            for crop in lost.crops:  # as cut first; whitened around when that fails
                read = self._read(crop, dpi, tesserocr.PSM.SINGLE_LINE)
                if read and (not best or _mean(read) > _mean(best)):
                    best = read
                if is_text(best, page_number=lost.page_number):
                    break  # sure enough: spare the second reading
            if is_text(best, page_number=lost.page_number) or reads_as_instruction(best):
                recovered.append(tuple(_on_page(best, x0, y0)))
        if not recovered:
            return words
        log.debug("lost-line pass: %d line(s) recovered", len(recovered))
        return insert_lines(words, recovered)


def _with_lines(words: Sequence[OcrWord], again: dict[int, list[OcrWord]]) -> tuple[OcrWord, ...]:
    """The words with each line whose number `again` holds replaced by its new words, lines
    numbered afresh."""
    return renumber([again.get(line[0].line, line) for line in group_lines(words)])


def _on_page(read: Sequence[OcrWord], x0: int, y0: int, line: int | None = None) -> list[OcrWord]:
    """Words read from a crop whose top left is (x0, y0), in page pixels; on `line` if given."""
    return [
        OcrWord(
            w.text,
            (w.box[0] + x0, w.box[1] + y0, w.box[2] + x0, w.box[3] + y0),
            w.confidence,
            w.line if line is None else line,
        )
        for w in read
    ]


RING_SPECKS = "_„\"'`.,-–—“”‘’"
"""What OCR reads from the end of the seal's ring before a title or instruction read again."""


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether box `inner` lies within box `outer`."""
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _words(api: tesserocr.PyTessBaseAPI) -> tuple[OcrWord, ...]:
    """Walk the result iterator word by word, numbering text lines in reading order."""
    iterator = api.GetIterator()
    if iterator is None:  # nothing recognised at all
        return ()
    level = tesserocr.RIL.WORD
    words: list[OcrWord] = []
    line, new_line = -1, True
    for word in tesserocr.iterate_level(iterator, level):
        new_line = new_line or word.IsAtBeginningOf(tesserocr.RIL.TEXTLINE)
        if word.Empty(level):
            continue
        text = vietnamese_letters(
            unicodedata.normalize("NFC", (word.GetUTF8Text(level) or "").strip())
        )
        box = word.BoundingBox(level)
        if not text or box is None:
            continue  # a line of nothing but specks keeps no number
        if new_line:
            line, new_line = line + 1, False
        x0, y0, x1, y1 = box
        words.append(OcrWord(text, (x0, y0, x1, y1), float(word.Confidence(level)), line))
    return tuple(words)


def _mean(words: Sequence[OcrWord]) -> float:
    return sum(w.confidence for w in words) / len(words)


def _surer(lines: list[list[OcrWord]], than: list[list[OcrWord]]) -> bool:
    """Whether `lines` is a better reading than `than`: more lines, or as many read surer."""
    if len(lines) != len(than):
        return len(lines) > len(than)
    return bool(lines) and _mean([w for ln in lines for w in ln]) > _mean(
        [w for ln in than for w in ln]
    )
