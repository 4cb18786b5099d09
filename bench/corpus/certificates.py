"""Certificates, permits and confirmations: residence (Thông tư 66/2023/TT-BCA), construction
permits, household business, poor-household certificates, attestation, food safety, alcohol
retail, disability."""

from __future__ import annotations

from bench.corpus.doc import Doc, b, i
from bench.corpus.parts import (
    RANKS,
    Ctx,
    commune_issuer,
    district_issuer,
    dob_line,
    header,
    id_line,
    noi_nhan_default,
    number_under_title,
    person_lines,
    police_issuer,
    signer_block,
    title,
)
from bench.corpus.people import date_in_words, dmy, long_date

RELATIONS = ["Vợ", "Chồng", "Con", "Con", "Mẹ", "Cháu"]

DESIGNERS = [
    "Công ty TNHH Tư vấn Thiết kế Xây dựng Hải Âu",
    "chủ hộ tự thiết kế",
    "Công ty Cổ phần Kiến trúc Nam Trung Bộ",
]
LAND_OFFICES = ["Sở Tài nguyên và Môi trường", "Văn phòng đăng ký đất đai"]
DISABILITIES = [
    "Khuyết tật vận động",
    "Khuyết tật nghe, nói",
    "Khuyết tật nhìn",
    "Khuyết tật thần kinh, tâm thần",
    "Khuyết tật trí tuệ",
]
DISABILITY_LEVELS = ["Khuyết tật nhẹ", "Khuyết tật nặng", "Khuyết tật đặc biệt nặng"]
FOOD_TRADES = ["chế biến thực phẩm", "kinh doanh dịch vụ ăn uống", "sản xuất nước mắm"]
HKD_PREFIXES = ["37", "40", "41"]


def xac_nhan_cu_tru(c: Ctx) -> Doc:
    """XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ (CT07): the person asked about, and the household."""
    p = c.person(born_between=(1950, 2005), minority_share=0.35)
    header(c, police_issuer(c), f"{c.number()}/{c.choice(['XN', 'XNCT', 'CAX-XN'])}")
    title(c, "XÁC NHẬN\nTHÔNG TIN VỀ CƯ TRÚ" if c.chance(0.5) else "XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ")
    c.p(
        f"Công an {c.unit.kind} {c.unit.name} xác nhận thông tin về cư trú của công dân như sau:",
        before=0.3,
        indent=1.0,
    )
    person_lines(
        c, p, key="subject", subject=True, caps=c.chance(0.5), residence=False, id_style="dinh_danh"
    )
    here = c.address()
    c.p(f"Nơi thường trú: {here}")
    c.p(f"Nơi ở hiện tại: {here}")
    c.p(f"Họ, chữ đệm và tên chủ hộ: {p.name if c.chance(0.5) else c.person().name}")
    c.p(f"Quan hệ với chủ hộ: {c.choice(['Chủ hộ', 'Vợ', 'Con', 'Cháu'])}")
    c.p(b("Thông tin về các thành viên trong hộ gia đình:"), before=0.3)
    for k in range(c.rng.randint(5, 9) if c.long else c.rng.randint(2, 5)):
        m = c.person(born_between=(1945, 2020))
        c.p(
            f"{k + 1}. Họ, chữ đệm và tên: {m.name}; Ngày sinh: {dmy(m.born)}; Giới tính: {m.sex}; "
            f"Số định danh cá nhân: {m.cccd}; Quan hệ với chủ hộ: {c.choice(RELATIONS)}",
            hang=0.5,
        )
    c.p(i("Giấy xác nhận này có giá trị 30 ngày kể từ ngày cấp."), before=0.3)
    signer_block(
        c,
        [
            c.choice(
                ["TRƯỞNG CÔNG AN XÃ", "TRƯỞNG CÔNG AN", "KT. TRƯỞNG CÔNG AN\nPHÓ TRƯỞNG CÔNG AN"]
            ).replace("XÃ", c.unit.kind.upper())
        ],
        noi_nhan=["Công dân;", "Lưu: HSCT."] if c.chance(0.6) else None,
        instruction="(Ký, ghi rõ họ tên, đóng dấu)" if c.chance(0.5) else None,
        rank=c.choice(RANKS),
    )
    return c.doc("xac_nhan_cu_tru")


