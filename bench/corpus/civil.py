"""Civil-status results (Thông tư 04/2020/TT-BTP forms): birth, death, marriage, marital status,
correction, recognition of a parent or child, guardianship."""

from __future__ import annotations

import datetime as dt

from bench.corpus.doc import Doc, b, i
from bench.corpus.parts import (
    Ctx,
    commune_issuer,
    dob_line,
    header,
    id_line,
    number_under_title,
    person_lines,
    signer_block,
    title,
)
from bench.corpus.people import dmy, long_date

SIGN_INSTR = "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)"

DEAD_LABELS = ["Họ, chữ đệm, tên người chết", "Họ và tên người đã chết", "Họ, chữ đệm, tên"]
CAUSES = ["Già yếu", "Bệnh tim mạch", "Tai biến mạch máu não", "Ung thư"]
PURPOSES = ["làm thủ tục đăng ký kết hôn", "bổ sung hồ sơ vay vốn", "làm thủ tục mua bán nhà đất"]
CORRECTED = ["Ngày, tháng, năm sinh", "Họ, chữ đệm, tên", "Quê quán", "Dân tộc"]
REASONS = [
    "Ghi sai do lỗi của cán bộ hộ tịch",
    "Theo đề nghị của người yêu cầu",
    "Sai sót khi đăng ký",
]
WARD_RELATIONS = ["Ông nội - cháu", "Bà ngoại - cháu", "Cô - cháu", "Anh - em"]


def _book(c: Ctx) -> str:
    return f"{c.number(1, 3):02d}/{c.issued.year}"


def _register_place(c: Ctx) -> str:
    return f"Ủy ban nhân dân {c.unit.full}"


def khai_sinh(c: Ctx) -> Doc:
    """GIẤY KHAI SINH: the child is the subject; parents print their own IDs."""
    base = c.person(minority_share=0.35)
    born = c.issued - dt.timedelta(days=c.rng.randint(12, 60))
    child = c.born_on(base, born)
    header(c, commune_issuer(c), None, date_top=False)
    title(c, "GIẤY KHAI SINH", size=1.2)
    number_under_title(c, str(c.number(1, 250)), _book(c))
    caps = c.chance(0.7)
    nm = child.name.upper() if caps else child.name
    c.p("Họ, chữ đệm, tên: ", b(nm), key="child")
    dob, printed = dob_line(c, child, words=True)
    c.p(dob, key="child")
    c.p(f"Giới tính: {child.sex}    Dân tộc: {child.ethnic}    Quốc tịch: Việt Nam", key="child")
    c.p(
        f"Nơi sinh: {c.choice(['Trạm Y tế', 'Trung tâm Y tế khu vực', 'Bệnh viện Đa khoa'])} "
        f"{c.unit.name}, {c.unit.full}",
        key="child",
    )
    c.p(f"Quê quán: {c.unit.full}", key="child")
    c.p(f"Số định danh cá nhân: {child.cccd}", key="child")
    c.subject(child, key="child", name=nm, dob=printed)
    for who, male in (("mẹ", False), ("cha", True)):
        parent = c.person(male=male, born_between=(1975, 2002))
        pn = parent.name.upper() if caps else parent.name
        c.p(f"Họ, chữ đệm, tên người {who}: ", b(pn) if caps else pn, before=0.3)
        c.p(f"Năm sinh: {parent.born.year}    Dân tộc: {parent.ethnic}    Quốc tịch: Việt Nam")
        c.p(f"Nơi cư trú: {c.address()}")
    decl = c.person(born_between=(1960, 2000))
    c.p(f"Họ, chữ đệm, tên người đi khai sinh: {decl.name}", before=0.3)
    c.p(id_line(c, decl, "giay_to"))
    c.p(f"Nơi đăng ký khai sinh: {_register_place(c)}")
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(c.issued)}", key="regdate")
    c.field("ngay_ban_hanh", c.issued.isoformat(), "regdate", dmy(c.issued))
    signer_block(c, ["NGƯỜI KÝ GIẤY KHAI SINH"], instruction=SIGN_INSTR)
    return c.doc("khai_sinh")


