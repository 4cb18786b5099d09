"""A camera shake taken out before OCR, and a colour capture's seal and signature told from print.

Real Tesseract on the rendered sample page, smeared or inked the way a phone and a pen do it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.ocr import OcrEngine, deblur
from edge.ocr.model import OcrWord
from edge.ocr.seal import coloured_ink, without_colour
from edge.ocr.signer_name import fold, has_name
from edge.sample_document import FONT_DIR, FONT_FILES, SampleDocument
from tests.edge.test_ocr import _sealed, _word, cer


def _smeared(sample: SampleDocument, length: float, angle: float) -> np.ndarray:
    """The sample page shaken: a straight smear, then the sensor's noise."""
    grey = np.asarray(sample.image.convert("L"))
    smeared = cv2.filter2D(
        grey, -1, deblur.smear_kernel(length, angle), borderType=cv2.BORDER_REFLECT
    )
    noise = np.random.default_rng(7).normal(0, 2.0, grey.shape)
    return np.asarray(np.clip(smeared + noise, 0, 255), dtype=np.uint8)


def _angle_gap(a: float, b: float) -> float:
    gap = abs(a - b) % 180
    return min(gap, 180 - gap)


def test_a_sharp_page_has_no_smear(sample: SampleDocument) -> None:
    assert deblur.find_smear(np.asarray(sample.image.convert("L"))) is None


def test_an_evenly_blurred_page_has_no_smear_to_take_out(sample: SampleDocument) -> None:
    grey = np.asarray(
        cv2.GaussianBlur(np.asarray(sample.image.convert("L")), (0, 0), 1.5), dtype=np.uint8
    )
    assert deblur.find_smear(grey) is None  # out of focus every way: no straight streak


@pytest.mark.parametrize("angle", [0.0, 40.0, 95.0, 140.0])
def test_the_smear_direction_is_found(sample: SampleDocument, angle: float) -> None:
    smear = deblur.find_smear(_smeared(sample, 13, angle))
    assert smear is not None
    assert _angle_gap(smear.angle, angle) <= 15  # within one step of `DIRECTIONS`
    assert smear.anisotropy < deblur.ANISOTROPY


def test_the_search_settles_near_the_best_trials() -> None:
    scores: dict[tuple[float, float], float] = {}

    def sureness(length: float, angle: float) -> float:  # one hill, peak at 13 px, 38°
        scores[(length, angle)] = 300 - 4 * (length - 13) ** 2 - 0.5 * (angle - 38) ** 2
        return scores[(length, angle)]

    length, angle, best = deblur.search_smear(deblur.Smear(30.0, 0.2, 0.4), sureness)
    assert abs(length - 13) <= 1.5 and abs(angle - 38) <= 7.5
    assert best == max(scores.values())
    assert len(scores) <= len(deblur.LENGTHS) + 4  # a handful of readings, not a grid


def test_unsmear_undoes_a_known_smear(sample: SampleDocument) -> None:
    grey = np.asarray(sample.image.convert("L")).astype(np.float64)
    smeared = _smeared(sample, 12, 30)
    restored = deblur.unsmear(smeared, deblur.smear_kernel(12, 30))
    assert restored.shape == smeared.shape and restored.dtype == np.uint8
    before = ((smeared - grey) ** 2).mean()
    after = ((restored.astype(np.float64) - grey) ** 2).mean()
    assert after < 0.5 * before


@pytest.mark.slow
def test_a_shaken_page_reads_as_well_as_a_steady_one(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    smeared = Image.fromarray(_smeared(sample, 14, 140))
    steady = cer(sample.text, engine.recognize(sample.image, 300).text)
    shaken = cer(sample.text, engine.recognize(smeared, 300).text)
    api = engine._api
    assert api is not None
    api.SetImage(smeared)
    api.SetSourceResolution(300)
    raw = cer(sample.text, api.GetUTF8Text())  # the same page without the smear taken out
    api.Clear()
    assert raw > 0.05, "the smear must really hurt a plain reading for this test to mean much"
    assert shaken < max(0.03, 2 * steady) and shaken < raw / 3


# --- Colour: the seal is red, the signature blue, the name black ---------------------------------


def _inked_name() -> tuple[Image.Image, tuple[slice, slice]]:
    """A signer's name in black with a red seal ring beside it and a blue pen stroke through it;
    and where the stroke crosses the "L" stem."""
    crop = Image.new("RGB", (900, 240), (236, 232, 220))  # warm paper
    draw = ImageDraw.Draw(crop)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=58)
    draw.text((60, 90), "Lê Diệu Phượng", fill=(25, 25, 28), font=font)
    draw.ellipse((-120, -150, 200, 170), outline=(205, 45, 50), width=10)
    draw.line((20, 132, 880, 112), fill=(35, 50, 140), width=5)
    stem = (slice(126, 140), slice(62, 74))
    return crop, stem


