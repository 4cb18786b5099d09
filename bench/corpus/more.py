"""More dev result types, written after the readers were first tuned, to widen what dev teaches:
a sanction (Nghị định 118/2021 form), a one-off allowance for a person with merit (Nghị định
131/2021), the recognition of a mediator, a fishing licence and the dismissal of a civil servant;
then an adoption certificate (Thông tư 04/2020, several adults beside the child who is the
subject), a school-fee exemption (Nghị định 81/2021: a pupil, "em …", and a parent's ID), a
karaoke licence (Nghị định 54/2019: granted to a business, its representative the holder) and
a household living-standard certificate (Nghị định 07/2021: a three-line title).

Each introduces its subject in a wording dev did not have before: after "xử phạt … đối với",
"giải quyết chế độ … cho", "công nhận", "cho thôi việc đối với", or a label with a suffix
("Họ và tên chủ tàu:", "Ông/bà:"), the ID after "CCCD/số định danh", a birth year only.
"""

from __future__ import annotations

import datetime as dt

from bench.corpus.doc import Doc, b, i
from bench.corpus.parts import (
    RANKS,
    Ctx,
    cancu,
    commune_issuer,
    district_issuer,
    header,
    id_line,
    name_text,
    noi_nhan_default,
    number_under_title,
    police_issuer,
    signer_block,
    title,
)
from bench.corpus.people import dmy, long_date

HEADS = [
    "TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH",
    "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH",
    "CHỦ TỊCH",
]


def _qd(c: Ctx, issuer: list[tuple[str, bool]], symbol: str, trich_yeu: str) -> None:
    header(c, issuer, f"{c.number(10, 4999)}/{symbol}")
    title(c, "QUYẾT ĐỊNH", trich_yeu=trich_yeu)


def _id_phrase(c: Ctx, cccd: str) -> str:
    return c.choice(
        [
            f"CCCD/số định danh: {cccd}",
            f"CCCD số {cccd}",
            f"số CCCD/định danh cá nhân {cccd}",
            f"mã số định danh cá nhân {cccd}",
        ]
    )


def qd_xu_phat(c: Ctx) -> Doc:
    """QUYẾT ĐỊNH xử phạt vi phạm hành chính: the violator on labelled lines "Ông/bà: …"."""
    p = c.person(born_between=(1960, 2004))
    police = c.chance(0.5)
    issuer = police_issuer(c) if police else commune_issuer(c)
    _qd(c, issuer, "QĐ-XPHC", "Xử phạt vi phạm hành chính")
    cancu(
        c,
        [
            "Căn cứ Điều 57, Điều 68 Luật Xử lý vi phạm hành chính;",
            "Căn cứ Nghị định số 118/2021/NĐ-CP ngày 23 tháng 12 năm 2021 của Chính phủ;",
            f"Căn cứ Biên bản vi phạm hành chính số {c.number(1, 900)}/BB-VPHC lập ngày "
            f"{dmy(c.issued - dt.timedelta(days=c.number(1, 6)))};",
        ],
    )
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)
    c.p(b("Điều 1. "), "Xử phạt vi phạm hành chính đối với:", indent=1.0)
    who = c.choice(["Ông/bà", "Họ và tên người vi phạm", "Cá nhân vi phạm"])
    c.p(f"{who}: ", b(p.name), f"    Giới tính: {p.sex}", key="subject", hang=0.5)
    dob = dmy(p.born)
    c.p(f"Ngày, tháng, năm sinh: {dob}    Quốc tịch: Việt Nam", key="subject", hang=0.5)
    c.p(
        f"Số định danh cá nhân/CCCD/hộ chiếu: {p.cccd}; ngày cấp: "
        f"{dmy(c.issued - dt.timedelta(days=c.number(300, 2000)))}; nơi cấp: Bộ Công an",
        key="subject",
        hang=0.5,
    )
    c.p(f"Nơi ở hiện tại: {c.address()}", hang=0.5)
    c.subject(p, key="subject", name=p.name, dob=dob)
    c.p(
        "Đã thực hiện hành vi vi phạm hành chính: "
        + c.choice(
            [
                "gây mất trật tự công cộng ở nơi công cộng.",
                "đổ rác thải sinh hoạt không đúng nơi quy định.",
                "không thực hiện đăng ký tạm trú theo quy định.",
            ]
        ),
        hang=0.5,
    )
    c.p(
        "Hình thức xử phạt chính: Phạt tiền, mức phạt "
        f"{c.choice(['750.000', '1.500.000', '3.000.000'])} đồng.",
        hang=0.5,
    )
    c.p(
        b("Điều 2. "),
        "Quyết định này có hiệu lực kể từ ngày ký. Người bị xử phạt phải nghiêm chỉnh chấp hành "
        "trong thời hạn 10 ngày; quá thời hạn trên sẽ bị cưỡng chế thi hành.",
        indent=1.0,
    )
    heads = ["TRƯỞNG CÔNG AN"] if police else [c.choice(HEADS)]
    signer_block(
        c,
        heads,
        noi_nhan=["Như Điều 1;", "Lưu: Hồ sơ."],
        rank=c.choice(RANKS) if police else None,
    )
    return c.doc("qd_xu_phat")


