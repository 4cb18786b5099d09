"""Field readers on result types no template describes (issue 17): the subject in prose and under
labels naming whose value it is, roles told apart by the words around them, IDs bound to their
person, titles and numbers found by layout, signers with ranks and side by side with "Nơi nhận",
names of every people, and pages with no Nghị định 30 layout. Invented people; the wordings are
those of the public forms."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from edge.fields import FIELD_KEYS, extract, extract_fields
from edge.fields.names import fix_given_names, fix_surname, person_name
from edge.fields.tables import load_tables, load_templates
from edge.fields.text import nfc_lines
from edge.pipeline.stages import merge_fields

HEADER = """\
UBND HUYỆN KHÁNH VĨNH
UBND XÃ KHÁNH THÀNH
Số: {number}
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Khánh Thành, ngày 12 tháng 3 năm 2025
"""

# A permit (no template lists it): the subject in prose after "Cho phép bà", her ID and birth
# date in the clause after her name, written in words.
PERMIT = (
    HEADER.format(number="31/GP-UBND")
    + """\
GIẤY PHÉP
TỔ CHỨC LỄ HỘI TRUYỀN THỐNG
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ KHÁNH THÀNH
Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;
Xét đơn đề nghị của ông Cao Văn Sáu, số định danh cá nhân 056070111222;
Cho phép bà Katơr Thị Hđơk, sinh ngày 28 tháng 4 năm 1985, số định danh cá nhân
056185004321, địa chỉ: thôn Suối Cá, xã Khánh Thành, tổ chức lễ hội tại thôn Suối Cá.
Nơi nhận: CHỦ TỊCH
- Như trên;
- Lưu: VT. Trung tá Ma Văn Rô
"""
)
PERMIT_FIELDS = {
    "so_ky_hieu": "31/GP-UBND",
    "ngay_ban_hanh": "2025-03-12",
    "co_quan_ban_hanh": "UBND XÃ KHÁNH THÀNH",
    "loai_van_ban": "GIẤY PHÉP TỔ CHỨC LỄ HỘI TRUYỀN THỐNG",
    "trich_yeu": None,
    "ho_ten": "Katơr Thị Hđơk",
    "cccd": "056185004321",
    "ngay_sinh": "1985-04-28",
    "nguoi_ky": "Ma Văn Rô",
}

# A certificate: the number under the title with no symbol and a register number beside it;
# "Cấp cho: Ông …"; the signer under the bracketed instruction, with a rank.
CERTIFICATE = """\
CÔNG AN HUYỆN KHÁNH SƠN
CÔNG AN XÃ SƠN BÌNH
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Sơn Bình, ngày 05 tháng 01 năm 2025
GIẤY CHỨNG NHẬN
Số: 57 Quyển số: 02
Cấp cho: Ông Trần Văn Bình.
Sinh ngày: 02/09/1979
Giấy tờ tùy thân: Căn cước công dân số 056079223344
Đã hoàn thành nghĩa vụ tham gia Dân quân tự vệ.
TRƯỞNG CÔNG AN XÃ
(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)
Thiếu tá Pi Năng Thị Hoà
"""
CERTIFICATE_FIELDS = {
    "so_ky_hieu": "57",
    "ngay_ban_hanh": "2025-01-05",
    "co_quan_ban_hanh": "CÔNG AN XÃ SƠN BÌNH",
    "loai_van_ban": "GIẤY CHỨNG NHẬN",
    "trich_yeu": None,
    "ho_ten": "Trần Văn Bình",
    "cccd": "056079223344",
    "ngay_sinh": "1979-09-02",
    "nguoi_ky": "Pi Năng Thị Hoà",  # the rank left out, the old-style tone kept as printed
}

# A funeral-support decision: the organiser (a requester, in brackets) is named before the
# deceased beneficiary, each with an ID.
FUNERAL = (
    HEADER.format(number="88/QĐ-UBND")
    + """\
QUYẾT ĐỊNH
Về việc hỗ trợ chi phí mai táng
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ KHÁNH THÀNH
Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ;
QUYẾT ĐỊNH:
Điều 1. Hỗ trợ chi phí mai táng cho bà Mấu Thị Lan (người tổ chức mai táng), số định danh
cá nhân 056190777888, đối với ông Cao Văn Rớt, sinh ngày 02/03/1940, số định danh cá nhân
056040123456, cư trú tại thôn Ba Cẩn, đã chết ngày 01/02/2025.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
Bo Bo Văn Hùng
"""
)
FUNERAL_FIELDS = {
    "so_ky_hieu": "88/QĐ-UBND",
    "ngay_ban_hanh": "2025-03-12",
    "co_quan_ban_hanh": "UBND XÃ KHÁNH THÀNH",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc hỗ trợ chi phí mai táng",
    "ho_ten": "Cao Văn Rớt",
    "cccd": "056040123456",
    "ngay_sinh": "1940-03-02",
    "nguoi_ky": "Bo Bo Văn Hùng",
}

# A death extract laid out as the requester's declaration: the requester's block comes first,
# then "Họ và tên người đã chết:" (a label no catalogue lists), in capitals.
DEATH_DECLARED = (
    HEADER.format(number="09/TLKT")
    + """\