def thong_bao_cu_tru(c: Ctx) -> Doc:
    """THÔNG BÁO on a residence registration: the registered citizen in prose."""
    p = c.person(born_between=(1950, 2005))
    header(c, police_issuer(c), f"{c.number()}/TB-{c.choice(['CAX', 'CAP'])}")
    what = c.choice(["đăng ký thường trú", "đăng ký tạm trú", "điều chỉnh thông tin về cư trú"])
    title(c, "THÔNG BÁO", trich_yeu=f"Về kết quả giải quyết {what}")
    nm = p.name.upper() if c.chance(0.5) else p.name
    c.p(
        f"Công an {c.unit.kind} {c.unit.name} thông báo đã giải quyết hồ sơ {what} cho công dân ",
        b(nm),
        key="subject",
        before=0.4,
        indent=1.0,
    )
    dob = dmy(p.born)
    c.p(f"Ngày, tháng, năm sinh: {dob}; Số định danh cá nhân: {p.cccd}", key="subject", indent=1.0)
    c.subject(p, key="subject", name=nm, dob=dob)
    c.p(f"Địa chỉ: {c.address()}.", indent=1.0)
    c.p(
        "Thông tin của công dân đã được cập nhật vào Cơ sở dữ liệu về cư trú ngày "
        f"{dmy(c.issued)}.",
        indent=1.0,
    )
    signer_block(
        c,
        ["TRƯỞNG CÔNG AN"],
        noi_nhan=["Công dân;", "Lưu: HSCT."],
        rank=c.choice(RANKS),
        instruction="(Ký, ghi rõ họ tên, đóng dấu)" if c.chance(0.5) else None,
    )
    return c.doc("thong_bao_cu_tru")


def giay_phep_xay_dung(c: Ctx) -> Doc:
    """GIẤY PHÉP XÂY DỰNG (nhà ở riêng lẻ): number under the title, "Cấp cho: Ông …"."""
    p = c.person(born_between=(1955, 1998))
    office = "PHÒNG KINH TẾ, HẠ TẦNG VÀ ĐÔ THỊ" if c.unit.district else "PHÒNG KINH TẾ"
    header(c, district_issuer(c, office if c.chance(0.4) else None), None)
    title(c, "GIẤY PHÉP XÂY DỰNG", size=1.2)
    number_under_title(c, f"{c.number(10, 900)}/GPXD")
    c.p(i("Sử dụng cho nhà ở riêng lẻ"), align="center")
    c.p(b("1. Cấp cho: "), f"{p.title.capitalize()} ", b(p.name), key="subject", before=0.3)
    dob = dmy(p.born)
    c.p(f"Sinh ngày: {dob}    Số định danh cá nhân: {p.cccd}", key="subject", hang=0.5)
    c.subject(p, key="subject", name=p.name, dob=dob)
    c.p(f"Địa chỉ: {c.address()}", hang=0.5)
    c.p(b("2. Được phép xây dựng công trình: "), "Nhà ở riêng lẻ")
    c.p(
        f"- Theo thiết kế: do {c.choice(DESIGNERS)} lập.",
        hang=0.5,
    )
    c.p(
        f"- Vị trí xây dựng: thửa đất số {c.number(10, 900)}, tờ bản đồ số {c.number(1, 60)}, "
        f"{c.unit.full}.",
        hang=0.5,
    )
    c.p(
        f"- Diện tích xây dựng tầng 1: {c.number(50, 180)} m²; tổng diện tích sàn: "
        f"{c.number(100, 400)} m².",
        hang=0.5,
    )
    c.p(
        f"- Chiều cao công trình: {c.number(6, 14)},{c.number(0, 9)} m; số tầng: {c.number(1, 4)}.",
        hang=0.5,
    )
    c.p(
        b("3. Giấy tờ về quyền sử dụng đất: "),
        f"Giấy chứng nhận số {c.choice(['CS', 'DĐ', 'BX'])} "
        f"{c.number(100000, 999999)} do {c.choice(LAND_OFFICES)} cấp.",
    )
    c.p(b("4. Giấy phép có hiệu lực khởi công xây dựng trong thời hạn 12 tháng kể từ ngày cấp."))
    signer_block(
        c,
        [c.choice(["TRƯỞNG PHÒNG", "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH", "CHỦ TỊCH"])],
        noi_nhan=["Chủ đầu tư;", "Lưu: VT."],
    )
    return c.doc("giay_phep_xay_dung")