def qd_tro_cap_mot_lan(c: Ctx) -> Doc:
    """One-off allowance for a person with merit: "Giải quyết chế độ … cho ông …, sinh năm …"."""
    p = c.person(born_between=(1935, 1960), minority_share=0.3)
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _qd(
        c,
        issuer,
        "QĐ-UBND",
        c.choice(
            [
                "Về việc giải quyết trợ cấp một lần đối với người có công với cách mạng",
                "Về việc giải quyết chế độ trợ cấp một lần",
            ]
        ),
    )
    cancu(
        c,
        [
            "Căn cứ Pháp lệnh Ưu đãi người có công với cách mạng ngày 09 tháng 12 năm 2020;",
            "Căn cứ Nghị định số 131/2021/NĐ-CP ngày 30 tháng 12 năm 2021 của Chính phủ;",
            "Xét đề nghị của Trưởng phòng Văn hóa - Xã hội.",
        ],
    )
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)
    year_only = c.chance(0.5)
    born = f"sinh năm {p.born.year}" if year_only else f"sinh ngày {dmy(p.born)}"
    lead = c.choice(
        [
            "Giải quyết chế độ trợ cấp một lần cho",
            "Giải quyết trợ cấp một lần đối với",
        ]
    )
    c.p(
        b("Điều 1. "),
        f"{lead} {p.title} ",
        b(p.name),
        f", {born}, {_id_phrase(c, p.cccd)}; nguyên quán: xã {c.unit.name}; "
        f"trú quán: {c.address()}.",
        key="subject",
        indent=1.0,
    )
    c.subject(p, key="subject", name=p.name, dob=None if year_only else dmy(p.born))
    c.p(
        f"Mức trợ cấp một lần: {c.choice(['4.500.000', '7.800.000', '13.500.000'])} đồng.",
        indent=1.0,
    )
    c.p(b("Điều 2. "), "Quyết định này có hiệu lực kể từ ngày ký.", indent=1.0)
    c.p(
        b("Điều 3. "),
        "Văn phòng HĐND và UBND, Trưởng phòng Văn hóa - Xã hội và người có tên tại Điều 1 "
        "chịu trách nhiệm thi hành Quyết định này./.",
        indent=1.0,
    )
    signer_block(c, [c.choice(HEADS)], noi_nhan=noi_nhan_default(c, "Như Điều 3;"))
    return c.doc("qd_tro_cap_mot_lan")


def qd_hoa_giai_vien(c: Ctx) -> Doc:
    """Recognition of a mediator: "Công nhận bà …, sinh ngày …, là hòa giải viên …"."""
    p = c.person(born_between=(1955, 1995))
    _qd(c, commune_issuer(c), "QĐ-UBND", "Về việc công nhận hòa giải viên")
    cancu(
        c,
        [
            "Căn cứ Luật Hòa giải ở cơ sở ngày 20 tháng 6 năm 2013;",
            "Căn cứ Nghị định số 15/2014/NĐ-CP ngày 27 tháng 02 năm 2014 của Chính phủ;",
            f"Xét đề nghị của Trưởng thôn {c.choice(['Đông', 'Tây', 'Phước Lộc', 'Suối Cát'])}.",
        ],
    )
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)
    born = long_date(p.born, pad=False) if c.chance(0.5) else dmy(p.born)
    c.p(
        b("Điều 1. "),
        f"Công nhận {p.title} ",
        b(p.name),
        f", sinh ngày {born}, {_id_phrase(c, p.cccd)}, là hòa giải viên của Tổ hòa giải "
        f"thôn {c.choice(['Đông', 'Tây', 'Phước Lộc', 'Suối Cát'])}.",
        key="subject",
        indent=1.0,
    )
    c.subject(p, key="subject", name=p.name, dob=born)
    c.p(b("Điều 2. "), "Quyết định này có hiệu lực kể từ ngày ký.", indent=1.0)
    c.p(
        b("Điều 3. "),
        "Công chức Tư pháp - Hộ tịch, Trưởng thôn và người có tên tại Điều 1 chịu trách nhiệm "
        "thi hành Quyết định này./.",
        indent=1.0,
    )
    signer_block(c, [c.choice(HEADS)], noi_nhan=noi_nhan_default(c, "Như Điều 3;"))
    return c.doc("qd_hoa_giai_vien")


