"""Validation of field values: dates, CCCD structure and consistency, Nghị định 30 numbers, and
how validation and OCR word confidences shape a field's confidence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.fields import (
    FIELD_KEYS,
    ProblemCode,
    extract,
    extract_fields,
    load_tables,
    load_templates,
)
from edge.fields.text import digit_view, fold
from edge.fields.validate import (
    check_cccd,
    check_number,
    check_signable,
    iso_date,
    undoubled_cccd,
)
from edge.ocr import OcrWord

# A correction extract (invented people) whose subject's ID fits her date of birth and sex.
CORRECTION = """\
UBND HUYỆN NINH HẢI
UBND XÃ PHƯƠNG HẢI
Số: 07/TLCC
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Phương Hải, ngày 14 tháng 03 năm 2023
TRÍCH LỤC CẢI CHÍNH HỘ TỊCH
Đã đăng ký cải chính hộ tịch cho người có tên dưới đây:
Họ, chữ đệm, tên: ĐOÀN THỊ MỸ LỆ
Ngày, tháng, năm sinh: 02/11/2001 Giới tính: Nữ
Số định danh cá nhân: 058301112233
Nội dung cải chính: Ngày, tháng, năm sinh
Từ: 20/11/2001
Thành: 02/11/2001
TM. ỦY BAN NHÂN DÂN
CHỦ TỊCH
Cao Văn Lực
"""


def words_of(text: str, low: dict[str, float] | None = None) -> list[OcrWord]:
    """OCR words for `text` as `edge.ocr` would give them (confidence 96, or `low[word]`)."""
    low = low or {}
    words = []
    for n, line in enumerate(line for line in text.splitlines() if line.strip()):
        x = 0
        for token in line.split():
            words.append(OcrWord(token, (x, n * 50, x + 10, n * 50 + 40), low.get(token, 96.0), n))
            x += 20
    return words


@pytest.mark.parametrize(
    ("day", "month", "year", "expected"),
    [
        (29, 2, 2024, "2024-02-29"),
        (29, 2, 2023, None),
        (31, 2, 2020, None),
        (31, 4, 2020, None),
        (1, 13, 2020, None),
        (5, 1, 1879, None),
        (5, 1, 2022, "2022-01-05"),
    ],
)
def test_only_calendar_dates_pass(day: int, month: int, year: int, expected: str | None) -> None:
    assert iso_date(day, month, year) == expected


def test_province_table_is_the_63_provinces() -> None:
    provinces = load_tables().provinces
    assert len(provinces) == 63
    assert provinces["001"] == "Hà Nội"
    assert provinces["056"] == "Khánh Hòa"
    assert provinces["096"] == "Cà Mau"
    assert "003" not in provinces


def test_cccd_checks_province_century_year_and_sex() -> None:
    tables = load_tables()
    assert check_cccd("056194672085", tables, "1994-10-14", "Nữ").problems == []
    assert check_cccd("056302576345", tables, "2002-08-14", "Nữ").problems == []
    codes = [p.code for p in check_cccd("003094672085", tables).problems]
    assert codes == [ProblemCode.CCCD_PROVINCE]
    wrong_year = check_cccd("056194672085", tables, "1995-10-14")
    assert [p.code for p in wrong_year.problems] == [ProblemCode.CCCD_BIRTH_YEAR]
    assert wrong_year.factor < 0.5
    wrong_century = check_cccd("056394672085", tables, "1994-10-14")  # 3 = female, 2000s
    assert ProblemCode.CCCD_BIRTH_YEAR in [p.code for p in wrong_century.problems]
    assert [p.code for p in check_cccd("056094672085", tables, None, "Nữ").problems] == [
        ProblemCode.CCCD_SEX
    ]
    assert check_cccd("05619467208", tables).factor == 0.0


def test_number_grammar_of_decree_30_and_sector_forms() -> None:
    tables = load_tables()
    assert check_number("05/QĐ-UBND", tables).problems == []
    assert check_number("123/2024/QĐ-UBND", tables).problems == []
    assert check_number("15/GUQ-UBND", tables).problems == []
    no_zero = check_number("5/QĐ-UBND", tables)
    assert [p.code for p in no_zero.problems] == [ProblemCode.NUMBER_GRAMMAR]
    sector = check_number("18/TLKT-BS", tables, ("TLKT",))
    assert [p.code for p in sector.problems] == [ProblemCode.NUMBER_SECTOR_FORM]
    assert 0.9 <= sector.factor < 1.0
    unknown = check_number("18/ABCXYZ", tables)
    assert unknown.factor < sector.factor
    assert check_number("QĐ-UBND", tables).factor < 0.5


def test_templates_are_data_with_the_common_result_types() -> None:
    templates = {t.key: t for t in load_templates()}
    for key in (
        "quyet_dinh",
        "xac_nhan_hon_nhan",
        "trich_luc_khai_tu",
        "khai_sinh",
        "ket_hon",
        "ho_kinh_doanh",
        "cai_chinh_ho_tich",
    ):
        assert templates[key].titles, key
    assert load_templates()[-1].fallback
    assert "Thiếu tá" in load_tables().ranks


def test_digit_view_repairs_numbers_only() -> None:
    line = "Sinh ngày: O5/l2/199O, Số: S6 Olympic"
    view = digit_view(line)
    assert len(view) == len(line)
    assert "05/12/1990" in view
    assert "Olympic" in view  # a word is not a number
    assert digit_view("Số: §56/TLKT-BS") == "Số: 856/TLKT-BS"  # a degraded 8 read as §
    # A date's day and month slots hold numbers only: a serif 1 read as T or Ì, a 5 as Š.
    assert digit_view("ngày 30 tháng TÌ năm 2022") == "ngày 30 tháng 11 năm 2022"
    assert digit_view("ngày 0Š tháng Š năm 2026") == "ngày 05 tháng 5 năm 2026"
    assert digit_view("ngày Tư tháng Ba năm") == "ngày Tư tháng Ba năm"  # words stay words
    # A 6 read as G inside an ID; a G in a word, or beside one digit, stays a G.
    assert digit_view("O56O5G108576") == "056056108576"
    assert digit_view("GIANG G1 Gò") == "GIANG G1 Gò"


@given(st.text())
def test_digit_view_keeps_every_position(text: str) -> None:
    assert len(digit_view(text)) == len(text)


def test_a_consistent_page_is_trusted() -> None:
    fields = extract(CORRECTION)
    assert fields.value("cccd") == "058301112233"
    assert fields.value("gioi_tinh") == "Nữ"
    assert fields.template == "cai_chinh_ho_tich"
    assert fields.problems_of("cccd") == []
    assert fields["cccd"].confidence == 1.0
    assert fields["cccd"].source == "Số định danh cá nhân: 058301112233"
    assert fields.value("ngay_sinh") == "2001-11-02"  # not "Từ:"/"Thành:", the corrected values


def test_cccd_disagreeing_with_the_birth_date_is_kept_reported_and_doubted() -> None:
    text = CORRECTION.replace("058301112233", "058399112233")  # born 1999 says the ID
    fields = extract(text)
    assert fields.value("cccd") == "058399112233"  # not "fixed"
    assert ProblemCode.CCCD_BIRTH_YEAR in [p.code for p in fields.problems_of("cccd")]
    assert fields["cccd"].confidence < 0.5
    assert "cccd" in fields.needs_review()


def test_cccd_sex_digit_disagreeing_with_the_printed_sex_is_reported() -> None:
    fields = extract(CORRECTION.replace("058301112233", "058201112233"))
    assert ProblemCode.CCCD_SEX in [p.code for p in fields.problems_of("cccd")]


def test_invalid_dates_are_none_with_a_raw_reading() -> None:
    text = CORRECTION.replace("02/11/2001 Giới", "31/02/2001 Giới")
    text = text.replace("ngày 14 tháng 03 năm 2023", "ngày 30 tháng 02 năm 2023")
    fields = extract(text)
    assert fields.value("ngay_sinh") is None
    assert fields.value("ngay_ban_hanh") is None
    assert fields.value("ho_ten") == "Đoàn Thị Mỹ Lệ"


def test_legacy_nine_digit_id_is_kept_apart_from_the_cccd() -> None:
    text = CORRECTION.replace("Số định danh cá nhân: 058301112233", "Số CMND: 225123456")
    fields = extract(text)
    assert fields.value("cccd") is None
    assert fields.value("cmnd") == "225123456"
    assert extract_fields(text)["cccd"] is None
    assert set(extract_fields(text)) == set(FIELD_KEYS)
    assert fields.as_dict(extras=True)["cmnd"] == "225123456"


def test_repaired_digits_are_reported_with_lower_confidence() -> None:
    text = CORRECTION.replace("058301112233", "O58 3Ol 112233").replace("02/11/2001", "O2/ll/2OO1")
    fields = extract(text)
    assert fields.value("cccd") == "058301112233"
    assert fields.value("ngay_sinh") == "2001-11-02"
    assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of("cccd")]
    assert 0.5 < fields["cccd"].confidence < 1.0
    assert fields["ngay_sinh"].confidence < 1.0


def test_an_id_with_one_digit_read_twice_is_mended_and_flagged() -> None:
    # A wide "0" read as "0O": 13 digits, where one doubled pair leaves a province's ID.
    text = CORRECTION.replace("058301112233", "O583O01234567")
    fields = extract(text)
    assert fields.value("cccd") == "058301234567"
    assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of("cccd")]
    assert fields["cccd"].confidence < 0.8
    # In a clause after the name too.
    prose = """\