TRÍCH LỤC KHAI TỬ
Họ, chữ đệm, tên người yêu cầu: Nguyễn Thị Thu
Số định danh cá nhân: 056175000111
Ngày, tháng, năm sinh: 01/01/1975
Quan hệ với người đã chết: Con
Họ và tên người đã chết: K'BRƠI HA
Ngày, tháng, năm sinh: ngày 28 tháng 4 năm 1935 (ghi bằng chữ: Ngày hai mươi tám tháng tư năm
một nghìn chín trăm ba mươi lăm)
Số định danh cá nhân: 056035999888
NGƯỜI KÝ TRÍCH LỤC
Lê Thị Hồng
"""
)
DEATH_DECLARED_FIELDS = {
    "so_ky_hieu": "09/TLKT",
    "ngay_ban_hanh": "2025-03-12",
    "co_quan_ban_hanh": "UBND XÃ KHÁNH THÀNH",
    "loai_van_ban": "TRÍCH LỤC KHAI TỬ",
    "trich_yeu": None,
    "ho_ten": "K'Brơi Ha",
    "cccd": "056035999888",
    "ngay_sinh": "1935-04-28",
    "nguoi_ky": "Lê Thị Hồng",
}

# A residence confirmation: the household's head prints a name and ID after the subject's;
# "Ông/bà:" as the subject's label; the heading of the requester's block names them.
RESIDENCE = """\
CÔNG AN TỈNH KHÁNH HÒA
CÔNG AN XÃ NINH SIM
Số: 120/XN-CAX
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Ninh Sim, ngày 20 tháng 02 năm 2025
XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ
Thông tin người yêu cầu:
Họ, chữ đệm và tên: Phạm Văn Tư
Số định danh cá nhân: 056080555666
Công an xã Ninh Sim xác nhận thông tin về cư trú của:
Ông/bà: H'HEN NIÊ
Ngày, tháng, năm sinh: 15/07/1992 Giới tính: Nữ
Số định danh cá nhân: 056192333444
Họ và tên chủ hộ: Y BIH NIÊ KDĂM
Số định danh cá nhân của chủ hộ: 056088121212
Quan hệ với chủ hộ: Vợ
TRƯỞNG CÔNG AN XÃ
Đại úy Đàng Năng Thọ
"""
RESIDENCE_FIELDS = {
    "so_ky_hieu": "120/XN-CAX",
    "ngay_ban_hanh": "2025-02-20",
    "co_quan_ban_hanh": "CÔNG AN XÃ NINH SIM",
    "loai_van_ban": "XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ",
    "trich_yeu": None,
    "ho_ten": "H'Hen Niê",
    "cccd": "056192333444",
    "ngay_sinh": "1992-07-15",
    "nguoi_ky": "Đàng Năng Thọ",
}

UNSEEN = [
    pytest.param(PERMIT, PERMIT_FIELDS, id="permit-prose"),
    pytest.param(CERTIFICATE, CERTIFICATE_FIELDS, id="certificate-number-under-title"),
    pytest.param(FUNERAL, FUNERAL_FIELDS, id="funeral-two-people-in-prose"),
    pytest.param(DEATH_DECLARED, DEATH_DECLARED_FIELDS, id="death-requester-first"),
    pytest.param(RESIDENCE, RESIDENCE_FIELDS, id="residence-household-head"),
]


@pytest.mark.parametrize(("text", "expected"), UNSEEN)
def test_results_no_template_describes_give_every_field(
    text: str, expected: dict[str, str | None]
) -> None:
    assert extract_fields(text) == expected


def test_no_template_locates_a_subject() -> None:
    # A type names its titles, symbols and fields; never a label or an anchor for the subject.
    for template in load_templates():
        assert not hasattr(template, "name_labels")
        assert not hasattr(template, "subject_after")


def test_the_subject_is_never_the_requester_a_parent_or_the_household_head() -> None:
    assert extract(PERMIT).value("cccd") != "056070111222"  # the requester's, in the preamble
    assert extract(FUNERAL).value("cccd") != "056190777888"  # the organiser's, in brackets
    declared = extract(DEATH_DECLARED)
    assert declared.value("cccd") != "056175000111"  # the requester's, printed first
    assert declared.value("ngay_sinh") != "1975-01-01"
    assert extract(RESIDENCE).value("cccd") != "056088121212"  # the household head's


def test_each_id_belongs_to_the_person_named_nearest_before_it() -> None:
    # The subject printed without an ID, the requester's after: the requester's is not taken.
    text = DEATH_DECLARED.replace("Số định danh cá nhân: 056035999888\n", "")
    fields = extract_fields(text)
    assert fields["ho_ten"] == "K'Brơi Ha"
    assert fields["cccd"] is None
    assert fields["ngay_sinh"] == "1935-04-28"


def test_a_parent_printed_before_the_child_is_not_the_subject() -> None:
    text = (
        HEADER.format(number="15/TLKS")
        + """\
TRÍCH LỤC KHAI SINH
Họ, chữ đệm, tên người mẹ: Lò Thị Mai
Số định danh cá nhân: 056195111000
Họ, chữ đệm, tên người cha: Bùi Văn Nam
Số định danh cá nhân: 056093222000
Họ, chữ đệm, tên người được khai sinh: BÙI GIA HUY
Ngày, tháng, năm sinh: 03/06/2024 Giới tính: Nam
Số định danh cá nhân: 056224333000
Họ, chữ đệm, tên người đi đăng ký: Bùi Văn Nam
NGƯỜI KÝ TRÍCH LỤC
Võ Thị Hạnh
"""
    )
    fields = extract_fields(text)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Bùi Gia Huy",
        "056224333000",
        "2024-06-03",
    )


def test_prose_forms_of_address_and_the_clause_after_the_name() -> None:
    text = (
        HEADER.format(number="12/QĐ-UBND")
        + """\