def trich_luc_khai_sinh(c: Ctx) -> Doc:
    """TRÍCH LỤC KHAI SINH (bản sao): issued years after the birth, to an adult."""
    p = c.person(born_between=(1950, 2015))
    header(c, commune_issuer(c), f"{c.number()}/TLKS-BS")
    title(c, "TRÍCH LỤC KHAI SINH", sub="(Bản sao)")
    person_lines(
        c, p, key="subject", caps=c.chance(0.6), subject=True, residence=False, id_style="dinh_danh"
    )
    c.p(f"Nơi sinh: {c.unit.full}")
    for who, male in (("mẹ", False), ("cha", True)):
        parent = c.person(male=male, born_between=(p.born.year - 40, p.born.year - 18))
        c.p(f"Họ, chữ đệm, tên người {who}: {parent.name}")
        c.p(f"Dân tộc: {parent.ethnic}    Quốc tịch: Việt Nam    Năm sinh: {parent.born.year}")
    reg = p.born + dt.timedelta(days=c.rng.randint(5, 50))
    c.p(f"Nơi đăng ký khai sinh: {_register_place(c)}")
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(reg)}")
    c.p(
        f"Sao từ Sổ đăng ký khai sinh: Số {c.number(1, 300)}, Quyển số "
        f"{c.number(1, 4):02d}/{reg.year}."
    )
    signer_block(
        c,
        [c.choice(["NGƯỜI KÝ TRÍCH LỤC", "TM. ỦY BAN NHÂN DÂN\nKT. CHỦ TỊCH\nPHÓ CHỦ TỊCH"])],
        instruction=SIGN_INSTR if c.chance(0.6) else None,
    )
    return c.doc("trich_luc_khai_sinh")


def trich_luc_khai_tu(c: Ctx) -> Doc:
    """TRÍCH LỤC KHAI TỬ: the deceased is the subject, the declarant prints an ID too."""
    dead = c.person(born_between=(1925, 1975))
    header(c, commune_issuer(c), f"{c.number()}/{c.choice(['TLKT', 'TLKT-BS', 'TLKT-BC'])}")
    title(c, "TRÍCH LỤC KHAI TỬ", sub=c.choice(["(Bản chính)", "(Bản sao)"]))
    caps = c.chance(0.6)
    nm = dead.name.upper() if caps else dead.name
    c.p(
        f"{c.choice(DEAD_LABELS)}: ",
        b(nm),
        key="dead",
    )
    dob, printed = dob_line(c, dead)
    c.p(dob, key="dead")
    c.p(f"Giới tính: {dead.sex}    Dân tộc: {dead.ethnic}    Quốc tịch: Việt Nam", key="dead")
    c.p(id_line(c, dead), key="dead")
    c.subject(dead, key="dead", name=nm, dob=printed)
    c.p(f"Nơi cư trú cuối cùng: {c.address()}")
    died = c.issued - dt.timedelta(days=c.rng.randint(1, 20))
    c.p(f"Đã chết vào lúc: {c.number(0, 23)} giờ {c.number(0, 59):02d} phút, {long_date(died)}")
    c.p(
        f"Nơi chết: {c.choice(['Tại nhà', 'Trung tâm Y tế khu vực', 'Bệnh viện Đa khoa tỉnh'])}, "
        f"{c.unit.full}"
    )
    c.p(f"Nguyên nhân chết: {c.choice(CAUSES)}")
    decl = c.person(born_between=(1955, 2000))
    c.p(
        f"Họ, chữ đệm, tên người đi khai tử: {decl.name.upper() if caps else decl.name}", before=0.3
    )
    c.p(id_line(c, decl, c.choice(["giay_to", "dinh_danh"])))
    c.p(f"Quan hệ với người đã chết: {c.choice(['Con', 'Vợ', 'Chồng', 'Cháu', 'Anh', 'Em'])}")
    c.p(f"Nơi đăng ký khai tử: {_register_place(c)}")
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(c.issued)}")
    signer_block(c, ["NGƯỜI KÝ TRÍCH LỤC"], instruction=SIGN_INSTR)
    return c.doc("trich_luc_khai_tu")