def ho_kinh_doanh(c: Ctx) -> Doc:
    """GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH: no Số line; the owner is the subject."""
    p = c.person(born_between=(1960, 2002))
    office = "PHÒNG TÀI CHÍNH - KẾ HOẠCH" if c.unit.district else "PHÒNG KINH TẾ"
    header(c, district_issuer(c, office), None, date_top=False)
    title(c, "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH")
    c.p(
        "Mã số hộ kinh doanh: "
        f"{c.choice(HKD_PREFIXES)}{c.choice(['A', 'B', 'C'])}{c.number(1000000, 9999999)}",
        align="center",
    )
    c.p(f"Đăng ký lần đầu: {long_date(c.issued)}", align="center", key="date")
    c.field("ngay_ban_hanh", c.issued.isoformat(), "date", long_date(c.issued))
    trade = c.choice(
        ["TẠP HÓA", "QUÁN ĂN", "SỬA CHỮA XE MÁY", "BÁN LẺ THỰC PHẨM", "CÀ PHÊ GIẢI KHÁT"]
    )
    c.p(f"1. Tên hộ kinh doanh: HỘ KINH DOANH {trade} {p.name.split()[-1].upper()}", before=0.3)
    c.p(f"2. Địa điểm kinh doanh: {c.address()}")
    c.p(f"3. Ngành, nghề kinh doanh: {trade.capitalize()}")
    c.p(f"4. Vốn kinh doanh: {c.number(20, 500)}.000.000 đồng")
    c.p("5. Thông tin về chủ hộ kinh doanh:")
    c.p("Họ và tên chủ hộ kinh doanh: ", b(p.name.upper()), key="subject", hang=0.5)
    dob, printed = dob_line(c, p, words=False, label="Ngày sinh")
    c.p(f"{dob}    Giới tính: {p.sex}    Dân tộc: {p.ethnic}", key="subject", hang=0.5)
    c.p(id_line(c, p, c.choice(["giay_to", "dinh_danh"])), key="subject", hang=0.5)
    c.subject(p, key="subject", name=p.name.upper(), dob=printed)
    c.p(f"Nơi thường trú: {c.address()}", hang=0.5)
    signer_block(c, [c.choice(["TRƯỞNG PHÒNG", "KT. TRƯỞNG PHÒNG\nPHÓ TRƯỞNG PHÒNG"])])
    return c.doc("ho_kinh_doanh")


def ho_ngheo(c: Ctx) -> Doc:
    """GIẤY CHỨNG NHẬN HỘ NGHÈO, HỘ CẬN NGHÈO: the head of household is the subject."""
    p = c.person(born_between=(1945, 1995), minority_share=0.5)
    header(c, commune_issuer(c), f"{c.number()}/GCN-UBND")
    kind = c.choice(["HỘ NGHÈO", "HỘ CẬN NGHÈO"])
    title(c, f"GIẤY CHỨNG NHẬN {kind}")
    c.p(f"Ủy ban nhân dân {c.unit.kind} {c.unit.name} chứng nhận:", before=0.3, indent=1.0)
    c.p("Hộ ông/bà (chủ hộ): ", b(p.name), key="subject")
    dob = dmy(p.born)
    c.p(f"Ngày sinh: {dob}    Số định danh cá nhân: {p.cccd}", key="subject")
    c.subject(p, key="subject", name=p.name, dob=dob)
    c.p(f"Địa chỉ: {c.address()}")
    c.p(f"Là {kind.lower()} năm {c.issued.year} theo chuẩn nghèo đa chiều giai đoạn 2022 - 2025.")
    c.p("Danh sách thành viên trong hộ:", before=0.2)
    for k in range(c.rng.randint(6, 10) if c.long else c.rng.randint(2, 6)):
        m = c.person(born_between=(1945, 2020), group=None)
        c.p(
            f"{k + 1}. {m.name}, sinh năm {m.born.year}, quan hệ với chủ hộ: "
            f"{c.choice(RELATIONS).lower()}",
            hang=0.5,
        )
    c.p(i(f"Giấy chứng nhận có giá trị đến ngày 31/12/{c.issued.year}."), before=0.2)
    signer_block(
        c, ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"], noi_nhan=noi_nhan_default(c, "Hộ gia đình;")
    )
    return c.doc("ho_ngheo")