def test_coloured_ink_is_the_seal_and_the_signature_not_the_print() -> None:
    crop, _ = _inked_name()
    mask = coloured_ink(crop)
    rgb = np.asarray(crop).astype(int)
    black = (rgb.max(axis=2) < 60) & (rgb.max(axis=2) - rgb.min(axis=2) < 10)
    blue = (rgb[..., 2] - rgb[..., 0]) > 60
    red = (rgb[..., 0] - rgb[..., 2]) > 100
    assert mask[blue].mean() > 0.99 and mask[red].mean() > 0.99
    # Only the print right next to a stroke is touched (the mask's one-pixel margin).
    near = cv2.dilate((blue | red).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert not mask[black & ~near].any()


def test_without_colour_mends_a_letter_the_stroke_crossed(engine: OcrEngine) -> None:
    crop, stem = _inked_name()
    mask = coloured_ink(crop)
    blank = np.asarray(without_colour(crop, mask))
    filled = np.asarray(without_colour(crop, mask, fill=True))
    assert blank[mask].min() == 255  # made paper
    assert filled[stem].mean() < blank[stem].mean() - 40  # the stem closed over the stroke
    words = engine._read(Image.fromarray(filled), 300, 7)
    assert fold("Lê Diệu Phượng") in fold(" ".join(w.text for w in words))


@pytest.mark.slow
def test_a_signature_across_the_name_on_a_colour_capture_is_read_through(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    name = sample.fields["nguoi_ky"]
    assert name is not None
    page = _sealed(sample)  # a red seal over the name
    grey = np.asarray(sample.image)
    bottom = int(np.nonzero((grey[:, 1300:2060] < 128).any(axis=1))[0].max())  # the name's foot
    draw = ImageDraw.Draw(page)
    blue = (30, 45, 150)
    for k in range(6):  # the signature's loops, above the name
        x = 1450 + 70 * k
        draw.arc((x, bottom - 260, x + 90, bottom - 40), 180, 390, blue, 6)
    draw.line((1350, bottom - 22, 2050, bottom - 40), fill=blue, width=6)  # its tail, through it
    ocr_image = page.convert("L")

    in_colour = engine.recognize(ocr_image, 300, colour=page).text.splitlines()
    assert fold(name) in [fold(line) for line in in_colour]
    grey_only = engine.recognize(ocr_image, 300).text.splitlines()
    assert fold(name) not in [fold(line) for line in grey_only], (
        "the page no longer needs its colours to be read: make the stroke harder"
    )


def test_a_word_with_a_stray_mark_or_capital_inside_is_no_name() -> None:
    def line(*texts: str) -> list[OcrWord]:
        return [_word(t, (100 * i, 0, 100 * i + 90, 50), 0) for i, t in enumerate(texts)]

    assert has_name([line("Nguyễn", "Quang", "Long")], 80)
    assert has_name([line("NGUYỄN", "QUANG", "LONG")], 80)
    assert has_name([line("Lê", "Diệu", "Phượng.")], 80)
    assert not has_name([line("Nguyễn", "Qữ”ãng", "Long")], 0)
    assert not has_name([line("PhưếcTHị", "Phương", "Nhung")], 0)
    assert not has_name([line("nguyễn", "Quang")], 0)
    assert not has_name([line("L", "Điệu", "Phượng")], 0)  # no syllable without a vowel
    assert has_name([line("Nguyễn", "Như", "Ý")], 80)


def test_a_blank_page_has_no_smear() -> None:
    assert deblur.find_smear(np.full((3508, 2480), 238, np.uint8)) is None
    assert deblur.find_smear(np.zeros((0, 0), np.uint8)) is None
