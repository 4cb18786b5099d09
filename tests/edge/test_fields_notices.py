"""Field readers on a police notice of a residence registration, a caregiver's allowance decision
and on what OCR does to the lines every result shares (issue 17): "công dân" as a form of address,
even broken over two lines; a name label whose words name the subject ("Họ và tên đối tượng:")
over a catalogue label it contains; a trích yếu that stops at the body; a place–date line with
its comma or "ngày" misread; the motto broken over two lines; a signer's title whose first word
the signature hid, and a speck read as a dash before the signer's name. Invented people."""

from __future__ import annotations

import pytest

from edge.fields import ProblemCode, extract, extract_fields

NOTICE = """\
CÔNG AN HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
CÔNG AN XÃ SUỐI TÂN Độc lập - Tự do - Hạnh phúc
Số: 312/TB-CAX Suối Tân, ngày 09 tháng 7 năm 2024
THÔNG BÁO
Về kết quả giải quyết đăng ký tạm trú
Công an xã Suối Tân thông báo đã giải quyết hồ sơ đăng ký tạm trú cho
công dân PI NĂNG THỊ HẠNH
Ngày, tháng, năm sinh: 11/02/1990; Số định danh cá nhân: 056190012345
Địa chỉ: Thôn Suối Lau, xã Suối Tân, huyện Cam Lâm, tỉnh Khánh Hòa.
Thông tin của công dân đã được cập nhật vào Cơ sở dữ liệu về cư trú ngày
09/07/2024.
Nơi nhận:
- Công dân;
- Lưu: HSCT.
TRƯỞNG CÔNG AN
Thiếu tá Lò Văn Khải
"""


def test_a_police_notice_names_its_subject_after_cong_dan_and_its_trich_yeu_stops_at_the_body() -> (
    None
):
    fields = extract_fields(NOTICE)
    assert fields["trich_yeu"] == "Về kết quả giải quyết đăng ký tạm trú"
    assert fields["ho_ten"] == "Pi Năng Thị Hạnh"
    assert fields["cccd"] == "056190012345"
    assert fields["ngay_sinh"] == "1990-02-11"
    assert fields["nguoi_ky"] == "Lò Văn Khải"


def test_cong_dan_broken_over_two_lines_still_introduces_the_subject() -> None:
    broken = NOTICE.replace("tạm trú cho\ncông dân PI", "tạm trú cho công\ndân PI")
    assert broken != NOTICE
    fields = extract_fields(broken)
    assert fields["ho_ten"] == "Pi Năng Thị Hạnh"
    assert fields["cccd"] == "056190012345"


def test_citizen_words_that_name_nobody_are_no_mention() -> None:
    """ "Căn cước công dân số …", "của công dân đã …" and the recipient "Công dân;" name no one."""
    people = extract(NOTICE).people
    assert len(people) == 1, people


def test_a_trich_yeu_wrapped_after_a_bare_ve_viec_line_keeps_its_rest() -> None:
    """A line no longer than the one above is a wrap; "Về việc" alone on its line proves nothing."""
    wrapped = NOTICE.replace(
        "Về kết quả giải quyết đăng ký tạm trú\n",
        "Về việc\ncông nhận kết quả đăng ký tạm trú của hộ gia đình ở thôn Suối Lau\n",
    )
    assert extract_fields(wrapped)["trich_yeu"] == (
        "Về việc công nhận kết quả đăng ký tạm trú của hộ gia đình ở thôn Suối Lau"
    )
    two_lines = NOTICE.replace(
        "Về kết quả giải quyết đăng ký tạm trú\n",
        "Về việc hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng đối với\nngười cao tuổi\n",
    )
    assert extract_fields(two_lines)["trich_yeu"] == (
        "Về việc hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng đối với người cao tuổi"
    )


CAREGIVER = """\
ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
HUYỆN KHÁNH SƠN Độc lập - Tự do - Hạnh phúc
Số: 815/QĐ-UBND Khánh Sơn, ngày 04 tháng 6 năm 2023
QUYẾT ĐỊNH
Về việc hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng
CHỦ TỊCH ỦY BAN NHÂN DÂN HUYỆN KHÁNH SƠN
Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ;
QUYẾT ĐỊNH:
Điều 1. Hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng cho bà Mang Thị
Lanh, số định danh cá nhân 056175000111, là người nhận chăm sóc, nuôi
dưỡng đối tượng sau:
- Họ và tên đối tượng: Bo Bo Thị Nhiên
- Ngày, tháng, năm sinh: 03/05/1950
- Số định danh cá nhân: 056150000222
Điều 2. Quyết định này có hiệu lực kể từ ngày ký.
Nơi nhận:
- Như Điều 2;
- Lưu: VT.
CHỦ TỊCH
Cao Xuân Trường
"""