def xac_nhan_khuyet_tat(c: Ctx) -> Doc:
    """GIẤY XÁC NHẬN KHUYẾT TẬT (Nghị định 28/2012, Thông tư 01/2019/TT-BLĐTBXH)."""
    p = c.person(born_between=(1940, 2018), minority_share=0.4)
    header(c, commune_issuer(c), f"{c.number()}/GXNKT")
    title(c, "GIẤY XÁC NHẬN KHUYẾT TẬT")
    c.p(f"Chủ tịch Ủy ban nhân dân {c.unit.kind} {c.unit.name} xác nhận:", before=0.3, indent=1.0)
    caps = c.chance(0.4)
    nm = p.name.upper() if caps else p.name
    c.p("Họ và tên người khuyết tật: ", b(nm), key="subject")
    dob, printed = dob_line(c, p, words=c.chance(0.3), label="Ngày, tháng, năm sinh")
    c.p(dob, key="subject")
    c.p(f"Giới tính: {p.sex}", key="subject")
    c.p(id_line(c, p, c.choice(["dinh_danh", "giay_to"])), key="subject")
    c.subject(p, key="subject", name=nm, dob=printed)
    c.p(f"Nơi cư trú: {c.address()}")
    c.p(f"Dạng khuyết tật: {c.choice(DISABILITIES)}")
    c.p(f"Mức độ khuyết tật: {c.choice(DISABILITY_LEVELS)}")
    if c.chance(0.6):
        g = c.person(born_between=(1950, 1995))
        c.p(f"Họ và tên người đại diện hợp pháp: {g.name}; {id_line(c, g, 'cccd')}")
    signer_block(
        c,
        ["CHỦ TỊCH" if c.chance(0.5) else "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH"],
        instruction="(Ký, ghi rõ họ tên và đóng dấu)" if c.chance(0.5) else None,
    )
    return c.doc("xac_nhan_khuyet_tat")


def giay_phep_ruou(c: Ctx) -> Doc:
    """GIẤY PHÉP BÁN LẺ RƯỢU (Nghị định 105/2017): "Cấp cho: Hộ kinh doanh …, do ông … làm chủ"."""
    p = c.person(born_between=(1960, 2000))
    office = "PHÒNG KINH TẾ VÀ HẠ TẦNG" if c.unit.district else "PHÒNG KINH TẾ"
    header(
        c, district_issuer(c, office), f"{c.number(1, 200)}/GP-{c.choice(['KTHT', 'PKT', 'UBND'])}"
    )
    title(c, "GIẤY PHÉP\nBÁN LẺ SẢN PHẨM RƯỢU")
    c.p(
        i(
            "Căn cứ Nghị định số 105/2017/NĐ-CP ngày 14 tháng 9 năm 2017 của Chính phủ về kinh "
            "doanh rượu;"
        ),
        indent=1.0,
        before=0.3,
    )
    c.p(i("Xét hồ sơ đề nghị cấp Giấy phép bán lẻ sản phẩm rượu của hộ kinh doanh;"), indent=1.0)
    trade = c.choice(["TẠP HÓA", "BÁCH HÓA", "ĐẠI LÝ"])
    c.p(b("1. Cấp cho: "), f"Hộ kinh doanh {trade.title()} {p.name.split()[-1]}", before=0.2)
    c.p(
        f"Do {p.title} ",
        b(p.name),
        f" làm chủ, sinh ngày {dmy(p.born)}, số định danh cá nhân {p.cccd}",
        key="subject",
        hang=0.5,
    )
    c.subject(p, key="subject", name=p.name, dob=dmy(p.born))
    c.p(f"Địa điểm kinh doanh: {c.address()}", hang=0.5)
    c.p(
        "Mã số hộ kinh doanh: "
        f"{c.number(10, 99)}{c.choice(['A', 'B'])}{c.number(1000000, 9999999)}",
        hang=0.5,
    )
    c.p(
        b("2. Được phép bán lẻ sản phẩm rượu "),
        "có độ cồn từ 5,5 độ trở lên tại địa điểm nêu trên.",
    )
    c.p(
        b("3. "),
        "Giấy phép này có giá trị đến ngày "
        f"{dmy(c.issued.replace(year=c.issued.year + 5, day=min(c.issued.day, 28)))}.",
    )
    signer_block(
        c,
        [c.choice(["TRƯỞNG PHÒNG", "KT. TRƯỞNG PHÒNG\nPHÓ TRƯỞNG PHÒNG"])],
        noi_nhan=["Như Điều 1;", "Lưu: VT."],
    )
    return c.doc("giay_phep_ruou")


