"""Field extraction: exact on the sample text and after real OCR; conventions on other forms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.fields import FIELD_KEYS, extract_fields, fold
from edge.ocr import OcrEngine
from edge.sample_document import render_sample_result

DESIGN_KEYS = (
    "so_ky_hieu",
    "ngay_ban_hanh",
    "co_quan_ban_hanh",
    "loai_van_ban",
    "trich_yeu",
    "ho_ten",
    "cccd",
    "ngay_sinh",
    "nguoi_ky",
)

# A death-registration extract (invented people): the registrant prints a 12-digit ID of their own
# after the subject's, the parent body is on the first header line, the signer under a title.
DEATH_EXTRACT = """\
UBND HUYỆN DIÊN KHÁNH
UBND XÃ DIÊN THỌ
Số: 07/TLKT
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Diên Thọ, ngày 08 tháng 02 năm 2023
TRÍCH LỤC KHAI TỬ
Họ, chữ đệm, tên: LƯƠNG THỊ KIỀU OANH
Ngày, tháng, năm sinh: 02/09/1938
Giới tính: Nữ Dân tộc: Kinh Quốc tịch: Việt Nam
Giấy tờ tùy thân: Căn cước công dân số 056138220417
Họ, chữ đệm, tên người đi khai tử: ĐINH VĂN TÚ
Giấy tờ tùy thân: Căn cước công dân số 056071334908
Ngày, tháng, năm đăng ký: 08/02/2023
NGƯỜI KÝ TRÍCH LỤC
(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)
Châu Minh Khải
"""

DEATH_EXTRACT_FIELDS = {
    "so_ky_hieu": "07/TLKT",
    "ngay_ban_hanh": "2023-02-08",
    "co_quan_ban_hanh": "UBND XÃ DIÊN THỌ",
    "loai_van_ban": "TRÍCH LỤC KHAI TỬ",
    "trich_yeu": None,
    "ho_ten": "Lương Thị Kiều Oanh",
    "cccd": "056138220417",
    "ngay_sinh": "1938-09-02",
    "nguoi_ky": "Châu Minh Khải",
}


@pytest.fixture(scope="module")
def engine() -> Iterator[OcrEngine]:
    with OcrEngine() as loaded:
        yield loaded


def test_field_keys_are_those_of_the_design() -> None:
    assert FIELD_KEYS == DESIGN_KEYS


@pytest.mark.parametrize("seed", range(6))
def test_every_field_is_exact_on_the_sample_text_in_both_reading_orders(seed: int) -> None:
    sample = render_sample_result(seed)
    assert extract_fields(sample.text) == sample.fields
    assert extract_fields(sample.text_alt) == sample.fields


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_every_field_is_exact_after_ocr(engine: OcrEngine, seed: int) -> None:
    sample = render_sample_result(seed)
    page = engine.recognize(sample.image, dpi=300)
    assert extract_fields(page.text) == sample.fields


def test_subject_not_requester_and_parent_body_left_out() -> None:
    assert extract_fields(DEATH_EXTRACT) == DEATH_EXTRACT_FIELDS


def test_header_read_row_by_row_and_ocr_slips_in_tone_marks() -> None:
    rows = (
        "UBND HUYỆN DIÊN KHÁNH CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
        "UBND XÃ DIÊN THỌ Độc lập - Tự|do - Hạnh phúc\n"
        "Sô: 07/TLKT Diên Thọ, ngày 08 tháng 02 năm 2023\n"
    )
    body = DEATH_EXTRACT.split("\n", 6)[6].replace("NGƯỜI KÝ", "NGUOI KÝ")
    assert extract_fields(rows + body) == DEATH_EXTRACT_FIELDS


def test_form_without_number_takes_the_registration_date() -> None:
    text = """\
UBND HUYỆN CAM LÂM
PHÒNG TÀI CHÍNH - KẾ HOẠCH
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH
Mã số hộ kinh doanh: 37B0012345
Đăng ký lần đầu: ngày 21 tháng 8 năm 2023
Họ và tên: TRƯƠNG QUANG VINH Giới tính: Nam
Sinh ngày: 30/04/1975 Dân tộc: Kinh Quốc tịch: Việt Nam
Số giấy tờ pháp lý của cá nhân: 056075123456
Điện thoại: 0912345678
KT. TRƯỞNG PHÒNG
PHÓ TRƯỞNG PHÒNG
Đại tá Huỳnh Công Lực
"""
    assert extract_fields(text) == {
        "so_ky_hieu": None,
        "ngay_ban_hanh": "2023-08-21",
        "co_quan_ban_hanh": "PHÒNG TÀI CHÍNH - KẾ HOẠCH",
        "loai_van_ban": "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH",
        "trich_yeu": None,
        "ho_ten": "Trương Quang Vinh",
        "cccd": "056075123456",
        "ngay_sinh": "1975-04-30",
        "nguoi_ky": "Huỳnh Công Lực",  # without the rank
    }


def test_invalid_values_are_none_not_guesses() -> None:
    text = DEATH_EXTRACT.replace("ngày 08 tháng 02 năm 2023", "ngày 30 tháng 02 năm 2023")
    text = text.replace("02/09/1938", "31/09/1938")
    text = text.replace("056138220417", "05613822041").replace("056071334908", "000071334908")
    text = text.replace("Ngày, tháng, năm đăng ký: 08/02/2023\n", "")
    fields = extract_fields(text)
    assert fields["ngay_ban_hanh"] is None  # 30 February
    assert fields["ngay_sinh"] is None  # 31 September
    assert fields["cccd"] is None  # 11 digits, and province 000
    assert fields["ho_ten"] == "Lương Thị Kiều Oanh"


def test_a_continuation_page_has_only_the_signer() -> None:
    text = """\
2
Điều 3. Quyết định này có hiệu lực kể từ ngày ký.
Nơi nhận: KT. CHU TỊCH
- Như Điều 3; PHÓ CHỦ TỊCH
- Lưu: VT, VHXH.
Tạ Thị Mỹ Duyên
"""
    expected = dict.fromkeys(FIELD_KEYS)
    expected["nguoi_ky"] = "Tạ Thị Mỹ Duyên"
    assert extract_fields(text) == expected


def test_empty_and_unrelated_text_give_no_fields() -> None:
    assert extract_fields("") == dict.fromkeys(FIELD_KEYS)
    assert extract_fields("Hôm nay trời đẹp.\nKhông có gì.") == dict.fromkeys(FIELD_KEYS)


def test_nfd_input_gives_nfc_values() -> None:
    import unicodedata

    fields = extract_fields(unicodedata.normalize("NFD", DEATH_EXTRACT))
    assert fields == DEATH_EXTRACT_FIELDS


@given(st.text())
def test_fold_keeps_every_position(text: str) -> None:
    folded = fold(text)
    assert len(folded) == len(text)


def test_fold_removes_marks_and_case() -> None:
    assert fold("Số: 05/QĐ-UBND, CHỦ TỊCH Hạnh phúc") == "so: 05/qd-ubnd, chu tich hanh phuc"