def test_a_name_label_naming_the_subject_beats_the_catalogue_label_inside_it() -> None:
    """ "Họ và tên đối tượng:" is the subject's name label, not the label "Đối tượng" with
    words before it; the caregiver named in prose before is not the subject."""
    fields = extract_fields(CAREGIVER)
    assert fields["ho_ten"] == "Bo Bo Thị Nhiên"
    assert fields["cccd"] == "056150000222"
    assert fields["ngay_sinh"] == "1950-05-03"


def test_a_catalogue_label_that_holds_the_start_of_a_name_label_keeps_it() -> None:
    """ "Đối tượng: …" on its own stays a label of its own (its value is no name)."""
    text = CAREGIVER.replace(
        "- Họ và tên đối tượng: Bo Bo Thị Nhiên", "- Đối tượng: người cao tuổi"
    )
    fields = extract_fields(text)
    assert fields["ho_ten"] == "Mang Thị Lanh"  # the only person left, named after "cho bà"


@pytest.mark.parametrize(
    "place_date",
    [
        "Khánh Sơn; ngày 04 tháng 6 năm 2023",  # the comma read as a semicolon
        "Khánh Sơn, ngày'04 tháng 6 năm 2023",  # a speck before the day
        "Khánh Sơn, ngày-04 tháng 6 năm 2023",
        "Khánh Sơn, nsàu 04 tháng 6 năm 2023",  # "ngày" misread
    ],
)
def test_a_place_date_line_with_its_punctuation_or_its_ngay_misread(place_date: str) -> None:
    text = CAREGIVER.replace("Khánh Sơn, ngày 04 tháng 6 năm 2023", place_date)
    assert text != CAREGIVER
    assert extract_fields(text)["ngay_ban_hanh"] == "2023-06-04"


def test_a_body_date_after_a_semicolon_is_no_place_date() -> None:
    """The looser place–date line is still looked for only in the header and at the foot."""
    text = CAREGIVER.replace("Khánh Sơn, ngày 04 tháng 6 năm 2023", "Khánh Sơn")
    assert extract_fields(text)["ngay_ban_hanh"] is None


MOTTO_IN_TWO = """\
UBND XÃ CAM HẢI TÂY CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
PHÒNG KINH TẾ
Độc lập -
Tự do - Hạnh phúc
Cam Hải Tây, ngày 17 tháng 02 năm 2025
GIẤY CHỨNG NHẬN
ĐĂNG KÝ HỘ KINH DOANH
Số: 77/2025/HKD
Chủ hộ kinh doanh: Ông Nguyễn Hữu Lợi
Ngày sinh: 02/09/1979; Căn cước công dân số: 056079004455
TRƯỞNG PHÒNG
Phạm Thị Ngọc
"""


def test_the_motto_broken_over_two_lines_still_ends_the_header_and_the_date_follows() -> None:
    fields = extract_fields(MOTTO_IN_TWO)
    assert fields["ngay_ban_hanh"] == "2025-02-17"
    assert fields["loai_van_ban"] == "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH"
    assert fields["ho_ten"] == "Nguyễn Hữu Lợi"


def test_a_title_whose_first_word_the_signature_hid_still_heads_the_signer() -> None:
    """ "\\G PHÒNG": a speck, then the title's last word whole; the name under it is the
    signer's even with a family name the tables do not know."""
    text = MOTTO_IN_TWO.replace("TRƯỞNG PHÒNG\nPhạm Thị Ngọc", "\\G PHÒNG\nThành Thị Ngọc")
    assert extract_fields(text)["nguoi_ky"] == "Thành Thị Ngọc"


def test_a_speck_read_as_a_dash_before_the_signer_s_name() -> None:
    text = CAREGIVER.replace("CHỦ TỊCH\nCao Xuân Trường", "CHỦ TỊCH\n- Cao Xuân Trường")
    assert extract_fields(text)["nguoi_ky"] == "Cao Xuân Trường"


def test_a_recipient_under_the_title_is_no_signer() -> None:
    """Read row by row, a recipient may follow the title; with its ";" it is none."""
    text = CAREGIVER.replace(
        "CHỦ TỊCH\nCao Xuân Trường", "CHỦ TỊCH\n- Ông Cao Xuân Trường;\n- Lưu: HS."
    )
    assert extract_fields(text)["nguoi_ky"] is None


HOUSEHOLD = """\
UBND HUYỆN DIÊN KHÁNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ DIÊN THỌ Độc lập - Tự do - Hạnh phúc
Số: 41/GCN-UBND Diên Thọ,,ngày 20 tháng 3 năm 2024
GIẤY CHỨNG NHẬN HỘ NGHÈO
Ủy ban nhân dân xã Diên Thọ chứng nhận:
Hộ ông/bà (chủ hộ): Đinh Văn Khôi
Ngày sinh: 14/08/1961 Số định danh cá nhân: 056061000777
Danh sách thành viên trong hộ:
1. Trần Anh Đức Huy, sinh năm 1990, quan hệ với chủ hộ: con
2. Lê Bà Thu, sinh năm 1965, quan hệ với chủ hộ: vợ
Nơi nhận:
- Hộ gia đình;
- Lưu: VT.
TM. ỦY BAN NHÂN DÂN
CHỦ TỊCH
Phan Văn Lực
"""