QUYẾT ĐỊNH
Về việc trợ cấp xã hội hàng tháng
QUYẾT ĐỊNH:
Điều 1. Trợ cấp xã hội hàng tháng đối với cháu Ya Gia Bảo, sinh ngày 09/10/2015, Căn cước
công dân số 056215666777, cư trú tại thôn Đá Trắng.
CHỦ TỊCH
Nguyễn Văn Tám
"""
    )
    fields = extract_fields(text)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Ya Gia Bảo",
        "056215666777",
        "2015-10-09",
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="blank"),
        pytest.param(
            "mua 2 kg gạo, 1 chai nước mắm\nNguyễn Văn An 0905 123 456\n"
            "Họ và tên: Trần Thị Bé\n056199000111\nhẹn thứ Hai",
            id="handwritten-note",
        ),
        pytest.param(
            "LAPTOP\nNguyễn Văn An\nCafe 25.000\nSinh ngày: 01/01/1990\n|||| ~~ ...",
            id="desk-photo",
        ),
    ],
)
def test_a_page_without_the_layout_gives_empty_fields_with_a_reason(text: str) -> None:
    fields = extract(text)
    assert fields.as_dict() == dict.fromkeys(FIELD_KEYS)
    for key in FIELD_KEYS:
        assert "layout" in fields[key].rule, key


def test_names_of_other_peoples_are_names_and_never_respelled() -> None:
    tables = load_tables()
    for name in ("Katơr Thị Hđơk", "Pi Năng Thị Hoa", "K'Brơi Ha", "Y Bih Niê Kdăm", "Ma Văn Rô"):
        assert person_name(name, tables) == name
        assert fix_given_names(fix_surname(name, tables), tables) == name
    # Old-style tone placement is the same name: kept as printed, never "repaired".
    assert fix_given_names("Nguyễn Thị Hoà", tables) == "Nguyễn Thị Hoà"
    assert fix_given_names("Lê Thanh Thuỷ", tables) == "Lê Thanh Thuỷ"


def test_the_signer_of_a_two_page_result_is_the_last_page_s() -> None:
    first: dict[str, str | None] = dict.fromkeys(FIELD_KEYS, "x")
    first["nguoi_ky"] = "Lê Văn Một"  # a name that ended page 1's body
    last: dict[str, str | None] = dict.fromkeys(FIELD_KEYS)
    last["nguoi_ky"] = "Trần Thị Hai"
    merged = merge_fields([first, last])
    assert merged["nguoi_ky"] == "Trần Thị Hai"
    assert merged["so_ky_hieu"] == "x"  # the rest from the first page that has it


def test_explain_says_which_rule_and_words_gave_each_field_and_why_one_is_empty() -> None:
    fields = extract(FUNERAL)
    text = fields.explain()
    assert "ho_ten: 'Cao Văn Rớt'" in text
    assert "đối với" in fields["ho_ten"].rule  # the prose words that made him the subject
    assert "người tổ chức mai táng" in text  # the organiser's role, and why
    assert "read from: cá nhân 056190777888, đối với ông Cao Văn Rớt" in text
    assert "rank" not in fields["nguoi_ky"].rule
    assert "signer's title" in fields["nguoi_ky"].rule
    assert fields["cmnd"].rule  # why it is empty
    assert "rank 'Thiếu tá' left out" in extract(CERTIFICATE)["nguoi_ky"].rule
    assert "under the title" in extract(CERTIFICATE)["so_ky_hieu"].rule


def test_a_rank_with_a_speck_in_its_last_word_is_still_left_out() -> None:
    # "tá" under the signature's stroke, read as "†á": still the rank, not part of the name.
    specked = CERTIFICATE.replace("Thiếu tá", "Thiếu †á")
    assert specked != CERTIFICATE
    assert extract(specked)["nguoi_ky"].value == extract(CERTIFICATE)["nguoi_ky"].value
    assert "left out" in extract(specked)["nguoi_ky"].rule
    # A given name that starts like a rank ("Trung") is not taken for one.
    assert "Trung Kiên" not in CERTIFICATE
    named = CERTIFICATE.replace("Thiếu tá Pi Năng Thị Hoà", "Trung Kiên Pi Năng")
    assert "rank" not in extract(named)["nguoi_ky"].rule


def test_an_address_label_is_not_a_form_of_address() -> None:
    # "Địa chỉ:" folds to "dia chi", as "chị" does: the hamlet after it is no person, and the
    # ID below belongs to the one the permit is granted to.
    text = (
        "UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
        "UBND XÃ CAM THÀNH BẮC Độc lập - Tự do - Hạnh phúc\n"
        "Số: 21/GPXD Cam Thành Bắc, ngày 08 tháng 6 năm 2023\n"
        "GIẤY PHÉP XÂY DỰNG\n"
        "1. Cấp cho: Ông Huỳnh Tấn Phát\n"
        "Địa chỉ: Thôn Tân Thành, xã Cam Thành Bắc, huyện Cam Lâm\n"
        "Số định danh cá nhân: 056080012345\n"
        "2. Được phép xây dựng công trình: Nhà ở riêng lẻ\n"
        "CHỦ TỊCH\n"
        "Lê Minh Châu\n"
    )
    fields = extract(text)
    assert fields["ho_ten"].value == "Huỳnh Tấn Phát"
    assert fields["cccd"].value == "056080012345"
    # The form of address itself, with or without its marks, still names a person.
    for chi in ("chị", "chi"):
        prose = text.replace("1. Cấp cho: Ông Huỳnh Tấn Phát", f"1. Cấp cho {chi} Huỳnh Thị Phương")
        assert extract(prose)["ho_ten"].value == "Huỳnh Thị Phương"


@dataclass(frozen=True)
class _Word:
    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int


def _boxed(rows: list[tuple[str, str]]) -> tuple[str, list[_Word]]:
    """A page of rows, each a left-column and a right-column text, as OCR reads them: one line
    per row, the right column's words from x=1300 of a 2480-pixel page."""
    words, lines = [], []
    for n, (left, right) in enumerate(rows):
        x = 200
        for column, start in ((left, 200), (right, 1300)):
            x = max(x, start)
            for token in column.split():
                words.append(_Word(token, (x, 100 * n, x + 20 * len(token), 100 * n + 40), 95, n))
                x += 20 * len(token) + 15
        lines.append(" ".join(f"{left} {right}".split()))
    return "\n".join(lines) + "\n", words


def test_the_signer_beside_a_recipients_list_is_read_from_the_right_column() -> None:
    rows = [
        ("Điều 3. Quyết định này có hiệu lực kể từ ngày ký.", ""),
        ("Nơi nhận:", "KT. CHỦ TỊCH"),
        ("- Như Điều 3", "PHÓ CHỦ TỊCH"),
        ("- UBND xã Vạn Bình", "Đại tá Nguyễn Văn Hùng"),
        ("- Lưu VT", ""),
    ]
    text, words = _boxed(rows)
    fields = extract(text, words)
    assert fields.value("nguoi_ky") == "Nguyễn Văn Hùng"
    assert "right column" in fields["nguoi_ky"].rule
    # Without the boxes, the recipient's words are never taken for the signer's name.
    assert extract_fields(text)["nguoi_ky"] is None


def test_an_unlisted_title_stops_before_the_authority_line_and_a_register_number_is_no_number() -> (
    None
):
    text = (
        HEADER.replace("Số: {number}\n", "")
        + """\
GIẤY PHÉP XÂY DỰNG
Quyển số: 02 Số: 57/GPXD
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ KHÁNH THÀNH
Cấp cho: Bà Nguyễn Thị Thuỷ.
CHỦ TỊCH
Nguyễn Văn Tám
"""
    )
    fields = extract_fields(text)
    assert fields["loai_van_ban"] == "GIẤY PHÉP XÂY DỰNG"
    assert fields["so_ky_hieu"] == "57/GPXD"
    assert fields["ho_ten"] == "Nguyễn Thị Thuỷ"  # as printed