def an_toan_thuc_pham(c: Ctx) -> Doc:
    """GIẤY CHỨNG NHẬN CƠ SỞ ĐỦ ĐIỀU KIỆN AN TOÀN THỰC PHẨM: the owner is the subject."""
    p = c.person(born_between=(1960, 2000))
    office = "PHÒNG Y TẾ" if c.unit.district else "PHÒNG VĂN HÓA - XÃ HỘI"
    header(c, district_issuer(c, office), None)
    title(c, "GIẤY CHỨNG NHẬN\nCƠ SỞ ĐỦ ĐIỀU KIỆN AN TOÀN THỰC PHẨM", size=1.0)
    number_under_title(c, f"{c.number(1, 300)}/{c.issued.year}/ATTP-CNĐK")
    shop = c.choice(
        ["Bếp ăn tập thể", "Cơ sở chế biến nước mắm", "Cơ sở sản xuất bánh tráng", "Nhà hàng"]
    )
    c.p(b("Chứng nhận: "), f"{shop} {p.name.split()[-1]}", before=0.3)
    c.p(f"Chủ cơ sở: {p.title.capitalize()} ", b(p.name), key="subject")
    c.p(f"Ngày sinh: {dmy(p.born)}; Căn cước công dân số: {p.cccd}", key="subject")
    c.subject(p, key="subject", name=p.name, dob=dmy(p.born))
    c.p(f"Địa chỉ: {c.address()}")
    c.p(f"Đủ điều kiện an toàn thực phẩm theo quy định đối với: {c.choice(FOOD_TRADES)}.")
    c.p(i("Giấy chứng nhận có hiệu lực 03 năm kể từ ngày cấp."), before=0.2)
    signer_block(c, ["KT. TRƯỞNG PHÒNG\nPHÓ TRƯỞNG PHÒNG" if c.chance(0.5) else "TRƯỞNG PHÒNG"])
    return c.doc("an_toan_thuc_pham")


def chung_thuc_chu_ky(c: Ctx) -> Doc:
    """Attestation of a signature (Nghị định 23/2015, Thông tư 01/2020/TT-BTP): the person who
    signed before the official is the subject; the number is "Số chứng thực", not "Số:"."""
    p = c.person(born_between=(1950, 2004))
    header(c, commune_issuer(c), None, date_top=c.chance(0.5))
    title(
        c,
        "LỜI CHỨNG CHỨNG THỰC CHỮ KÝ"
        if c.chance(0.5)
        else "LỜI CHỨNG\nCỦA NGƯỜI THỰC HIỆN CHỨNG THỰC",
    )
    words = date_in_words(c.issued)
    c.p(
        f"Hôm nay, {long_date(c.issued)} (Bằng chữ: {words[0].upper()}{words[1:]})",
        before=0.3,
        indent=1.0,
    )
    c.p(f"Tại Ủy ban nhân dân {c.unit.kind} {c.unit.name}", indent=1.0)
    off = c.signer()
    c.p(
        f"Tôi, {off.name}, {c.choice(['Chủ tịch', 'Phó Chủ tịch'])} Ủy ban nhân dân "
        f"{c.unit.kind} {c.unit.name}",
        indent=1.0,
    )
    c.p(b("Chứng thực:"), indent=1.0)
    c.p(
        f"{p.title.capitalize()} ",
        b(p.name),
        f", sinh ngày {dmy(p.born)},",
        key="subject",
        indent=1.0,
    )
    c.p(f"Giấy tờ tùy thân: Căn cước công dân số {p.cccd}", key="subject", indent=1.0)
    c.subject(p, key="subject", name=p.name, dob=dmy(p.born))
    c.p(
        "đã ký vào giấy tờ này trước mặt tôi và chịu hoàn toàn trách nhiệm về nội dung của "
        "giấy tờ.",
        indent=1.0,
    )
    c.p(
        f"Số chứng thực {c.number(1, 900)}, quyển số "
        f"{c.number(1, 5):02d}/{c.issued.year}-SCT/CK,ĐC",
        indent=1.0,
    )
    # the attesting official signs; only the signature block names them as nguoi_ky
    signer = [("CHỦ TỊCH" if c.chance(0.5) else "PHÓ CHỦ TỊCH")]
    signer_block(
        c,
        signer,
        instruction="(Ký, đóng dấu và ghi rõ họ tên)",
        date_here=not c.fields.get("ngay_ban_hanh"),
        who=off,
    )
    return c.doc("chung_thuc_chu_ky")