def giay_phep_khai_thac(c: Ctx) -> Doc:
    """GIẤY PHÉP KHAI THÁC THỦY SẢN: the ship owner on labelled lines with the suffix "chủ tàu"."""
    p = c.person(born_between=(1955, 1995))
    header(
        c,
        [
            (f"UBND TỈNH {c.unit.province.upper()}", False),
            ("SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG", True),
        ],
        None,
    )
    title(c, "GIẤY PHÉP KHAI THÁC THỦY SẢN", size=1.15)
    number_under_title(
        c, f"{c.unit.province[:2].upper()}-{c.number(1000, 9999)}/2{c.number(0, 9)}/GPKTTS"
    )
    c.p(i("Có giá trị đến ngày " + dmy(c.issued + dt.timedelta(days=365 * 3))), align="center")
    label = c.choice(["Họ và tên chủ tàu", "Tên chủ tàu", "Chủ tàu (họ và tên)"])
    c.p(f"1. {label}: ", b(p.name), key="subject", before=0.3)
    year_only = c.chance(0.5)
    born = str(p.born.year) if year_only else dmy(p.born)
    c.p(
        f"Năm sinh: {born}" if year_only else f"Ngày sinh: {born}",
        f"    Số định danh cá nhân chủ tàu: {p.cccd}",
        key="subject",
        hang=0.5,
    )
    c.subject(p, key="subject", name=p.name, dob=None if year_only else born)
    c.p(f"Địa chỉ thường trú: {c.address()}", hang=0.5)
    c.p(
        f"2. Số đăng ký tàu: KH-{c.number(90000, 99999)}-TS    "
        f"Chiều dài lớn nhất: {c.number(12, 24)} m"
    )
    c.p(
        f"3. Nghề khai thác: {c.choice(['lưới vây', 'câu vàng', 'lưới rê'])}; "
        "vùng khai thác: vùng khơi."
    )
    signer_block(
        c,
        [c.choice(["GIÁM ĐỐC", "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC"])],
        noi_nhan=["Chủ tàu;", "Chi cục Thủy sản;", "Lưu: VT."],
        date_here=True,
    )
    return c.doc("giay_phep_khai_thac")


def qd_thoi_viec(c: Ctx) -> Doc:
    """Dismissal at one's own request: "Cho thôi việc đối với ông …, sinh ngày …, chức danh …"."""
    p = c.person(born_between=(1965, 1998))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _qd(c, issuer, "QĐ-UBND", c.choice(["Về việc cho thôi việc", "Về việc giải quyết thôi việc"]))
    cancu(
        c,
        [
            "Căn cứ Luật Cán bộ, công chức ngày 13 tháng 11 năm 2008;",
            "Căn cứ Nghị định số 46/2010/NĐ-CP ngày 27 tháng 4 năm 2010 của Chính phủ;",
            f"Xét đơn xin thôi việc ngày {dmy(c.issued - dt.timedelta(days=c.number(20, 60)))} "
            f"của {p.title} {p.name}.",
        ],
    )
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)
    born = dmy(p.born)
    c.p(
        b("Điều 1. "),
        f"{c.choice(['Cho thôi việc đối với', 'Chấp thuận cho'])} {p.title} ",
        b(p.name),
        f", sinh ngày {born}, {_id_phrase(c, p.cccd)}, chức danh: "
        f"{c.choice(['công chức Địa chính - Xây dựng', 'công chức Văn phòng - Thống kê'])}, "
        f"được thôi việc kể từ ngày {dmy(c.issued + dt.timedelta(days=c.number(1, 20)))}.",
        key="subject",
        indent=1.0,
    )
    c.subject(p, key="subject", name=p.name, dob=born)
    c.p(
        b("Điều 2. "),
        f"{p.title.capitalize()} {p.name} được hưởng trợ cấp thôi việc theo quy định.",
        indent=1.0,
    )
    c.p(b("Điều 3. "), "Quyết định này có hiệu lực kể từ ngày ký./.", indent=1.0)
    signer_block(c, [c.choice(HEADS)], noi_nhan=noi_nhan_default(c, "Như Điều 1;"))
    return c.doc("qd_thoi_viec")