def test_a_prose_name_wrapped_over_lines_and_its_clause_across_line_breaks() -> None:
    body = """\
QUYẾT ĐỊNH
Về việc trợ cấp xã hội hằng tháng
QUYẾT ĐỊNH:
Điều 1. Thực hiện chế độ trợ cấp xã hội hằng tháng đối với ông
Đỗ Công Tiến Phong, sinh ngày ngày 22 tháng 1 năm 1932, số
định danh cá nhân 054032859308, địa chỉ thường trú: Thôn Liên Sang.
Điều 2. Trợ cấp đối với bà Phạm Khắc
Hữu Định, ngày sinh 06/01/1949, số định danh cá nhân 056049974573.
CHỦ TỊCH
Hà Tiến Trí
"""
    fields = extract_fields(HEADER.format(number="1089/QĐ-UBND") + body)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Đỗ Công Tiến Phong",
        "054032859308",
        "1932-01-22",
    )
    second = body.replace("Điều 1. Thực hiện chế độ trợ cấp xã hội hằng tháng đối với ông\n", "")
    second = second.replace("Đỗ Công Tiến Phong, sinh ngày ngày 22 tháng 1 năm 1932, số\n", "")
    second = second.replace(
        "định danh cá nhân 054032859308, địa chỉ thường trú: Thôn Liên Sang.\n", ""
    )
    fields = extract_fields(HEADER.format(number="1089/QĐ-UBND") + second)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Phạm Khắc Hữu Định",
        "056049974573",
        "1949-01-06",
    )


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("“Dương Thu Mỹ Hiền", "Dương Thu Mỹ Hiền"),  # a speck before the name
        ("á Từ Diệu Giang", "Từ Diệu Giang"),  # the last letter of a rank read apart
        ("Âu Minh Hải", "Âu Minh Hải"),  # a short family name is no speck
        ("Ông Hồng Nhàn", "Ông Hồng Nhàn"),  # on the signer's line "Ông" is the family name
        # The seal's dots read as words before the name: one with two tone marks is none.
        ("DạậTũy Kiều Trọng Nhân -", "Kiều Trọng Nhân"),
        ("Tũy Kiều Trọng Nhân", "Tũy Kiều Trọng Nhân"),  # a word that could be a syllable stays
    ],
)
def test_ocr_specks_before_the_signer_and_after_the_issuer_are_left_out(
    line: str, name: str
) -> None:
    text = HEADER.format(number="05/QĐ-UBND").replace(
        "UBND XÃ KHÁNH THÀNH", "UBND XÃ KHÁNH THÀNH -__"
    )
    fields = extract_fields(text + f"QUYẾT ĐỊNH\nCHỦ TỊCH\n{line}\n")
    assert fields["nguoi_ky"] == name
    assert fields["co_quan_ban_hanh"] == "UBND XÃ KHÁNH THÀNH"


def test_a_header_read_row_by_row_with_the_motto_wrapped_and_a_slipped_date() -> None:
    text = """\
CÔNG AN HUYỆN THUẬN BẮC : CỘNG HỖA XÃ HỘI CHỦ NGHĨA VIỆT
CÔNG AN XÃ PHƯỚC CHIẾN NAM .
Độc lập - Tự do - Hạnh phúc
Số: 377/XNCT
Phước Chiến, ngày 24 tháng 7 năm-2024
XÁC NHẬN
THÔNG TIN VỀ CƯ TRÚ
TRƯỞNG CÔNG AN XÃ
Lê Văn Hai
"""
    fields = extract_fields(text)
    assert fields["co_quan_ban_hanh"] == "CÔNG AN XÃ PHƯỚC CHIẾN"
    assert fields["ngay_ban_hanh"] == "2024-07-24"
    assert fields["loai_van_ban"] == "XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ"


def test_a_speck_read_as_a_stop_inside_a_name_in_capitals_does_not_end_it() -> None:
    tables = load_tables()
    assert person_name("CIL. THỊ BÉ", tables) == "CIL THỊ BÉ"
    # A stop before words in small letters still ends the name: a sentence goes on.
    assert person_name("Mai Diệu Trinh. sinh ngày 02/03/1990", tables) == "Mai Diệu Trinh"
    assert person_name("NGUYỄN VĂN AN. Giới tính: Nam", tables) == "NGUYỄN VĂN AN"
    # On a marriage certificate the first spouse is the subject, even with the speck.
    text = MARRIAGE_WITH_SPECK
    assert extract(text).value("ho_ten") == "Cil Thị Bé"


MARRIAGE_WITH_SPECK = """\
UBND HUYỆN BÁC ÁI
UBND XÃ PHƯỚC CHÍNH
CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN KẾT HÔN
Họ, chữ đệm, tên vợ: CIL. THỊ BÉ
Ngày, tháng, năm sinh: 17/11/1986 Dân tộc: Cơ Ho Quốc tịch: Việt Nam
Giấy tờ tuỳ thân: Căn cước công dân số 068186283822, cấp ngày 25/11/2017
Họ, chữ đệm, tên chồng: NGUYỄN ĐÌNH BẢO THUỶ
Ngày, tháng, năm sinh: 01/09/1995 Dân tộc: Kinh Quốc tịch: Việt Nam
Giấy tờ tuỳ thân: Căn cước công dân số 038095045897, cấp ngày 26/06/2019
Ngày, tháng, năm đăng ký: ngày 12 tháng 01 năm 2021
TM. UỶ BAN NHÂN DÂN
CHỦ TỊCH
Ma Lé Thị Giàu
"""


def test_a_letter_vietnamese_does_not_write_in_a_kinh_family_name_is_a_slip() -> None:
    tables = load_tables()
    assert fix_surname("Frần Hữu Luân", tables) == "Trần Hữu Luân"
    assert fix_surname("FRẦN HỮU LUÂN", tables) == "TRẦN HỮU LUÂN"
    # Names of other peoples keep their letters.
    for name in ("Y Jut Niê", "Jơ Ngưi", "Katơr Thị Hđơk"):
        assert fix_surname(name, tables) == name