ỦY BAN NHÂN DÂN
XÃ CAM HẢI TÂY
Số: 12/QĐ-UBND
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Cam Hải Tây, ngày 03 tháng 05 năm 2024
QUYẾT ĐỊNH
Về việc hỗ trợ chi phí mai táng
Điều 1. Hỗ trợ chi phí mai táng đối với ông Trần Văn Bình, sinh ngày 05/06/1970,
căn cước công dân số 0560770123456, thường trú tại thôn Bãi Giếng.
TM. ỦY BAN NHÂN DÂN
CHỦ TỊCH
Cao Văn Lực
"""
    assert extract(prose).value("cccd") == "056070123456"


def test_an_id_mended_from_13_digits_must_agree_with_the_date_of_birth() -> None:
    # Specks read as digits around a real run can leave a province's ID that is nobody's: the
    # mended ID is kept only when its century and year digits are the subject's birth year.
    mended = CORRECTION.replace("058301112233", "O583O01234567")
    assert extract(mended).value("cccd") == "058301234567"
    born_else = mended.replace("02/11/2001", "02/11/1979")
    assert extract(born_else).value("cccd") is None
    unborn = mended.replace("Ngày, tháng, năm sinh: 02/11/2001 ", "")
    assert extract(unborn).value("cccd") is None


def test_an_id_of_13_digits_is_not_guessed_when_nothing_picks_one() -> None:
    tables = load_tables()
    assert undoubled_cccd("0583001234567", tables) == "058301234567"
    # Two doubled pairs leaving two different province IDs: no guess.
    assert undoubled_cccd("0566011122334", tables) is None
    # No doubled pair; or the only one leaves no province code ("999…").
    assert undoubled_cccd("0583012345678", tables) is None
    assert undoubled_cccd("9990583012345", tables) is None
    assert undoubled_cccd("058301112233", tables) is None  # 12 digits: nothing to mend
    text = CORRECTION.replace("058301112233", "9990583012345")
    assert extract(text).value("cccd") is None


def test_ocr_word_confidence_lowers_the_field_it_made() -> None:
    sure = extract(CORRECTION, words_of(CORRECTION))
    assert sure["ho_ten"].confidence == pytest.approx(0.96, abs=0.01)
    doubtful = extract(CORRECTION, words_of(CORRECTION, {"MỸ": 41.0}))
    assert doubtful.value("ho_ten") == "Đoàn Thị Mỹ Lệ"
    assert doubtful["ho_ten"].confidence == pytest.approx(0.41, abs=0.01)
    assert ProblemCode.LOW_OCR_CONFIDENCE in [p.code for p in doubtful.problems_of("ho_ten")]
    assert "ho_ten" in doubtful.needs_review()
    # Other fields keep their confidence: the doubt is the name's only.
    assert doubtful["cccd"].confidence == sure["cccd"].confidence


def test_unknown_title_uses_the_generic_template_with_lower_confidence() -> None:
    text = CORRECTION.replace("TRÍCH LỤC CẢI CHÍNH HỘ TỊCH", "GIẤY PHÉP XÂY DỰNG")
    fields = extract(text)
    assert fields.template == "generic"
    assert fields.value("loai_van_ban") == "GIẤY PHÉP XÂY DỰNG"
    assert fields["loai_van_ban"].confidence < 0.8
    assert ProblemCode.TEMPLATE_UNKNOWN in [p.code for p in fields.problems_of("loai_van_ban")]


def test_fold_is_position_preserving_for_vietnamese() -> None:
    assert fold("ĐOÀN THỊ MỸ LỆ") == "doan thi my le"


@pytest.mark.parametrize("char", ["\x07", "\x0c", "\x1b", "\ufffe", "\ud800"])
def test_a_value_the_signed_document_cannot_carry_is_named_and_never_quoted(char: str) -> None:
    verdict = check_signable({"ho_ten": f"Trần{char}Thị Bình", "cccd": "036190000123"})
    assert verdict.factor == 0.0
    [problem] = verdict.problems
    assert (problem.key, problem.code) == ("ho_ten", ProblemCode.UNSIGNABLE_CHARACTER)
    assert f"U+{ord(char):04X}" in problem.message and "retype" in problem.message
    assert "Trần" not in problem.message
    fine = {"trich_yeu": "Về việc\r\nhỗ trợ\tchi phí", "ho_ten": "Đặng Thị 𠀀", "cccd": None}
    assert check_signable(fine).problems == []