def con_nuoi(c: Ctx) -> Doc:
    """GIẤY CHỨNG NHẬN NUÔI CON NUÔI: the adoptive parents print their names, birth dates and
    IDs first; the child adopted, below them, is the subject."""
    born = c.issued - dt.timedelta(days=c.rng.randint(400, 4000))
    base = c.person(minority_share=0.3)
    child = c.born_on(base, born)
    header(c, commune_issuer(c), None, date_top=False)
    title(c, "GIẤY CHỨNG NHẬN\nNUÔI CON NUÔI", size=1.15)
    number_under_title(c, str(c.number(1, 90)), f"{c.number(1, 3):02d}/{c.issued.year}")
    caps = c.chance(0.5)
    for who, male in (("cha nuôi", True), ("mẹ nuôi", False)):
        adult = c.person(male=male, born_between=(1970, 1995))
        c.p(f"Họ, chữ đệm, tên {who}: ", b(name_text(c, adult, caps)), before=0.3)
        c.p(f"Ngày, tháng, năm sinh: {dmy(adult.born)}    Dân tộc: {adult.ethnic}")
        c.p(id_line(c, adult))
        c.p(f"Nơi cư trú: {c.address()}")
    nm = name_text(c, child, caps)
    c.p("Họ, chữ đệm, tên người được nhận làm con nuôi: ", b(nm), key="child", before=0.3)
    c.p(f"Ngày, tháng, năm sinh: {dmy(child.born)}    Giới tính: {child.sex}", key="child")
    c.p(f"Dân tộc: {child.ethnic}    Quốc tịch: Việt Nam", key="child")
    c.p(f"Số định danh cá nhân: {child.cccd}", key="child")
    c.p(f"Nơi cư trú trước khi được nhận làm con nuôi: {c.address()}", key="child")
    c.subject(child, key="child", name=nm, dob=dmy(child.born))
    c.p(f"Nơi đăng ký nuôi con nuôi: Ủy ban nhân dân {c.unit.full}", before=0.3)
    c.p(f"Ngày, tháng, năm đăng ký: {dmy(c.issued)}", key="regdate")
    c.field("ngay_ban_hanh", c.issued.isoformat(), "regdate", dmy(c.issued))
    signer_block(
        c,
        [c.choice(["TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH", "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH"])],
        instruction="(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)" if c.chance(0.5) else None,
    )
    return c.doc("con_nuoi")


EXEMPT = ["học sinh thuộc hộ nghèo", "học sinh khuyết tật", "học sinh mồ côi cả cha lẫn mẹ"]


def mien_hoc_phi(c: Ctx) -> Doc:
    """QUYẾT ĐỊNH miễn học phí: "Miễn học phí cho em …, sinh ngày …, học sinh lớp …, con ông …
    (CCCD số …)": the pupil is the subject; the parent's ID is printed, the pupil's after it."""
    born = c.issued - dt.timedelta(days=c.rng.randint(6 * 365, 17 * 365))
    base = c.person(minority_share=0.4)
    pupil = c.born_on(base, born)
    parent = c.person(born_between=(1970, born.year - 18))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _qd(
        c,
        issuer,
        "QĐ-UBND",
        "Về việc miễn học phí\nnăm học " + f"{c.issued.year}-{c.issued.year + 1}",
    )
    cancu(
        c,
        [
            "Căn cứ Nghị định số 81/2021/NĐ-CP ngày 27 tháng 8 năm 2021 của Chính phủ;",
            f"Xét đơn đề nghị của {parent.title} {parent.name}.",
        ],
    )
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)
    born_text = dmy(born)
    grade = min(12, max(1, c.issued.year - born.year - 6))
    school = "Tiểu học" if grade <= 5 else "THCS" if grade <= 9 else "THPT"
    c.p(
        b("Điều 1. "),
        f"Miễn học phí năm học {c.issued.year}-{c.issued.year + 1} cho em ",
        b(pupil.name),
        f", sinh ngày {born_text}, học sinh lớp {grade}, Trường {school} {c.unit.name}, "
        f"con {parent.title} "
        f"{parent.name} (CCCD số {parent.cccd}); số định danh cá nhân của học sinh: "
        f"{pupil.cccd}.",
        key="subject",
        indent=1.0,
    )
    c.subject(pupil, key="subject", name=pupil.name, dob=born_text)
    c.p(
        b("Điều 2. "),
        "Đối tượng được miễn: " + c.choice(EXEMPT) + ".",
        indent=1.0,
    )
    c.p(b("Điều 3. "), "Quyết định này có hiệu lực kể từ ngày ký./.", indent=1.0)
    signer_block(c, [c.choice(HEADS)], noi_nhan=noi_nhan_default(c, "Như Điều 3;"))
    return c.doc("mien_hoc_phi")