def test_specks_inside_a_name_and_marks_vietnamese_never_writes_are_no_part_of_it() -> None:
    tables = load_tables()
    assert person_name("C¡il Thị Giàu _", tables) == "Cil Thị Giàu"
    text = MARRIAGE_WITH_SPECK.replace("CIL. THỊ BÉ", "Cïl Thị Bé")
    assert extract(text).value("ho_ten") == "Cil Thị Bé"
    # The marks are dropped letter for letter: the lines keep their length (word spans).
    assert nfc_lines("Cïl Ñguyễn")[0] == "Cil Nguyễn"


def test_a_subject_whose_family_name_alone_ends_the_line_is_read_whole() -> None:
    body = """\
QUYẾT ĐỊNH
Về việc trợ cấp xã hội hằng tháng đối với người cao tuổi
QUYẾT ĐỊNH:
Điều 1. Thực hiện chế độ trợ cấp xã hội hằng tháng đối với ông Quách
Đình Tiến Kiên. sinh ngày ngày 2 tháng 12 năm 1954, số định danh cá nhân
056054312230, địa chỉ thường trú: Số 31 đường 16 Tháng 4, xã Phước Thuận.
Điều 2. Quyết định này có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Hà Tiến Trí
"""
    fields = extract_fields(HEADER.format(number="4501/QĐ-UBND") + body)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Quách Đình Tiến Kiên",
        "056054312230",
        "1954-12-02",
    )
    # A capitalised word ending a line with a label on the next is no name's start.
    labelled = body.replace("Đình Tiến Kiên. sinh ngày", "Ngày sinh:")
    assert extract_fields(HEADER.format(number="4501/QĐ-UBND") + labelled)["ho_ten"] is None


def test_a_page_that_lists_on_from_an_earlier_one_names_no_subject() -> None:
    # Page 2 of a residence confirmation: the household's fifth member, then the signer.
    page_two = """\
2
5. Họ, chữ đệm và tên: Kơ Sá Ngông; Ngày sinh: 24/03/1960; Giới
tính: Nam; Số định danh cá nhân: 001060935128; Quan hệ với chủ
hộ: Con
Giấy xác nhận này có giá trị 30 ngày kể từ ngày cấp.
Nơi nhận:
- Công dân;
KT. TRƯỞNG CÔNG AN
PHÓ TRƯỞNG CÔNG AN
Thượng tá Mai Trọng Trí
"""
    fields = extract(page_two)
    assert fields.value("ho_ten") is None and fields.value("cccd") is None
    assert "list begun on an earlier page" in fields["ho_ten"].rule
    assert fields.value("nguoi_ky") == "Mai Trọng Trí"
    # The item's stop read as a dash is still an item.
    assert extract(page_two.replace("5. Họ", "5- Họ")).value("ho_ten") is None
    # A list that starts on the page (its "1." read as "l.") is the page's own.
    own = page_two.replace("5. Họ", "l. Họ")
    assert extract(own).value("ho_ten") == "Kơ Sá Ngông"


def test_specks_between_a_form_of_address_and_the_name_and_after_the_id_label() -> None:
    body = """\
QUYẾT ĐỊNH
Về việc công nhận hòa giải viên
QUYẾT ĐỊNH:
Điều 1. Công nhận ông "Thái .Minh Trí, sinh ngày _ 29/09/1956, CCCD số.
056056121756, là hòa giải viên của Tổ hòa giải thôn Đông.
Điều 2. Quyết định này có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Hà Tiến Trí
"""
    fields = extract_fields(HEADER.format(number="12/QĐ-UBND") + body)
    assert (fields["ho_ten"], fields["cccd"], fields["ngay_sinh"]) == (
        "Thái Minh Trí",
        "056056121756",
        "1956-09-29",
    )
    # A colon speck inside the date of birth, written in words over a line break.
    worded = body.replace("sinh ngày _ 29/09/1956,", "sinh ngày ngày 29:\ntháng 9 năm 1956,")
    assert extract_fields(HEADER.format(number="12/QĐ-UBND") + worded)["ngay_sinh"] == "1956-09-29"
    # A dash speck between "số" and the ID, which the next line opens.
    dashed = body.replace("CCCD số.\n056056121756", "CCCD số -\n056056121756")
    assert extract_fields(HEADER.format(number="12/QĐ-UBND") + dashed)["cccd"] == "056056121756"
    # A labelled block whose ID label ends its line with a speck: the ID is on the next line.
    block = """\
GIẤY XÁC NHẬN
Họ và tên: Thái Minh Trí
Số định danh cá nhân: .
056056121756
CHỦ TỊCH
Hà Tiến Trí
"""
    assert extract_fields(HEADER.format(number="12/XN-UBND") + block)["cccd"] == "056056121756"
    # Or a speck before the ID on the next line (a bw scan of seed 1207).
    dotted = block.replace(": .\n056", ":\n.056")
    assert extract_fields(HEADER.format(number="12/XN-UBND") + dotted)["cccd"] == "056056121756"
    # Specks between the words of the ID's label, where it breaks over two lines (bw scans of
    # four seeds read the lines right but for these specks).
    for label in (
        "số định danh.\ncá nhân",
        "số định danh cá\n.nhân:",
        "Căn cước.\ncông dân số",
        "Căn cước\ncông dân.số.",
    ):
        specked = body.replace("CCCD số.\n", f"{label} ")
        fields = extract_fields(HEADER.format(number="12/QĐ-UBND") + specked)
        assert fields["cccd"] == "056056121756", label


@pytest.mark.parametrize(
    ("title", "line", "name"),
    [
        ("HU TỊCH", "Katơr Văn Ngông", "Katơr Văn Ngông"),  # "CHỦ TỊCH", its C under the seal
        ("RƯỞNG CÔNG AN", "Trung tá Katơr Văn Ngông", "Katơr Văn Ngông"),
        ("ĐỐC", "Pinăng Thị Mai", "Pinăng Thị Mai"),  # "GIÁM ĐỐC" short of its first word
    ],
)
def test_a_signer_title_whose_start_the_seal_hid_still_heads_the_name(
    title: str, line: str, name: str
) -> None:
    # Names of other peoples: without a title above them, no family name of the tables says
    # they are a name at the foot of the page.
    text = (
        HEADER.format(number="05/QĐ-UBND") + f"QUYẾT ĐỊNH\nNơi nhận:\n- Lưu: VT.\n{title}\n{line}\n"
    )
    assert extract_fields(text)["nguoi_ky"] == name