def test_a_form_of_address_inside_a_name_is_no_mention_of_its_own() -> None:
    """ "Trần Anh Đức Huy": "Anh" after a capitalised word is a middle name, not "anh" (elder
    brother) before a name; the household's head stays the subject."""
    result = extract(HOUSEHOLD)
    assert not any("Đức Huy:" in p or "Thu:" in p for p in result.people), result.people
    assert result.value("ho_ten") == "Đinh Văn Khôi"
    assert result.value("cccd") == "056061000777"


def test_a_place_date_with_its_comma_read_twice() -> None:
    assert extract_fields(HOUSEHOLD)["ngay_ban_hanh"] == "2024-03-20"


def test_an_issue_year_still_to_come_takes_the_year_one_digit_away_the_page_prints() -> None:
    """ "năm 2083" for "năm 2023": the body's "kể từ tháng 6/2023" says which; with no such year,
    or two, the date is kept and said to be wrong. A year whose 9s were italic 2s ("2093",
    "2099") is mended without the page's word, less surely."""
    misread = CAREGIVER.replace("tháng 6 năm 2023", "tháng 6 năm 2083").replace(
        "Điều 2. Quyết định",
        "Mức hỗ trợ: 540.000 đồng/tháng, kể từ tháng 6/2023.\nĐiều 2. Quyết định",
    )
    result = extract(misread)
    assert result.value("ngay_ban_hanh") == "2023-06-04"
    assert "2083" in result["ngay_ban_hanh"].rule
    assert ProblemCode.OCR_REPAIRED in {p.code for p in result.problems if p.key == "ngay_ban_hanh"}

    alone = extract(CAREGIVER.replace("tháng 6 năm 2023", "tháng 6 năm 2083"))
    assert alone.value("ngay_ban_hanh") == "2083-06-04"
    assert ProblemCode.INVALID_DATE in {p.code for p in alone.problems if p.key == "ngay_ban_hanh"}

    two = extract(misread.replace("kể từ tháng 6/2023.", "kể từ tháng 6/2023, thay mức năm 2013."))
    assert two.value("ngay_ban_hanh") == "2083-06-04"

    for read, meant in (("2093", "2023"), ("2099", "2022"), ("2029", "2022"), ("2091", "2021")):
        nines = extract(CAREGIVER.replace("tháng 6 năm 2023", f"tháng 6 năm {read}"))
        assert nines.value("ngay_ban_hanh") == f"{meant}-06-04", read
        assert "italic 2s" in nines["ngay_ban_hanh"].rule
        codes = {p.code for p in nines.problems if p.key == "ngay_ban_hanh"}
        assert ProblemCode.OCR_REPAIRED in codes and ProblemCode.INVALID_DATE not in codes
    # A year whose 2s read as 9s is still to come ("2098" for "2028"): kept, said to be wrong.
    later = extract(CAREGIVER.replace("tháng 6 năm 2023", "tháng 6 năm 2098"))
    assert later.value("ngay_ban_hanh") == "2098-06-04"


@pytest.mark.parametrize(
    ("printed", "read"),
    [("H Biia Niê", "H Bia Niê"), ("Bon Điĩng Ngông", "Bon Đing Ngông"), ("Ka Sỉin", "Ka Sin")],
)
def test_an_i_read_twice_in_a_name_is_read_once(printed: str, read: str) -> None:
    """No people's spelling doubles an "i"; OCR reads a speck beside one as a second, marked."""
    text = CAREGIVER.replace("Bo Bo Thị Nhiên", printed).replace("Cao Xuân Trường", "Võ Thị Hiền")
    fields = extract_fields(text)
    assert fields["ho_ten"] == read
    assert fields["nguoi_ky"] == "Võ Thị Hiền"
    assert extract_fields(text.replace("Võ Thị Hiền", "Võ Thị Hiiền"))["nguoi_ky"] == "Võ Thị Hiền"


def test_a_name_label_whose_commas_ocr_read_as_semicolons_or_stops() -> None:
    """ "Họ, chữ đệm; tên:", "Ngày. tháng. năm sinh:": the label is still the subject's."""
    text = MOTTO_IN_TWO.replace(
        "Chủ hộ kinh doanh: Ông Nguyễn Hữu Lợi\nNgày sinh: 02/09/1979;",
        "Họ, chữ đệm; tên: NGUYỄN HỮU LỢI\nNgày. tháng. năm sinh: 02/09/1979;",
    )
    assert text != MOTTO_IN_TWO
    fields = extract_fields(text)
    assert fields["ho_ten"] == "Nguyễn Hữu Lợi"
    assert fields["ngay_sinh"] == "1979-09-02"
    assert fields["cccd"] == "056079004455"