def giay_phep_karaoke(c: Ctx) -> Doc:
    """GIẤY PHÉP KINH DOANH DỊCH VỤ KARAOKE (Nghị định 54/2019): granted to a household business,
    whose legal representative, on labelled lines under it, is the subject; a validity date and
    the application's date are printed too, neither the issue date."""
    p = c.person(born_between=(1965, 2000))
    office = c.choice(["PHÒNG VĂN HÓA VÀ THÔNG TIN", "PHÒNG VĂN HÓA, KHOA HỌC VÀ THÔNG TIN"])
    header(c, district_issuer(c, office), f"{c.number(1, 60)}/GP-{c.choice(['UBND', 'VHTT'])}")
    title(c, "GIẤY PHÉP\nKINH DOANH DỊCH VỤ KARAOKE")
    applied = c.issued - dt.timedelta(days=c.number(8, 25))
    c.p(f"Xét hồ sơ đề nghị cấp giấy phép ngày {dmy(applied)};", indent=1.0)
    c.p(
        b("Cho phép: "),
        b(f"HỘ KINH DOANH KARAOKE {c.choice(['HOÀNG GIA', 'BIỂN XANH', 'SAO MAI'])}"),
    )
    c.p(f"Địa chỉ: {c.address()}")
    c.p("Người đại diện theo pháp luật: ", b(p.name), f"    Giới tính: {p.sex}", key="subject")
    born = dmy(p.born)
    c.p(f"Sinh ngày: {born}    Dân tộc: {p.ethnic}    Quốc tịch: Việt Nam", key="subject")
    c.p(id_line(c, p), key="subject")
    c.subject(p, key="subject", name=p.name, dob=born)
    c.p(f"Được kinh doanh dịch vụ karaoke tại địa điểm trên với {c.number(2, 8)} phòng hát.")
    until = c.issued.replace(year=c.issued.year + 5, day=min(c.issued.day, 28))
    c.p(f"Giấy phép này có hiệu lực đến ngày {dmy(until)}.")
    signer_block(
        c,
        [c.choice(["TRƯỞNG PHÒNG", "KT. TRƯỞNG PHÒNG\nPHÓ TRƯỞNG PHÒNG"])],
        noi_nhan=["Như trên;", "Công an xã;", "Lưu: VT."],
    )
    return c.doc("giay_phep_karaoke")


def xac_nhan_muc_song(c: Ctx) -> Doc:
    """GIẤY XÁC NHẬN HỘ GIA ĐÌNH LÀM NÔNG NGHIỆP, LÂM NGHIỆP, NGƯ NGHIỆP VÀ DIÊM NGHIỆP CÓ MỨC
    SỐNG TRUNG BÌNH: a title over three lines, no number; the head of the household is the
    subject, the members listed under them with birth years; dated above the signer."""
    head = c.person(born_between=(1955, 1990), minority_share=0.3)
    header(c, commune_issuer(c), None, date_top=False)
    title(
        c,
        "GIẤY XÁC NHẬN\nHỘ GIA ĐÌNH LÀM NÔNG NGHIỆP, LÂM NGHIỆP, NGƯ NGHIỆP\n"
        "VÀ DIÊM NGHIỆP CÓ MỨC SỐNG TRUNG BÌNH",
    )
    c.p(f"Ủy ban nhân dân {c.unit.full} xác nhận:", before=0.3)
    c.p("Họ và tên chủ hộ: ", b(head.name), key="subject")
    born = dmy(head.born)
    c.p(f"Ngày, tháng, năm sinh: {born}    Giới tính: {head.sex}", key="subject")
    c.p(f"Số định danh cá nhân: {head.cccd}", key="subject")
    c.subject(head, key="subject", name=head.name, dob=born)
    c.p(f"Nơi thường trú: {c.address()}")
    c.p("Các thành viên trong hộ gia đình:")
    for n, relation in enumerate(c.rng.sample(["Vợ", "Chồng", "Con", "Con", "Mẹ"], 2), 1):
        member = c.person(born_between=(1960, 2015))
        c.p(f"{n}. {member.name}, sinh năm {member.born.year}, quan hệ với chủ hộ: {relation}.")
    c.p(
        f"Là hộ gia đình làm nông nghiệp có mức sống trung bình năm {c.issued.year} theo "
        "quy định tại Nghị định số 07/2021/NĐ-CP."
    )
    signer_block(c, [c.choice(HEADS)], date_here=True)
    return c.doc("xac_nhan_muc_song")