def test_a_place_date_line_whose_place_starts_like_a_form_of_address_names_no_one() -> None:
    text = """\
UBND HUYỆN KHÁNH SƠN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ BA CỤM BẮC Độc lập - Tự do - Hạnh phúc
Số: 89/XNTTHN
XÁC NHẬN:
Ba Cụm Bắc, ngày 04 tháng 12 năm 2020
GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN
Họ và tên: Lâm Thanh Thắm
Ngày, tháng, năm sinh: 15/05/1987
Số CCCD: 056187356060
CHỦ TỊCH
Hà Tiến Trí
"""
    fields = extract_fields(text)
    assert (fields["ho_ten"], fields["cccd"]) == ("Lâm Thanh Thắm", "056187356060")
    # "XÁC NHẬN:" read among the header's rows opens the body: no part of the issuer.
    assert fields["co_quan_ban_hanh"] == "UBND XÃ BA CỤM BẮC"


def test_a_speck_read_as_underscore_before_nơi_nhận_still_closes_the_body() -> None:
    body = """\
QUYẾT ĐỊNH
Về việc công nhận hòa giải viên
QUYẾT ĐỊNH:
Điều 1. Công nhận Tổ hòa giải thôn Đông.
_ Nơi nhận:
- Ông Lê Văn Tư, sinh ngày 02/03/1960;
- Lưu: VT.
CHỦ TỊCH
Hà Tiến Trí
"""
    fields = extract_fields(HEADER.format(number="12/QĐ-UBND") + body)
    assert fields["ho_ten"] is None  # a recipient is never the subject


# The first page of a two-page certificate, read row by row: the motto's row broken up, the
# issuer's second line read after it, and the number read on the place-date's row. The page
# ends in the household's list; the signer is on the next page.
FIRST_OF_TWO = """\
ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
HUYỆN CAM LÂM
- Hạnh phúc
Độc lập -
Tự do
Số: 212/GCN-UBND Cam Lâm, ngày 09 tháng 5 năm 2024
GIẤY CHỨNG NHẬN HỘ NGHÈO
Ủy ban nhân dân huyện Cam Lâm chứng nhận:
Hộ ông/bà (chủ hộ): Lò Văn Sáng
Ngày sinh: 11/04/1961 Số định danh cá nhân: 056061004455
Danh sách thành viên trong hộ:
1. Lò Thị Hiền, sinh năm 1964, quan hệ với chủ hộ: vợ
. Lò Văn Tài, sinh năm 1990, quan hệ với chủ hộ: con
"""


def test_the_number_on_the_place_dates_row_after_the_issuers_second_line_is_header() -> None:
    fields = extract(FIRST_OF_TWO)
    assert fields["so_ky_hieu"].value == "212/GCN-UBND"
    assert fields["ngay_ban_hanh"].value == "2024-05-09"
    assert fields["loai_van_ban"].value == "GIẤY CHỨNG NHẬN HỘ NGHÈO"
    assert fields["co_quan_ban_hanh"].value == "ỦY BAN NHÂN DÂN HUYỆN CAM LÂM"


def test_a_person_listed_at_the_foot_of_a_page_is_no_signer() -> None:
    # "Lò Văn Tài, sinh năm 1990, …" ends the page (its number lost to OCR): a name followed by
    # a clause is a person listed, never the signer, whose name ends its line.
    assert extract(FIRST_OF_TWO)["nguoi_ky"].value is None
    signed = FIRST_OF_TWO + "CHỦ TỊCH\nLò Văn Tài\n"
    assert extract(signed)["nguoi_ky"].value == "Lò Văn Tài"


def test_a_speck_between_the_signers_names_words_is_dropped() -> None:
    # The seal's dots read as a stop after the family name: "Lò. Văn Tài".
    signed = FIRST_OF_TWO + "CHỦ TỊCH\nLò. Văn Tài\n"
    assert extract(signed)["nguoi_ky"].value == "Lò Văn Tài"


def test_a_name_ending_a_page_after_nơi_nhận_is_the_signer_whose_title_was_lost() -> None:
    # The seal hid "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"; the name's family name is a Cơ Ho one no
    # table lists. A place wrapped from a recipient, or a page without "Nơi nhận", gives none.
    foot = "Điều 3. Quyết định có hiệu lực từ ngày ký./.\nNơi nhận:\n- Như Điều 3;\n- Lưu: VT.\n"
    assert extract(FIRST_OF_TWO + foot + "Kră Jăn Brơi\n")["nguoi_ky"].value == "Kră Jăn Brơi"
    assert extract(FIRST_OF_TWO + foot + "Khánh Hòa;\n")["nguoi_ky"].value is None
    assert extract(FIRST_OF_TWO + "Kră Jăn Brơi\n")["nguoi_ky"].value is None


def test_an_issuer_broken_off_without_a_hyphen_or_before_the_place_date_is_read_whole() -> None:
    # Row by row: the parent's name broken at "PHAN" / "RANG" with no hyphen, the page printing
    # "Phan Rang" elsewhere; and the issuer's last word on the place-date's row.
    unbroken = """\
UBND THÀNH PHỐ PHAN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
RANG - THÁP CHÀM Độc lập - Tự do - Hạnh phúc
UBND PHƯỜNG ĐÀI SƠN
Đài Sơn, ngày 24 tháng 12 năm 2021
Số: 268/QĐ-UBND
QUYẾT ĐỊNH
Về việc trợ cấp mai táng phí cho thân nhân ông Lê Văn Hùng, thành phố Phan Rang - Tháp Chàm
"""
    assert extract(unbroken).value("co_quan_ban_hanh") == "UBND PHƯỜNG ĐÀI SƠN"
    # Without "Phan Rang" elsewhere, "RANG - THÁP CHÀM" starts nothing the page confirms.
    alone = unbroken.replace(", thành phố Phan Rang - Tháp Chàm", "")
    assert extract(alone).value("co_quan_ban_hanh") != "UBND PHƯỜNG ĐÀI SƠN"
    wrapped = """\
ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
HUYỆN CAM Độc lập - Tự do - Hạnh phúc
LÂM Cam Lâm, ngày 24 tháng 10 năm
Số: 1147/QĐ-UBND 2020
QUYẾT ĐỊNH
Về việc hỗ trợ chi phí mai táng
"""
    fields = extract(wrapped)
    assert fields.value("co_quan_ban_hanh") == "ỦY BAN NHÂN DÂN HUYỆN CAM LÂM"
    assert fields.value("ngay_ban_hanh") == "2020-10-24"


