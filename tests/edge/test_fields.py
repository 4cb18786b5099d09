"""Field extraction: exact on the sample text and after real OCR; conventions on other forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.fields import FIELD_KEYS, ProblemCode, extract, extract_fields, fold
from edge.fields.labels import catalogue, segments
from edge.fields.names import fix_given_names, fix_surname
from edge.fields.tables import LabelKind, load_tables
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


def test_the_catalogue_has_labels_of_every_kind_and_segments_say_which() -> None:
    assert set(load_tables().labels) == set(LabelKind)
    lines = [fold(line) for line in DEATH_EXTRACT.splitlines()]
    kinds = [segment.kind for segment in segments(lines, catalogue())]
    assert all(isinstance(kind, LabelKind) for kind in kinds)
    assert {LabelKind.NAME, LabelKind.BIRTH_DATE, LabelKind.SEX, LabelKind.ID} <= set(kinds)


# --- other templates, invented people: the subject among other people's names and IDs ---------

BIRTH_CERTIFICATE = """\
ỦY BAN NHÂN DÂN
XÃ PHƯỚC DINH
Số: 112/TLKS
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY KHAI SINH
Họ, chữ đệm, tên: TRỊNH GIA BẢO
Ngày, tháng, năm sinh: 03/06/2023 ghi bằng chữ: Ngày ba, tháng sáu, năm hai nghìn hai mươi ba
Giới tính: Nam Dân tộc: Chăm Quốc tịch: Việt Nam
Nơi sinh: Trạm Y tế xã Phước Dinh, huyện Thuận Nam, tỉnh Ninh Thuận
Số định danh cá nhân: 058223004567
Họ, chữ đệm, tên người mẹ: LÂM THỊ NGỌC HÂN
Năm sinh: 1996 Dân tộc: Chăm Quốc tịch: Việt Nam
Số định danh cá nhân: 058196778812
Họ, chữ đệm, tên người cha: TRỊNH VĂN KHÔI
Năm sinh: 1993 Dân tộc: Chăm Quốc tịch: Việt Nam
Số định danh cá nhân: 058093441290
Họ, chữ đệm, tên người đi khai sinh: TRỊNH VĂN KHÔI
Giấy tờ tùy thân: Căn cước công dân số 058093441290
Nơi đăng ký khai sinh: Ủy ban nhân dân xã Phước Dinh, huyện Thuận Nam, tỉnh Ninh Thuận
Ngày, tháng, năm đăng ký: 12/06/2023
CÔNG CHỨC TƯ PHÁP - HỘ TỊCH
Mai Thị Thu Sương
"""

BIRTH_FIELDS = {
    "so_ky_hieu": "112/TLKS",
    "ngay_ban_hanh": "2023-06-12",
    "co_quan_ban_hanh": "ỦY BAN NHÂN DÂN XÃ PHƯỚC DINH",
    "loai_van_ban": "GIẤY KHAI SINH",
    "trich_yeu": None,
    "ho_ten": "Trịnh Gia Bảo",
    "cccd": "058223004567",
    "ngay_sinh": "2023-06-03",
    "nguoi_ky": "Mai Thị Thu Sương",
}

MARRIAGE_CERTIFICATE = """\
UBND HUYỆN KHÁNH SƠN
UBND XÃ SƠN TRUNG
Số: 21/TLKH
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN KẾT HÔN
Họ, chữ đệm, tên chồng: CAO XUÂN THIỆN
Ngày, tháng, năm sinh: 17/09/1990
Dân tộc: Raglai Quốc tịch: Việt Nam
Giấy tờ tùy thân: Căn cước công dân số 056090318877
Họ, chữ đệm, tên vợ: PI NĂNG THỊ HOA
Ngày, tháng, năm sinh: 08/12/1994
Dân tộc: Raglai Quốc tịch: Việt Nam
Giấy tờ tùy thân: Căn cước công dân số 056194552310
Ngày, tháng, năm đăng ký: 26/04/2021
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
Bo Bo Thị Hiền
"""

MARRIAGE_FIELDS = {
    "so_ky_hieu": "21/TLKH",
    "ngay_ban_hanh": "2021-04-26",
    "co_quan_ban_hanh": "UBND XÃ SƠN TRUNG",
    "loai_van_ban": "GIẤY CHỨNG NHẬN KẾT HÔN",
    "trich_yeu": None,
    "ho_ten": "Cao Xuân Thiện",
    "cccd": "056090318877",
    "ngay_sinh": "1990-09-17",
    "nguoi_ky": "Bo Bo Thị Hiền",
}

# A decision of a police unit: the requester's ID before Điều 1, a rank before the signer, the
# number with its year, and the header read row by row.
POLICE_DECISION = """\
CÔNG AN TỈNH KHÁNH HÒA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
CÔNG AN XÃ CAM HẢI ĐÔNG Độc lập - Tự do - Hạnh phúc
Số: 09/2024/QĐ-CAX Cam Hải Đông, ngày 02 tháng 02 năm 2024
QUYẾT ĐỊNH
Về việc trả lại giấy tờ tạm giữ
TRƯỞNG CÔNG AN XÃ CAM HẢI ĐÔNG
Xét đơn đề nghị của ông Lưu Hữu Tín, Căn cước công dân số 056077123400;
QUYẾT ĐỊNH:
Điều 1. Trả lại giấy tờ tạm giữ cho người có tên sau:
Họ và tên: Kiều Thị Ánh Nguyệt Giới tính: Nữ
Sinh ngày: 21/01/2000
Số định danh cá nhân: 056300987650
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
Nơi nhận: TRƯỞNG CÔNG AN
- Như Điều 2;
- Lưu: HS.
Thiếu tá Lưu Hữu Tín
"""

POLICE_FIELDS = {
    "so_ky_hieu": "09/2024/QĐ-CAX",
    "ngay_ban_hanh": "2024-02-02",
    "co_quan_ban_hanh": "CÔNG AN XÃ CAM HẢI ĐÔNG",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc trả lại giấy tờ tạm giữ",
    "ho_ten": "Kiều Thị Ánh Nguyệt",
    "cccd": "056300987650",
    "ngay_sinh": "2000-01-21",
    "nguoi_ky": "Lưu Hữu Tín",
}

# A marital-status confirmation requested by the mother, who prints her own ID first.
MARITAL_STATUS = """\
UBND THÀNH PHỐ CAM RANH
UBND PHƯỜNG CAM NGHĨA
Số: 77/UBND-XNTTHN
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Cam Nghĩa, ngày 09 tháng 9 năm 2024
GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN
Xét đề nghị của bà: Tôn Nữ Diệu Hạnh, Căn cước công dân số 056171002233,
về việc xác nhận tình trạng hôn nhân cho con gái: Tôn Nữ Bích Trâm.
XÁC NHẬN:
Họ, chữ đệm, tên: TÔN NỮ BÍCH TRÂM
Ngày, tháng, năm sinh: 30/08/1998
Giới tính: Nữ Dân tộc: Kinh Quốc tịch: Việt Nam
Giấy tờ tùy thân: Căn cước công dân số 056198445566, cấp ngày 10/10/2021
Tình trạng hôn nhân: Hiện tại chưa đăng ký kết hôn với ai.
CHỦ TỊCH
Đặng Hữu Phước
"""

MARITAL_FIELDS = {
    "so_ky_hieu": "77/UBND-XNTTHN",
    "ngay_ban_hanh": "2024-09-09",
    "co_quan_ban_hanh": "UBND PHƯỜNG CAM NGHĨA",
    "loai_van_ban": "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
    "trich_yeu": None,
    "ho_ten": "Tôn Nữ Bích Trâm",
    "cccd": "056198445566",
    "ngay_sinh": "1998-08-30",
    "nguoi_ky": "Đặng Hữu Phước",
}

OTHER_TEMPLATES = [
    (BIRTH_CERTIFICATE, BIRTH_FIELDS, "khai_sinh"),
    (MARRIAGE_CERTIFICATE, MARRIAGE_FIELDS, "ket_hon"),
    (POLICE_DECISION, POLICE_FIELDS, "quyet_dinh"),
    (MARITAL_STATUS, MARITAL_FIELDS, "xac_nhan_hon_nhan"),
    (DEATH_EXTRACT, DEATH_EXTRACT_FIELDS, "trich_luc_khai_tu"),
]


def _slipped(text: str) -> str:
    """The OCR slips seen on real captures: lost or wrong tone marks in labels and capitals,
    O/0 and l/1 in numbers, a stray space inside an ID, "Số:" read as "S6:"."""
    slips = [
        ("Số:", "S6:"),
        ("Họ, chữ đệm, tên:", "Ho, chu dem, ten:"),
        ("Họ và tên:", "Ho va tên:"),
        ("Ngày, tháng, năm sinh:", "Ngay, thang, nam sinh:"),
        ("Sinh ngày:", "Sinh ngay:"),
        ("Số định danh cá nhân:", "So dinh danh ca nhan:"),
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "CỘNG HOÀ XÃ HỘI CHU NGHIA VIET NAM"),
        ("ngày", "ngay"),
        ("tháng", "thang"),
        ("năm", "nãm"),
    ]
    for before, after in slips:
        text = text.replace(before, after)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        for digits in [w for w in line.replace(",", " ").replace(";", " ").split() if w.isdigit()]:
            if len(digits) == 12:
                lines[i] = line.replace(
                    digits, f"{digits[:3]} {digits[3:6].replace('0', 'O')}{digits[6:]}"
                )
        lines[i] = lines[i].replace("/19", "/l9").replace("/20", "/2O")
    return "\n".join(lines)


@pytest.mark.parametrize(("text", "expected", "template"), OTHER_TEMPLATES)
def test_other_templates_find_the_subject_among_other_people(
    text: str, expected: dict[str, str | None], template: str
) -> None:
    fields = extract(text)
    assert fields.as_dict() == expected
    assert fields.template == template


@pytest.mark.parametrize(("text", "expected", "template"), OTHER_TEMPLATES)
def test_other_templates_survive_ocr_slips(
    text: str, expected: dict[str, str | None], template: str
) -> None:
    slipped = _slipped(text)
    assert slipped != text
    fields = extract(slipped)
    got = fields.as_dict()
    for key in ("ho_ten", "cccd", "ngay_sinh", "ngay_ban_hanh", "loai_van_ban", "nguoi_ky"):
        assert got[key] == expected[key], key
    # The number's symbol keeps its letters; its digits are repaired.
    if expected["so_ky_hieu"] is not None:
        assert got["so_ky_hieu"] == expected["so_ky_hieu"]
    assert fields.template == template


def test_rank_is_reported_and_signer_is_not_the_requester_id() -> None:
    fields = extract(POLICE_DECISION)
    assert ProblemCode.RANK_REMOVED in [p.code for p in fields.problems_of("nguoi_ky")]
    assert fields.value("cccd") != "056077123400"  # the requester's, printed before Điều 1


def test_garbled_title_takes_the_template_spelling_and_issuer_the_page_spelling() -> None:
    text = MARITAL_STATUS.replace(
        "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN", "GIÂY XÁC NHẶN TINH TRẠNG HÔN NHẢN"
    ).replace("UBND PHƯỜNG CAM NGHĨA", "UBND PHƯỜNG CAM NGHIA")
    fields = extract(text)
    assert fields.value("loai_van_ban") == "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"
    assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of("loai_van_ban")]
    assert fields["loai_van_ban"].confidence < 1.0
    assert fields.value("co_quan_ban_hanh") == "UBND PHƯỜNG CAM NGHĨA"  # "Cam Nghĩa, ngày …"


def test_family_name_with_a_lost_tone_mark_is_respelled_and_reported() -> None:
    text = DEATH_EXTRACT.replace("LƯƠNG THỊ KIỀU OANH", "LUONG THỊ KIỀU OANH")
    fields = extract(text)
    assert fields.value("ho_ten") == "Lương Thị Kiều Oanh"
    assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of("ho_ten")]


def test_middle_and_given_names_that_are_no_names_are_respelled_and_reported() -> None:
    text = DEATH_EXTRACT.replace("LƯƠNG THỊ KIỀU OANH", "LƯƠNG THI KIEU OANH").replace(
        "Châu Minh Khải", "Châu Mính Khái"
    )
    fields = extract(text)
    assert fields.value("ho_ten") == "Lương Thị Kiều Oanh"
    assert fields.value("nguoi_ky") == "Châu Minh Khải"
    for key in ("ho_ten", "nguoi_ky"):
        assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of(key)]
        assert fields[key].confidence < 1.0


def test_real_names_are_never_respelled_and_one_letter_slips_only_when_unambiguous() -> None:
    tables = load_tables()
    assert fix_given_names("Phan Văn Hường", tables) == "Phan Văn Hường"  # a name, if rarer
    assert fix_given_names("Nguyễn Quốt Tháng", tables) == "Nguyễn Quốc Thắng"
    assert fix_given_names("Lê Xyz", tables) == "Lê Xyz"  # nothing close: left as read
    assert fix_given_names("NGUYỄN VAN AN", tables) == "NGUYỄN VĂN AN"
    assert fix_surname("Nguyễm Văn An", tables) == "Nguyễn Văn An"
    # Two family names fold alike: a word that is neither is the more common one; each of them
    # read as it is stays.
    assert fix_surname("Đăng Phương Bích Hiền", tables) == "Đặng Phương Bích Hiền"
    assert fix_surname("Đàng Phương Bích Hiền", tables) == "Đàng Phương Bích Hiền"
    assert fix_surname("Trình Văn Lực", tables) == "Trình Văn Lực"
    assert fix_surname("Trinh Văn Lực", tables) == "Trịnh Văn Lực"
    # Among the given names a family name may stand ("Trần Lê Minh"), but not one that folds
    # like another family name: there it is a given name with a mark misread.
    assert fix_given_names("Đặng Thùy Trình", tables) == "Đặng Thùy Trinh"
    assert fix_given_names("Trần Lê Minh", tables) == "Trần Lê Minh"


def test_the_signer_is_found_under_a_garbled_title_and_never_in_capitals() -> None:
    garbled = DEATH_EXTRACT.replace("NGƯỜI KÝ TRÍCH LỤC", "_ NGƯỜI KÝ TRÍCH my,").replace(
        "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)", "đẹm,"
    )
    fields = extract(garbled)
    assert fields.value("nguoi_ky") == "Châu Minh Khải"
    assert fields["nguoi_ky"].confidence < 1.0  # no title said it was the signer
    pieces = DEATH_EXTRACT.replace("Châu Minh Khải", "ƠNG PHÒNG\nChâu Minh Khải")
    assert extract(pieces).value("nguoi_ky") == "Châu Minh Khải"
    unsigned = DEATH_EXTRACT.replace("Châu Minh Khải", "Xem tiếp trang sau")
    assert extract(unsigned).value("nguoi_ky") is None


def test_a_one_letter_slip_in_a_known_symbol_is_repaired() -> None:
    fields = extract(DEATH_EXTRACT.replace("07/TLKT", "07/TLKI"))
    assert fields.value("so_ky_hieu") == "07/TLKT"
    assert ProblemCode.OCR_REPAIRED in [p.code for p in fields.problems_of("so_ky_hieu")]


def test_every_field_has_a_confidence_and_a_source_line() -> None:
    fields = extract(BIRTH_CERTIFICATE)
    for key, expected in BIRTH_FIELDS.items():
        if expected is None:
            assert fields[key].confidence == 0.0
            continue
        assert 0.5 <= fields[key].confidence <= 1.0, key
        assert fields[key].source in BIRTH_CERTIFICATE, key
    assert fields["cccd"].source == "Số định danh cá nhân: 058223004567"


def test_a_registration_code_is_the_number_whole() -> None:
    # A household business's certificate: "Số:" and a code, no number/symbol.
    text = (
        "UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
        "PHÒNG TÀI CHÍNH - KẾ HOẠCH Độc lập - Tự do - Hạnh phúc\n"
        "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH\n"
        "Số: 37H8001234\n"
        "Đăng ký lần đầu: ngày 02 tháng 8 năm 2022\n"
        "1. Tên hộ kinh doanh: TẠP HÓA MINH TÂM\n"
    )
    found = extract(text)["so_ky_hieu"]
    assert found is not None and found.value == "37H8001234"
    assert "registration code" in found.rule
    # A bare number stays a number.
    assert extract(text.replace("37H8001234", "57"))["so_ky_hieu"].value == "57"


def test_a_symbol_of_its_own_is_not_taken_for_a_known_one_a_letter_away() -> None:
    # "CAH" (a district's police) is one letter from "CAX" (a commune's): H and X do not look
    # alike in print, so it is a symbol of its own, kept as printed.
    text = POLICE_DECISION.replace("09/2024/QĐ-CAX", "09/2024/QĐ-CAH")
    assert extract(text)["so_ky_hieu"].value == "09/2024/QĐ-CAH"
    # "CAK": K is X's look-alike, a slip: repaired.
    text = POLICE_DECISION.replace("09/2024/QĐ-CAX", "09/2024/QĐ-CAK")
    assert extract(text)["so_ky_hieu"].value == "09/2024/QĐ-CAX"


# A decision's header read row by row (a commune photo and a black-and-white scan of it): the
# issuer's place name broke at its hyphen, with the rule under the column read as letters; the
# place-date line's year fell to the next row, after the left column's number; two words of the
# issuer ran together; a speck before a word of the subject's name read as a quote.
WRAPPED_HEADER = """UỶ BAN NHÂNDÂN CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM
THÀNH PHỐ PHAN RANG - Độc lập - Tự do - Hạnh phúc
THÁP CHÀM SP AS TA . -
— Phan Rang - Tháp Chàm, ngày 16 tháng 3 năm .
Số: 226/QĐ-UBND 2021
QUYẾT ĐỊNH
Về việc trợ cấp xã hội hằng tháng đối với người cao tuổi
CHỦ TỊCH UỶ BAN NHÂN DÂN THÀNH PHỐ PHAN RANG - THÁP CHÀM
Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;
QUYẾT ĐỊNH:
Điều 1. Thực hiện chế độ trợ cấp xã hội hằng tháng đối với ông Kiều “Tiến Tâm,
sinh ngày 4 tháng 12 năm 1952, số định danh cá nhân 056052638948, địa chỉ
thường trú: Thôn Hoà Bình, phường Kinh Dinh, thành phố Phan Rang - Tháp Chàm.
"""


def test_a_header_read_row_by_row_with_its_pieces_wrapped() -> None:
    fields = extract(WRAPPED_HEADER)
    assert fields.value("co_quan_ban_hanh") == "UỶ BAN NHÂN DÂN THÀNH PHỐ PHAN RANG - THÁP CHÀM"
    assert fields.value("loai_van_ban") == "QUYẾT ĐỊNH"  # not the issuer's wrapped end
    assert fields.value("ngay_ban_hanh") == "2021-03-16"
    assert fields["ngay_ban_hanh"].raw == "ngày 16 tháng 3 năm . 2021"  # not the number
    assert fields.value("so_ky_hieu") == "226/QĐ-UBND"
    assert fields.value("ho_ten") == "Kiều Tiến Tâm"
    assert fields.value("cccd") == "056052638948"
    # A year inside the number is no wrapped year.
    inside = WRAPPED_HEADER.replace("Số: 226/QĐ-UBND 2021", "Số: 226/2021")
    assert extract(inside).value("ngay_ban_hanh") is None
    # A hyphen speck after a place name, then the title: no name is wrapped there.
    title_next = """UBND TỈNH KHÁNH HÒA -_ CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND PHƯỜNG PHAN RANG - Độc lập - Tự do - Hạnh phúc