def ket_hon(c: Ctx) -> Doc:
    """GIẤY CHỨNG NHẬN KẾT HÔN: two registrants; the first printed is the subject, as the
    readers take it (edge/fields/labels.toml, `spouse`): a lookup by her ID finds the result,
    where no subject at all would leave it to be found by neither."""
    header(c, commune_issuer(c), None, date_top=False)
    title(c, "GIẤY CHỨNG NHẬN KẾT HÔN", size=1.15)
    wife, husband = (
        c.person(male=False, born_between=(1975, 2004)),
        c.person(male=True, born_between=(1970, 2002)),
    )
    for who, p, key in (
        ("Họ, chữ đệm, tên vợ", wife, "subject"),
        ("Họ, chữ đệm, tên chồng", husband, "husband"),
    ):
        c.p(f"{who}: ", b(p.name.upper()), before=0.3, key=key)
        c.p(
            f"Ngày, tháng, năm sinh: {dmy(p.born)}    Dân tộc: {p.ethnic}    Quốc tịch: Việt Nam",
            key=key,
        )
        c.p(f"Nơi cư trú: {c.address()}", key=key)
        c.p(id_line(c, p, "giay_to"), key=key)
    c.subject(wife, key="subject", name=wife.name.upper(), dob=dmy(wife.born))
    c.p(f"Nơi đăng ký: {_register_place(c)}", before=0.3)
    c.p(f"Ngày, tháng, năm đăng ký: {long_date(c.issued)}", key="regdate")
    c.field("ngay_ban_hanh", c.issued.isoformat(), "regdate", long_date(c.issued))
    number_under_title(c, str(c.number(1, 120)), _book(c))
    c.extra["vo"], c.extra["chong"] = wife.name, husband.name
    signer_block(
        c, ["TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH"], instruction=SIGN_INSTR if c.chance(0.5) else None
    )
    return c.doc("ket_hon")


def xac_nhan_tthn(c: Ctx) -> Doc:
    """GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN."""
    p = c.person(born_between=(1965, 2005))
    header(c, commune_issuer(c), f"{c.number()}/{c.choice(['XNTTHN', 'UBND-XNTTHN', 'GXN'])}")
    title(c, "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN")
    c.p(
        f"{c.choice(['ỦY BAN NHÂN DÂN', 'UBND'])} {c.unit.kind.upper()} {c.unit.name.upper()}",
        align="center",
    )
    c.p(b("XÁC NHẬN:"), before=0.3)
    person_lines(c, p, key="subject", label_suffix="", subject=True, caps=c.chance(0.4))
    status = c.choice(
        [
            "Chưa đăng ký kết hôn với ai.",
            "Đã đăng ký kết hôn, nhưng đã ly hôn theo Bản án số "
            f"{c.number(10, 300)}/"
            f"{c.issued.year - 2}/HNGĐ-ST của Tòa án nhân dân khu vực.",
            "Có đăng ký kết hôn, vợ/chồng đã chết.",
        ]
    )
    c.p(f"Tình trạng hôn nhân: {status}")
    c.p(f"Giấy này được cấp để: {c.choice(PURPOSES)}.")
    c.p(i("Giấy này có giá trị sử dụng trong thời hạn 6 tháng, kể từ ngày cấp."))
    signer_block(
        c,
        ["TM. ỦY BAN NHÂN DÂN", c.choice(["CHỦ TỊCH", "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH"])],
        instruction=SIGN_INSTR if c.chance(0.4) else None,
    )
    return c.doc("xac_nhan_tthn")


def cai_chinh(c: Ctx) -> Doc:
    """TRÍCH LỤC THAY ĐỔI, CẢI CHÍNH HỘ TỊCH, XÁC ĐỊNH LẠI DÂN TỘC."""
    p = c.person(born_between=(1950, 2015))
    header(c, commune_issuer(c), f"{c.number()}/{c.choice(['TLCC', 'TLTĐCC', 'TLCCHT'])}")
    title(c, c.choice(["TRÍCH LỤC CẢI CHÍNH HỘ TỊCH", "TRÍCH LỤC THAY ĐỔI, CẢI CHÍNH HỘ TỊCH"]))
    c.p(
        "Đã đăng ký " + c.choice(["cải chính", "thay đổi, cải chính"]) + " hộ tịch cho:", before=0.2
    )
    person_lines(c, p, key="subject", subject=True, caps=c.chance(0.7), words=False)
    c.p(
        f"Nội dung cải chính: {c.choice(CORRECTED)} "
        f"trong Giấy khai sinh số {c.number(1, 300)}, quyển số {c.number(1, 3):02d}"
    )
    c.p(f"Lý do: {c.choice(REASONS)}")
    req = c.person(born_between=(1960, 2000))
    c.p(f"Họ, chữ đệm, tên người yêu cầu: {req.name}")
    c.p(id_line(c, req, "giay_to"))
    c.p(f"Quan hệ với người được cải chính: {c.choice(['Bản thân', 'Cha', 'Mẹ'])}")
    signer_block(c, ["NGƯỜI KÝ TRÍCH LỤC"], instruction=SIGN_INSTR if c.chance(0.7) else None)
    return c.doc("cai_chinh")