def test_a_holder_named_by_what_they_hold_is_the_subject() -> None:
    # A food-safety certificate names its holder "Chủ cơ sở", a building permit "Chủ đầu tư".
    certificate = """\
UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ CAM HẢI TÂY Độc lập - Tự do - Hạnh phúc
Số: 45/GCN-UBND Cam Hải Tây, ngày 12 tháng 5 năm 2024
GIẤY CHỨNG NHẬN
CƠ SỞ ĐỦ ĐIỀU KIỆN AN TOÀN THỰC PHẨM
Cơ sở: Bếp ăn tập thể Hòa Bình
{label}: Phạm Thị Ngọc Hân
Số định danh cá nhân: 056185002233
Địa chỉ: Thôn Bắc Vĩnh, xã Cam Hải Tây, huyện Cam Lâm, tỉnh Khánh Hòa
CHỦ TỊCH
Lê Văn Tám
"""
    for label in ("Chủ cơ sở", "Chủ đầu tư", "Người sử dụng đất", "Chủ sở hữu"):
        fields = extract(certificate.format(label=label))
        assert fields.value("ho_ten") == "Phạm Thị Ngọc Hân", label
        assert fields.value("cccd") == "056185002233", label


def test_the_child_cared_for_is_the_subject_not_the_carer() -> None:
    # "Giao bà A … nhận chăm sóc, nuôi dưỡng cháu B": B is the one the decision is about.
    # ("nuôi dưỡng" folds like "nuôi đường": no street starts B's name.)
    decision = """\
UBND HUYỆN KHÁNH VĨNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Số: 102/QĐ-UBND Khánh Vĩnh, ngày 03 tháng 4 năm 2023
QUYẾT ĐỊNH
Về việc chăm sóc, nuôi dưỡng trẻ em có hoàn cảnh đặc biệt
CHỦ TỊCH ỦY BAN NHÂN DÂN HUYỆN KHÁNH VĨNH
QUYẾT ĐỊNH:
Điều 1. Giao bà Cao Thị Lành, số định danh cá nhân 056180334455, thường trú tại thôn
Suối Cá, xã Khánh Hiệp, nhận chăm sóc, nuôi dưỡng cháu Pi Năng Thị Vy, sinh ngày
14/02/2016, số định danh cá nhân 056316778899.
Điều 2. Quyết định này có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Trần Văn Hưng
"""
    fields = extract(decision)
    assert fields.value("ho_ten") == "Pi Năng Thị Vy"
    assert fields.value("cccd") == "056316778899"
    assert fields.value("ngay_sinh") == "2016-02-14"


def test_the_signing_instruction_garbled_at_its_start_is_no_name() -> None:
    # The signature crossed the instruction's start: "(Ký, ghi rõ họ, chữ" read as "rố Tơ, Ch K".
    # Its end still says what it is, and the name is on the line under it.
    for garbled in ("rố Tơ Ch Kha đệm, tên, chức vụ, đóng đấu)", "Tơ Ch Kha họ tên)"):
        signed = FIRST_OF_TWO + f"NGƯỜI KÝ TRÍCH LỤC\n{garbled}\nNguyễn Quang Long\n"
        assert extract(signed)["nguoi_ky"].value == "Nguyễn Quang Long", garbled
    # A comma between two capitalised scraps is the page's, not a speck: no name of them.
    scraps = FIRST_OF_TWO + "NGƯỜI KÝ TRÍCH LỤC\nrố Tơ, Ch K\nNguyễn Quang Long\n"
    assert extract(scraps)["nguoi_ky"].value == "Nguyễn Quang Long"