LỜI CHỨNG CHỨNG THỰC CHỮ KÝ
Hôm nay, ngày 12 tháng 11 năm 2025 (Bằng chữ: Ngày mười hai, tháng mười một)
Phan Rang, ngày 02 tháng. 12-'năm 2025
"""
    fields = extract(title_next)
    assert fields.value("co_quan_ban_hanh") == "UBND PHƯỜNG PHAN RANG"
    assert fields.value("loai_van_ban") == "LỜI CHỨNG CHỨNG THỰC CHỮ KÝ"
    assert fields.value("ngay_ban_hanh") == "2025-12-02"  # specks between the date's words
    # Without the place-date line to close the header, the name's wrapped end is still header.
    undated = WRAPPED_HEADER.replace("— Phan Rang - Tháp Chàm, ngày 16 tháng 3 năm .\n", "")
    assert extract(undated).value("loai_van_ban") == "QUYẾT ĐỊNH"


# A permit's header as a degraded scan reads it: the issuer's words run together with specks
# after them, a speck read as a colon after the title, and the police signer's rank garbled.
RUN_TOGETHER = """.ỦYBANNHÂNDÂN -. CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
THÀNH PHỐ NHA TRANG Độc lập - Tự do - Hạnh phúc
_ Nha Trang, ngày 27 tháng 5 năm 2024 `
GIẤY PHÉP XÂY DỰNG:
Số: 262/GPXD
Sử dụng cho nhà ở riêng lẻ
Cấp cho: Ông Trần Văn Bình
Nơi nhận:
- Công dân;
TRƯỞNG CÔNG AN
(Ký, ghi rõ họ tên, đóng dấu)
Tống tá Lý Hồng Quyên
"""


def test_issuer_words_run_together_a_title_with_a_speck_and_a_garbled_rank() -> None:
    fields = extract(RUN_TOGETHER)
    assert fields.value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN THÀNH PHỐ NHA TRANG"
    assert fields.value("loai_van_ban") == "GIẤY PHÉP XÂY DỰNG"
    assert fields.value("so_ky_hieu") == "262/GPXD"
    assert fields.value("nguoi_ky") == "Lý Hồng Quyên"
    assert fields.value("ho_ten") == "Trần Văn Bình"
    # Two words run together and a speck in the first line of a district's committee: the line
    # is still the issuer's own, not a parent body to leave out.
    district = RUN_TOGETHER.replace(".ỦYBANNHÂNDÂN -.", "ỦY BẠNNHÂNDÂN ›:").replace(
        "THÀNH PHỐ NHA TRANG Độc", "HUYỆN NINH PHƯỚC Độc"
    )
    assert extract(district).value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN HUYỆN NINH PHƯỚC"
    # A capitalised second word is a name's, not a rank's grade.
    assert extract(RUN_TOGETHER.replace("Tống tá", "Lê Uy")).value("nguoi_ky") == (
        "Lê Uy Lý Hồng Quyên"
    )


def test_a_form_of_address_that_starts_a_place_name_names_no_one() -> None:
    """ "xã Ba Cụm Bắc" folds like "xã bà Cụm Bắc", and "đường Bà Triệu" is a street: neither
    is a person, and the labelled subject below stays the subject."""
    text = """UBND HUYỆN KHÁNH SƠN CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ BA CỤM BẮC Độc lập - Tự do - Hạnh phúc
Số: 841/GCN-UBND Ba Cụm Bắc, ngày 18 tháng 6 năm 2020
GIẤY CHỨNG NHẬN HỘ NGHÈO
Uỷ ban nhân dân xã Ba Cụm Bắc chứng nhận:
Hộ ông/bà (chủ hộ): Văn Thị Hải Thuý
Ngày sinh: 12/09/1963 Số định danh cá nhân: 038163400201
Địa chỉ: Số 116 đường Bà Triệu, xã Ba Cụm Bắc, huyện Khánh Sơn
"""
    fields = extract(text)
    assert fields.value("ho_ten") == "Văn Thị Hải Thuý"
    assert fields.value("cccd") == "038163400201"
    assert fields.value("ngay_sinh") == "1963-09-12"


# OCR slips seen on generated scans and photos, each generic: an eth read for Đ and the letter
# read twice in a symbol, a period for the place-date line's comma, two words of a name run
# together, "GIẤY" with its hat misread, "Về việc" with its mark misread, a trailing speck.
SLIPS = """UBND HUYỆN KHÁNH VĨNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ KHÁNH BÌNH Độc lập - Tự do - Hạnh phúc
Số: 300/QĐÐ-UBND_ Khánh Bình. ngày 12 tháng 3 năm 2024
GIẦY PHÉP XÂY DỰNG
Vệ việc cấp phép xây dựng nhà ở riêng lẻ
Căn cứ Luật Xây dựng ngày 18 tháng 6 năm 2014;
Cấp cho: Bà Lương KimHiền, sinh ngày 22/12/1980, số định danh cá nhân 056180760123
"""


def test_ocr_slips_of_every_page_are_mended() -> None:
    fields = extract(SLIPS)
    assert fields.value("so_ky_hieu") == "300/QĐ-UBND"
    assert fields.value("ngay_ban_hanh") == "2024-03-12"
    assert fields.value("loai_van_ban") == "GIẤY PHÉP XÂY DỰNG"
    assert fields.value("trich_yeu") == "Về việc cấp phép xây dựng nhà ở riêng lẻ"
    assert fields.value("ho_ten") == "Lương Kim Hiền"
    assert fields.value("cccd") == "056180760123"
    # A real word that folds like "giấy" elsewhere in a title stays as printed.
    other = extract(SLIPS.replace("GIẦY PHÉP XÂY DỰNG", "GIẤY PHÉP GIẦY DA"))
    assert other.value("loai_van_ban") == "GIẤY PHÉP GIẦY DA"
    # Specks at an unknown title's ends and before the issuer; a hyphen read between two
    # words of a name.
    specks = (
        SLIPS.replace("GIẦY PHÉP XÂY DỰNG", "__ 'GIẦY PHÉP XÂY DỰNG #")
        .replace("UBND XÃ KHÁNH BÌNH", "“UBND XÃ KHÁNH BÌNH")
        .replace("KimHiền", "Kim-Hiền")
    )
    fields = extract(specks)
    assert fields.value("loai_van_ban") == "GIẤY PHÉP XÂY DỰNG"
    assert fields.value("co_quan_ban_hanh") == "UBND XÃ KHÁNH BÌNH"
    assert fields.value("ho_ten") == "Lương Kim Hiền"
    # Its vowel misread under a bare type name ("Và việc"), where no prefix is needed to find it.
    decision = SLIPS.replace("GIẦY PHÉP XÂY DỰNG", "QUYẾT ĐỊNH").replace("Vệ việc", "Và việc")
    assert extract(decision).value("trich_yeu") == "Về việc cấp phép xây dựng nhà ở riêng lẻ"
    # A speck alone at the end of a line that breaks the ID's label ("số định ' / danh").
    broken = SLIPS.replace(
        "số định danh cá nhân 056180760123", "CCCD/số định '\ndanh: 056180760123"
    )
    assert extract(broken).value("cccd") == "056180760123"


def test_a_form_of_address_inside_a_birthplace_names_no_one() -> None:
    """ "Trạm Y tế Ba Cụm Bắc" folds like "… bà Cụm Bắc": read as a person there, it cut the
    child's block in two and the child's ID went to "Cụm Bắc"."""
    text = """UỶ BAN NHÂN DÂN CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM
XÃ BA CỤM BẮC Độc lập - Tự do - Hạnh phúc
GIẤY KHAI SINH
Số: 201 Quyển số: 03/2019
Họ, chữ đệm, tên: TÀI TRỌNG THOẠI
Ngày, tháng, năm sinh: 18/11/2019
Giới tính: Nam Dân tộc: Chăm Quốc tịch: Việt Nam
Nơi sinh: Trạm Y tế Ba Cụm Bắc, xã Ba Cụm Bắc, huyện Khánh Sơn
Số định danh cá nhân: 056219307839
Họ, chữ đệm, tên người mẹ: THẬP NGỌC DUNG
"""
    fields = extract(text)
    assert fields.value("ho_ten") == "Tài Trọng Thoại"
    assert fields.value("cccd") == "056219307839"


def test_a_header_word_split_by_a_gap_and_a_stray_breve_on_a_form_of_address() -> None:
    """ "ỦY B AN NHÂN DÂN": a gap read inside "BAN" (the issuer's first line then looked like a
    parent body's and was dropped); ".Bằ Lê Thị Hoa. sinh ngày …": "Bà" with a speck read as
    a breve, which is no other word ("bá", "chỉ" are)."""
    text = """ỦY B AN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
PHƯỜNG VĨNH HẢI Độc lập - Tự do - Hạnh phúc
Vĩnh Hải, ngày 03 tháng 4 năm 2025
LỜI CHỨNG CHỨNG THỰC CHỮ KÝ
Tại Ủy ban nhân dân phường Vĩnh Hải
Chứng thực:
.Bằ Lê Thị Hoa. sinh ngày 11/02/1980,
Giấy tờ tùy thân: Căn cước công dân số 056180123456
đã ký vào giấy tờ này trước mặt tôi.
"""
    fields = extract(text)
    assert fields.value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN PHƯỜNG VĨNH HẢI"
    assert fields.value("ho_ten") == "Lê Thị Hoa"
    assert fields.value("ngay_sinh") == "1980-02-11"
    # Two words of the vocabulary side by side stay two ("NHÂN DÂN").
    assert extract(text.replace("B AN", "BAN")).value("co_quan_ban_hanh") == (
        "ỦY BAN NHÂN DÂN PHƯỜNG VĨNH HẢI"
    )
    # "sinh ngày" before a date in words that starts with "ngày" too, its stop a speck.
    doubled = text.replace("sinh ngày 11/02/1980", "sinh ngày ngày. 11 tháng 02 năm 1980")
    assert extract(doubled).value("ngay_sinh") == "1980-02-11"
    # A word that folds like a form of address with another tone is that word: no person.
    assert extract(text.replace(".Bằ Lê", "Bá Lê")).value("ho_ten") != "Lê Thị Hoa"


def test_an_issuer_row_beside_a_misread_motto_and_a_wrapped_word_with_a_speck() -> None:
    """The motto's middle misread ("Độc lâu - Eự đủ - Hạnh phúc") still ends the issuer's row;
    the issuer's last word wrapped onto a row of its own with a speck ("HOẠCH .") is kept."""
    text = """UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ CAM HẢI TÂY Độc lâu - Eự đủ - Hạnh phúc
Số: 12/TLKT-BS Cam Hải Tây, ngày 03 tháng 9 năm 2024
TRÍCH LỤC KHAI TỬ
"""
    assert extract(text).value("co_quan_ban_hanh") == "UBND XÃ CAM HẢI TÂY"
    wrapped = """UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
PHÒNG TÀI CHÍNH - KẾ Độc lập - Tự do - Hạnh phúc
HOẠCH .
GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH
Mã số hộ kinh doanh: 37C8001234
"""
    assert extract(wrapped).value("co_quan_ban_hanh") == "PHÒNG TÀI CHÍNH - KẾ HOẠCH"


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        (  # wrapped onto a line that folds like the label "Họ" ("hỗ trợ", "hộ nghèo")
            "V/v phê duyệt danh sách đối tượng được hưởng chính sách\nhỗ trợ theo Nghị định 20",
            "V/v phê duyệt danh sách đối tượng được hưởng chính sách hỗ trợ theo Nghị định 20",
        ),
        ("Về việc công nhận\nhộ nghèo năm 2024", "Về việc công nhận hộ nghèo năm 2024"),
        # Under a bare type name, without "Về việc": "Hỗ trợ" is no "Họ".
        ("Hỗ trợ chi phí mai táng", "Hỗ trợ chi phí mai táng"),
        # What does open the body still ends it.
        ("Về việc trợ cấp xã hội\nHọ và tên: Lê Văn An", "Về việc trợ cấp xã hội"),
        ("Về việc trợ cấp\nXét đề nghị của Trưởng thôn", "Về việc trợ cấp"),
    ],
)
def test_a_trich_yeu_line_that_folds_like_a_body_label_is_no_body(
    printed: str, expected: str
) -> None:
    text = f"""UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ CAM HẢI TÂY Độc lập - Tự do - Hạnh phúc
Số: 12/QĐ-UBND Cam Hải Tây, ngày 03 tháng 9 năm 2024
QUYẾT ĐỊNH
{printed}
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ CAM HẢI TÂY
Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;
"""
    assert extract(text).value("trich_yeu") == expected


BAC_AI = """UY BAN NHÂN DÂN CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM
HUYỆN BÁC ÁI Độc lập - Tự do - Hạnh phúc
Số: 816/QĐ-UBND Bác Ái, ngày 29 tháng 12 năm 2019
QUYẾT ĐỊNH
Về việc hỗ trợ chi phí mai táng
CHỦ TỊCH UỶ BAN NHÂN DÂN HUYỆN BÁC ÁI
Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;
QUYẾT ĐỊNH:
Điều 1. Hỗ trợ chi phí mai táng đối với bà Liêng Thị Giàu.
Nơi nhận:
- Lưu: VT.
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
Đỗ Minh Cường
"""


def test_an_issuer_word_that_lost_its_tone_takes_the_pages_own_spelling() -> None:
    # "UY" read for the header's word: the page prints it "UỶ" (old-style) in the authority
    # line, so the issuer is spelt so; with no other spelling on the page, the table's "ỦY".
    assert extract(BAC_AI).value("co_quan_ban_hanh") == "UỶ BAN NHÂN DÂN HUYỆN BÁC ÁI"
    modern = BAC_AI.replace("CHỦ TỊCH UỶ BAN", "CHỦ TỊCH ỦY BAN")
    assert extract(modern).value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN HUYỆN BÁC ÁI"
    alone = BAC_AI.replace("CHỦ TỊCH UỶ BAN NHÂN DÂN HUYỆN BÁC ÁI\n", "")
    assert extract(alone).value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN HUYỆN BÁC ÁI"


def test_an_issuer_word_with_a_letter_read_twice_is_still_the_issuers_first_line() -> None:
    # "ỦYÝ BAN NHÂN DÂN": not a parent body to leave out, but the issuer's own first line.
    doubled = BAC_AI.replace("UY BAN NHÂN DÂN CỘNG", "ỦYÝ BAN NHÂN DÂN CỘNG")
    assert extract(doubled).value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN HUYỆN BÁC ÁI"


CHEVALIER = """UBND HUYỆN KHÁNH SƠN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ SƠN BÌNH Độc lập - Tự do - Hạnh phúc
Số: 19/QĐ-UBND Sơn Bình, ngày 02 tháng 3 năm 2024
QUYẾT ĐỊNH
Về việc giải quyết trợ cấp một lần đối với người có công với cách:
_ mạng
Căn cứ Pháp lệnh Ưu đãi người có công với cách mạng;
QUYẾT ĐỊNH:
Điều 1. Giải quyết trợ cấp một lần đối với bà Cao Thị Lan, sinh ngày 03/04/1950.
Nơi nhận:
- Như Điều 1;
- Lưu: VT.
TM. ỦY BAN NHÂN DÂN
CHỦ TỊCH
Nguyễn Văn Bình
"""


def test_a_speck_at_the_trich_yeus_wrap_is_left_out() -> None:
    assert extract(CHEVALIER).value("trich_yeu") == (
        "Về việc giải quyết trợ cấp một lần đối với người có công với cách mạng"
    )


def test_a_trich_yeu_read_out_of_order_is_found_and_stops_at_the_recipients() -> None:
    # A photographed page whose "Về việc" line OCR gave after the body, before "Nơi nhận".
    lines = CHEVALIER.splitlines()  # without its two "Về việc" lines under the title
    moved = lines[:4] + lines[6:9] + ["Về việc giải quyết trợ cấp một lần"] + lines[9:]
    found = extract("\n".join(moved) + "\n")
    assert found.value("trich_yeu") == "Về việc giải quyết trợ cấp một lần"
    assert found["trich_yeu"].confidence < 0.9


def test_an_l_read_as_a_capital_i_in_a_name_is_mended() -> None:
    text = CHEVALIER.replace("bà Cao Thị Lan", "bà H Bia MIô")
    assert extract(text).value("ho_ten") == "H Bia Mlô"
    assert extract(CHEVALIER.replace("bà Cao Thị Lan", "bà H BIA MINH")).value("ho_ten") == (
        "H Bia Minh"  # in capitals: no "l" to mend
    )
