"""The sample result renderer: a realistic 300-dpi A4 page whose text and fields are exact."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

import numpy as np
import pytest

from edge.fields import FIELD_KEYS
from edge.sample_document import SampleDocument, render_sample_result

SEEDS = range(8)


@pytest.fixture(scope="module")
def samples() -> dict[int, SampleDocument]:
    return {seed: render_sample_result(seed) for seed in SEEDS}


def test_the_page_is_a_grey_a4_at_300_dpi(samples: dict[int, SampleDocument]) -> None:
    image = samples[0].image
    assert image.mode == "L"
    assert image.size == (2480, 3508)
    pixels = np.asarray(image)
    assert pixels.max() == 255 and pixels.min() < 60  # white paper, dark ink


@pytest.mark.parametrize("seed", SEEDS)
def test_everything_printed_stays_inside_the_margins(
    samples: dict[int, SampleDocument], seed: int
) -> None:
    dark = np.argwhere(np.asarray(samples[seed].image) < 128)
    top, left = dark.min(axis=0)
    bottom, right = dark.max(axis=0)
    # Nghị định 30/2020: top and bottom 20-25 mm, left 30-35 mm, right 15-20 mm (11.8 px/mm).
    assert top >= 200 and bottom <= 3508 - 200
    assert left >= 300 and right <= 2480 - 170


def test_the_same_seed_gives_the_same_page_and_others_differ(
    samples: dict[int, SampleDocument],
) -> None:
    again = render_sample_result(0)
    digest = hashlib.sha256(samples[0].image.tobytes()).hexdigest()
    assert hashlib.sha256(again.image.tobytes()).hexdigest() == digest
    assert again.text == samples[0].text and again.fields == samples[0].fields
    for key in ("so_ky_hieu", "ho_ten", "cccd", "ngay_sinh", "ngay_ban_hanh"):
        assert len({samples[seed].fields[key] for seed in SEEDS}) >= 5, key


@pytest.mark.parametrize("seed", SEEDS)
def test_fields_are_complete_valid_and_printed(
    samples: dict[int, SampleDocument], seed: int
) -> None:
    sample = samples[seed]
    fields = sample.fields
    assert tuple(fields) == FIELD_KEYS
    assert all(isinstance(value, str) and value for value in fields.values())
    text = " ".join(sample.text.split())
    issued = date.fromisoformat(str(fields["ngay_ban_hanh"]))
    born = date.fromisoformat(str(fields["ngay_sinh"]))
    assert f"ngày {issued.day:02d} tháng " in text and f"năm {issued.year}" in text
    assert f"Sinh ngày: {born:%d/%m/%Y}." in text
    assert f"Số: {fields['so_ky_hieu']}" in text
    assert re.fullmatch(r"\d{2,3}/QĐ-UBND", str(fields["so_ky_hieu"]))
    for key in ("co_quan_ban_hanh", "loai_van_ban", "trich_yeu", "ho_ten", "nguoi_ky", "cccd"):
        assert str(fields[key]).split()[-1] in text, key
    assert fields["ho_ten"] != fields["nguoi_ky"]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_cccd_follows_the_structure_of_the_citizen_id(
    samples: dict[int, SampleDocument], seed: int
) -> None:
    cccd = str(samples[seed].fields["cccd"])
    born = date.fromisoformat(str(samples[seed].fields["ngay_sinh"]))
    assert re.fullmatch(r"\d{12}", cccd)
    assert cccd[:3] == "056"  # Khánh Hòa
    century_and_sex = int(cccd[3])
    assert century_and_sex // 2 == (1 if born.year >= 2000 else 0)
    assert cccd[4:6] == f"{born.year % 100:02d}"


def test_text_is_nfc_in_logical_order_and_text_alt_reads_rows(
    samples: dict[int, SampleDocument],
) -> None:
    sample = samples[0]
    lines = sample.text.splitlines()
    assert unicodedata.is_normalized("NFC", sample.text)
    assert unicodedata.is_normalized("NFC", sample.text_alt)
    # Header: the left column (issuer, number) first, then the right column.
    assert lines[0] == "ỦY BAN NHÂN DÂN"
    assert lines[2].startswith("Số: ")
    assert lines[3] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert lines[4] == "Độc lập - Tự do - Hạnh phúc"
    assert lines[6] == "QUYẾT ĐỊNH"
    assert lines[-1] == sample.fields["nguoi_ky"]
    assert lines.index("Nơi nhận:") < lines.index(
        "CHỦ TỊCH" if "CHỦ TỊCH" in lines else "PHÓ CHỦ TỊCH"
    )
    rows = sample.text_alt.splitlines()
    assert rows[0] == "ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert sorted(sample.text.split()) == sorted(sample.text_alt.split())