# A pupil exempted from fees: a parent's clause inside the pupil's sentence holds the parent's
# ID first; the pupil's own comes after it, its label naming whose it is ("của học sinh").
EXEMPTION = (
    HEADER.format(number="88/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc miễn học phí năm học 2024-2025
QUYẾT ĐỊNH:
Điều 1. Miễn học phí năm học 2024-2025 cho em Đàng Đức Luân, sinh ngày
26/05/2015, học sinh lớp 4, Trường Tiểu học Khánh Thành, con ông Phạm Tiến
Kiên (CCCD số 056085987229); số định danh cá nhân của học sinh:
056215838903.
Điều 2. Quyết định này có hiệu lực kể từ ngày ký./.
"""
)


def test_a_pupils_own_id_after_a_parents_clause_is_the_pupils() -> None:
    fields = extract(EXEMPTION)
    assert fields.value("ho_ten") == "Đàng Đức Luân"
    assert fields.value("ngay_sinh") == "2015-05-26"
    assert fields.value("cccd") == "056215838903"
    # With no ID of the pupil's in the sentence, the parent's is not taken for it.
    own = EXEMPTION.replace("số định danh cá nhân của học sinh:\n056215838903", "\nđồng.")
    assert extract(own).value("cccd") != "056085987229"


def test_a_labelled_name_wrapped_under_a_long_label_is_read_whole() -> None:
    text = (
        HEADER.format(number="12")
        + """GIẤY CHỨNG NHẬN NUÔI CON NUÔI
Họ, chữ đệm, tên người được nhận làm con nuôi: LƯƠNG THỊ
PHƯƠNG QUYÊN
Ngày, tháng, năm sinh: 04/05/2017 Giới tính: Nữ
Số định danh cá nhân: 056317858148
"""
    )
    assert extract(text).value("ho_ten") == "Lương Thị Phương Quyên"
    # A whole name ends its line: the capitals under it are something else.
    whole = text.replace("LƯƠNG THỊ\nPHƯƠNG QUYÊN", "LƯƠNG THỊ QUYÊN\nXÁC NHẬN")
    assert extract(whole).value("ho_ten") == "Lương Thị Quyên"


# A licence granted to a household business: the words that grant one to a person ("Cho
# phép:") name the business; its legal representative, labelled under it, is the holder.
KARAOKE = (
    HEADER.format(number="5/GP-VHTT")
    + """GIẤY PHÉP
KINH DOANH DỊCH VỤ KARAOKE
Cho phép: HỘ KINH DOANH KARAOKE BIỂN XANH
Địa chỉ: Thôn Tân Hưng, xã Khánh Thành, huyện Khánh Vĩnh, tỉnh Khánh Hòa
Người đại diện theo pháp luật: Trương Ngọc Hân Giới tính: Nữ
Sinh ngày: 22/02/1992 Dân tộc: Kinh Quốc tịch: Việt Nam
Số định danh cá nhân: 056192951470
Giấy phép này có hiệu lực đến ngày 14/06/2030.
"""
)


def test_a_business_granted_a_licence_is_no_person_and_its_representative_holds_it() -> None:
    fields = extract(KARAOKE)
    assert fields.value("ho_ten") == "Trương Ngọc Hân"  # "Trương" is no "trường" (a school)
    assert fields.value("cccd") == "056192951470"
    assert fields.value("ngay_sinh") == "1992-02-22"
    # A speck through the label's "o" ("theø"): no Vietnamese letter, read as the o.
    assert extract(KARAOKE.replace("theo pháp", "theø pháp")).value("ho_ten") == "Trương Ngọc Hân"
    assert person_name("HỘ KINH DOANH KARAOKE BIỂN XANH", load_tables()) is None
    assert person_name("HO KINH DOANH TAP HOA MINH", load_tables()) is None  # marks lost
    assert person_name("Trường Tiểu học Khánh Thành", load_tables()) is None
    assert person_name("Trương Văn Trường", load_tables()) == "Trương Văn Trường"


def test_a_title_printed_over_three_lines_is_read_whole() -> None:
    text = (
        HEADER.format(number="12")
        + """GIẤY XÁC NHẬN
HỘ GIA ĐÌNH LÀM NÔNG NGHIỆP, LÂM NGHIỆP, NGƯ NGHIỆP
VÀ DIÊM NGHIỆP CÓ MỨC SỐNG TRUNG BÌNH
Ủy ban nhân dân xã Khánh Thành xác nhận:
Họ và tên chủ hộ: Vũ Thế Hữu Khoa
"""
    )
    fields = extract(text)
    assert fields.value("loai_van_ban") == (
        "GIẤY XÁC NHẬN HỘ GIA ĐÌNH LÀM NÔNG NGHIỆP, LÂM NGHIỆP, NGƯ NGHIỆP "
        "VÀ DIÊM NGHIỆP CÓ MỨC SỐNG TRUNG BÌNH"
    )
    assert fields.value("ho_ten") == "Vũ Thế Hữu Khoa"
    # Read over four lines, a word on a line of its own with a speck after it.
    four = text.replace("NGƯ NGHIỆP\nVÀ", "NGƯ\nNGHIỆP _\nVÀ")
    assert extract(four).value("loai_van_ban") == fields.value("loai_van_ban")
    # A speck read as a hyphen after the issuer's place: the title under it is no place's rest.
    rows = (
        "UBND HUYỆN KHÁNH VĨNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
        "UBND XÃ KHÁNH THÀNH - Độc lập - Tự do - Hạnh phúc\n"
    )
    hyphen = rows + text[text.index("GIẤY XÁC NHẬN") :]
    hyphened = extract(hyphen)
    assert hyphened.value("co_quan_ban_hanh") == "UBND XÃ KHÁNH THÀNH"
    assert hyphened.value("loai_van_ban") == fields.value("loai_van_ban")


@pytest.mark.parametrize(
    ("dating", "expected"),
    [
        ("Ngày cấp: 12/03/2024", "2024-03-12"),
        ("Hôm nay, ngày 12 tháng 3 năm 2024, tại Ủy ban nhân dân xã Khánh Thành", "2024-03-12"),
        # An ID's own date of issue, after the ID, dates the card, not the paper.
        ("Số định danh cá nhân: 056080123456; ngày cấp: 29/10/2021", None),
    ],
)
def test_a_page_without_a_place_date_line_is_dated_by_a_line_that_dates_it(
    dating: str, expected: str | None
) -> None:
    text = f"""UBND HUYỆN KHÁNH VĨNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ KHÁNH THÀNH Độc lập - Tự do - Hạnh phúc
GIẤY XÁC NHẬN
Ủy ban nhân dân xã Khánh Thành xác nhận:
Họ và tên: Lê Văn An
Sinh ngày: 02/03/1980
{dating}
"""
    assert extract(text).value("ngay_ban_hanh") == expected
    # The place–date line, when there is one, comes first.
    dated = text.replace("Hạnh phúc\n", "Hạnh phúc\nKhánh Thành, ngày 05 tháng 01 năm 2025\n")
    assert extract(dated).value("ngay_ban_hanh") == "2025-01-05"


def test_a_signers_first_word_read_in_capitals_or_last_word_in_small_letters_is_kept() -> None:
    # A photo read the hat of "Võ" as a capital's ("VÕ"); a black-and-white scan read the
    # capital of "Lệ" small. A name in capitals is all in capitals, and the signer's name ends
    # its line; a word in small letters that no name is stays out.
    assert extract(FIRST_OF_TWO + "CHỦ TỊCH\nVÕ Tiến Thanh Triều\n")["nguoi_ky"].value == (
        "Võ Tiến Thanh Triều"
    )
    ranked = FIRST_OF_TWO + "TRƯỞNG CÔNG AN\nĐại uý Vũ Ngọc Hồng lệ\n"
    assert extract(ranked)["nguoi_ky"].value == "Vũ Ngọc Hồng Lệ"
    assert extract(FIRST_OF_TWO + "CHỦ TỊCH\nVũ Ngọc Hồng ký\n")["nguoi_ky"].value == (
        "Vũ Ngọc Hồng"
    )
    tables = load_tables()
    assert person_name("NGUYỄN VĂN AN Giới tính: Nam", tables) == "NGUYỄN VĂN AN"