def nhan_cha_me_con(c: Ctx) -> Doc:
    """TRÍCH LỤC ĐĂNG KÝ NHẬN CHA, MẸ, CON: the child recognised is the subject."""
    child = c.person(born_between=(1995, c.issued.year - 1))
    header(c, commune_issuer(c), f"{c.number()}/TLNCMC")
    title(c, "TRÍCH LỤC\nĐĂNG KÝ NHẬN CHA, MẸ, CON")
    parent = c.person(male=c.chance(0.6), born_between=(child.born.year - 45, child.born.year - 19))
    role = "cha" if parent.male else "mẹ"
    c.p(f"Họ, chữ đệm, tên người nhận: {parent.name.upper()}", before=0.3)
    c.p(f"Ngày, tháng, năm sinh: {dmy(parent.born)}    Dân tộc: {parent.ethnic}")
    c.p(id_line(c, parent, "giay_to"))
    c.p(f"Nơi cư trú: {c.address()}")
    nm = child.name.upper()
    c.p("Họ, chữ đệm, tên người được nhận là con: ", b(nm), key="child", before=0.3)
    dob, printed = dob_line(c, child, words=c.chance(0.5))
    c.p(dob, key="child")
    c.p(f"Dân tộc: {child.ethnic}    Quốc tịch: Việt Nam", key="child")
    c.p(id_line(c, child, c.choice(["dinh_danh", "giay_to"])), key="child")
    c.subject(child, key="child", name=nm, dob=printed)
    c.p(f"Quan hệ: {role} - con", before=0.2)
    c.p(f"Nơi đăng ký: {_register_place(c)}")
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(c.issued)}")
    signer_block(c, ["NGƯỜI KÝ TRÍCH LỤC"], instruction=SIGN_INSTR)
    return c.doc("nhan_cha_me_con")


def giam_ho(c: Ctx) -> Doc:
    """TRÍCH LỤC ĐĂNG KÝ GIÁM HỘ: the ward is the subject, the guardian is not."""
    ward = c.person(born_between=(2008, c.issued.year - 1))
    header(c, commune_issuer(c), f"{c.number()}/TLGH")
    title(c, "TRÍCH LỤC ĐĂNG KÝ GIÁM HỘ")
    guardian = c.person(born_between=(1960, 1995))
    c.p(f"Họ, chữ đệm, tên người giám hộ: {guardian.name}", before=0.3)
    c.p(f"Ngày, tháng, năm sinh: {dmy(guardian.born)}")
    c.p(id_line(c, guardian, "giay_to"))
    c.p(f"Nơi cư trú: {c.address()}")
    nm = ward.name.upper() if c.chance(0.5) else ward.name
    c.p("Họ, chữ đệm, tên người được giám hộ: ", b(nm), key="ward", before=0.3)
    dob, printed = dob_line(c, ward, words=True)
    c.p(dob, key="ward")
    c.p(f"Giới tính: {ward.sex}    Dân tộc: {ward.ethnic}", key="ward")
    c.p(f"Số định danh cá nhân: {ward.cccd}", key="ward")
    c.subject(ward, key="ward", name=nm, dob=printed)
    c.p(f"Nơi cư trú: {c.address()}")
    c.p(f"Quan hệ giữa người giám hộ và người được giám hộ: {c.choice(WARD_RELATIONS)}")
    c.p(f"Nơi đăng ký giám hộ: {_register_place(c)}")
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(c.issued)}")
    signer_block(c, ["NGƯỜI KÝ TRÍCH LỤC"], instruction=SIGN_INSTR)
    return c.doc("giam_ho")
