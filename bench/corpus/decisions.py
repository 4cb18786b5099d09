"""Decisions (QUYẾT ĐỊNH) with the subject in running prose: social protection (Nghị định
20/2021: monthly allowance, funeral support, care support) and land (change of land use, land
allocation)."""

from __future__ import annotations

import datetime as dt

from bench.corpus.doc import Doc, b
from bench.corpus.parts import (
    Ctx,
    cancu,
    commune_issuer,
    district_issuer,
    header,
    noi_nhan_default,
    prose_person,
    signer_block,
    title,
)
from bench.corpus.people import dmy, long_date

LAW_LOCAL = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
]

PROPOSERS = [
    "Trưởng phòng Lao động - Thương binh và Xã hội",
    "Trưởng phòng Văn hóa - Xã hội",
    "công chức Văn hóa - Xã hội",
]
LAND_PRICES = ["1.200.000", "2.500.000", "850.000"]


def _authority(c: Ctx, issuer: list[tuple[str, bool]]) -> str:
    body = " ".join(t for t, bold in issuer if bold).replace("UBND ", "ỦY BAN NHÂN DÂN ")
    return f"CHỦ TỊCH {body}"


def _heads(c: Ctx) -> list[str]:
    return [
        c.choice(
            [
                "TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH",
                "TM. ỦY BAN NHÂN DÂN\nKT. CHỦ TỊCH\nPHÓ CHỦ TỊCH",
                "CHỦ TỊCH",
                "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH",
            ]
        )
    ]


def _decision_head(c: Ctx, issuer: list[tuple[str, bool]], trich_yeu: str, laws: list[str]) -> None:
    header(c, issuer, f"{c.number(10, 4999)}/QĐ-{c.choice(['UBND', 'UBND', 'CTUBND'])}")
    title(c, "QUYẾT ĐỊNH", trich_yeu=trich_yeu)
    c.p(b(_authority(c, issuer)), align="center", before=0.6)
    local = LAW_LOCAL[0] if c.issued >= dt.date(2025, 3, 1) else LAW_LOCAL[1]
    more = []
    if c.long:
        more = [
            "Căn cứ Luật Ban hành văn bản quy phạm pháp luật ngày 19 tháng 02 năm 2025;"
            if c.issued >= dt.date(2025, 4, 1)
            else "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về "
            "công tác văn thư;",
            f"Căn cứ Quyết định số {c.number(100, 3999)}/QĐ-UBND ngày {c.number(1, 28)} tháng "
            f"{c.number(1, 12)} năm {c.issued.year - 1} của Ủy ban nhân dân tỉnh "
            f"{c.unit.province} về việc công bố danh mục thủ tục hành chính;",
            f"Xét hồ sơ đề nghị ngày {dmy(c.issued - dt.timedelta(days=c.number(5, 40)))} và "
            "biên bản thẩm định của bộ phận chuyên môn;",
        ]
    cancu(c, [local, *laws[:-1], *more, *laws[-1:]])


def _as_art(c: Ctx) -> str:
    """ "Nơi nhận" names the article that says who executes the decision."""
    return "Như Điều 4;" if c.long else "Như Điều 3;"


def _decide(c: Ctx) -> None:
    c.p(b("QUYẾT ĐỊNH:"), align="center", before=0.4)


def _execute(c: Ctx, who: str) -> None:
    named = "ông" if c.extra.get("gioi_tinh") == "Nam" else "bà"  # the subject of Điều 1
    if c.long:
        c.p(
            b("Điều 3. "),
            "Giao bộ phận chuyên môn theo dõi, kiểm tra việc thực hiện; định kỳ rà soát, báo cáo "
            "cấp có thẩm quyền khi đối tượng thay đổi điều kiện hưởng, thay đổi nơi cư trú hoặc "
            "chết để điều chỉnh, thôi hưởng theo quy định.",
            indent=1.0,
        )
        c.p(
            b("Điều 4. "),
            f"Văn phòng HĐND và UBND, {who}, Kho bạc Nhà nước khu vực và "
            f"{named} có tên tại Điều 1 chịu trách nhiệm thi hành "
            "Quyết định này./.",
            indent=1.0,
        )
        return
    c.p(
        b("Điều 3. "),
        f"Văn phòng HĐND và UBND, {who} và {named} có tên tại Điều 1 "
        "chịu trách nhiệm thi hành Quyết định này./.",
        indent=1.0,
    )


def qd_tro_cap(c: Ctx) -> Doc:
    p = c.person(born_between=(1930, 1960), minority_share=0.35)
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    kind = c.choice(["người cao tuổi", "người khuyết tật nặng", "đối tượng bảo trợ xã hội"])
    _decision_head(
        c,
        issuer,
        f"Về việc trợ cấp xã hội hằng tháng đối với {kind}",
        [
            "Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ quy định "
            "chính sách trợ giúp xã hội đối với đối tượng bảo trợ xã hội;",
            f"Xét đề nghị của {c.choice(PROPOSERS)}.",
        ],
    )
    _decide(c)
    lead = c.choice(
        [
            "Điều 1. Trợ cấp xã hội hằng tháng đối với",
            "Điều 1. Thực hiện chế độ trợ cấp xã hội hằng tháng đối với",
        ]
    )
    prose_person(c, p, lead, key="subject", subject=True, tail=".")
    amount = c.choice(["500.000", "750.000", "1.000.000", "360.000"])
    c.p(
        f"Mức trợ cấp hằng tháng: {amount} đồng (hệ số {c.choice(['1,5', '2,0', '2,5', '3,0'])}).",
        indent=1.0,
    )
    start = c.issued.replace(day=1) + dt.timedelta(days=32)
    c.p(f"Thời điểm hưởng: kể từ {long_date(start.replace(day=1), pad=False)}.", indent=1.0)
    c.p(b("Điều 2. "), "Quyết định này có hiệu lực kể từ ngày ký.", indent=1.0)
    _execute(
        c,
        c.choice(
            ["Trưởng phòng Văn hóa - Xã hội", "Trưởng phòng Lao động - Thương binh và Xã hội"]
        ),
    )
    signer_block(
        c, _heads(c), noi_nhan=noi_nhan_default(c, _as_art(c), "Kho bạc Nhà nước khu vực;")
    )
    return c.doc("qd_tro_cap")


def qd_mai_tang(c: Ctx) -> Doc:
    """Funeral support: the deceased is the subject; the organiser receives the money."""
    dead = c.person(born_between=(1925, 1965), minority_share=0.35)
    org = c.person(born_between=(1955, 1995))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _decision_head(
        c,
        issuer,
        c.choice(
            [
                "Về việc hỗ trợ chi phí mai táng",
                "Về việc hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội",
            ]
        ),
        [
            "Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ;",
            f"Xét Tờ khai đề nghị hỗ trợ chi phí mai táng của {org.title} {org.name}.",
        ],
    )
    _decide(c)
    died = c.issued - dt.timedelta(days=c.rng.randint(10, 60))
    prose_person(
        c,
        dead,
        "Điều 1. Hỗ trợ chi phí mai táng đối với",
        key="subject",
        subject=True,
        tail=f", đã chết ngày {dmy(died)}.",
    )
    c.p(
        f"Người tổ chức mai táng: {org.title} {org.name}, sinh năm {org.born.year}, "
        f"{'Căn cước công dân số' if c.chance(0.5) else 'số định danh cá nhân'} {org.cccd}; "
        f"quan hệ với người chết: {c.choice(['con', 'vợ', 'chồng', 'cháu'])}.",
        indent=1.0,
    )
    c.p(f"Mức hỗ trợ: {c.choice(['7.200.000', '9.000.000', '18.000.000'])} đồng.", indent=1.0)
    c.p(b("Điều 2. "), "Quyết định này có hiệu lực kể từ ngày ký.", indent=1.0)
    _execute(c, "Trưởng phòng Văn hóa - Xã hội")
    signer_block(c, _heads(c), noi_nhan=noi_nhan_default(c, _as_art(c)))
    return c.doc("qd_mai_tang")


def qd_cham_soc(c: Ctx) -> Doc:
    """Care support: the person cared for is the subject; the carer is named too."""
    p = c.person(born_between=(1935, 2015), minority_share=0.4)
    carer = c.person(born_between=(1960, 1998))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _decision_head(
        c,
        issuer,
        "Về việc hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng",
        [
            "Căn cứ Nghị định số 20/2021/NĐ-CP ngày 15 tháng 3 năm 2021 của Chính phủ "
            "quy định chính sách trợ giúp xã hội đối với đối tượng bảo trợ xã hội;"
        ],
    )
    _decide(c)
    c.p(
        b("Điều 1. "),
        f"Hỗ trợ kinh phí chăm sóc, nuôi dưỡng hằng tháng cho {carer.title} "
        f"{carer.name}, {id_short(c, carer)}, là người nhận chăm sóc, nuôi dưỡng đối tượng sau:",
        indent=1.0,
    )
    nm = p.name
    c.p(f"- Họ và tên đối tượng: {nm}", key="subject", indent=1.0)
    c.p(f"- Ngày, tháng, năm sinh: {dmy(p.born)}", key="subject", indent=1.0)
    c.p(f"- Số định danh cá nhân: {p.cccd}", key="subject", indent=1.0)
    c.subject(p, key="subject", name=nm, dob=dmy(p.born))
    c.p(
        f"Mức hỗ trợ: {c.choice(['540.000', '900.000', '1.080.000'])} đồng/tháng, kể từ tháng "
        f"{c.issued.month}/{c.issued.year}.",
        indent=1.0,
    )
    c.p(b("Điều 2. "), "Quyết định này có hiệu lực kể từ ngày ký.", indent=1.0)
    _execute(c, "công chức Văn hóa - Xã hội")
    signer_block(c, _heads(c), noi_nhan=noi_nhan_default(c, _as_art(c)))
    return c.doc("qd_cham_soc")


def id_short(c: Ctx, p) -> str:  # type: ignore[no-untyped-def]
    return c.choice([f"số định danh cá nhân {p.cccd}", f"Căn cước công dân số {p.cccd}"])


def qd_chuyen_muc_dich(c: Ctx) -> Doc:
    """Change of land use: "Cho phép bà …, sinh ngày …, số định danh cá nhân …"."""
    p = c.person(born_between=(1950, 1998))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _decision_head(
        c,
        issuer,
        "Về việc cho phép chuyển mục đích sử dụng đất",
        [
            "Căn cứ Luật Đất đai ngày 18 tháng 01 năm 2024;"
            if c.issued >= dt.date(2024, 8, 1)
            else "Căn cứ Luật Đất đai ngày 29 tháng 11 năm 2013;",
            "Xét đề nghị của Trưởng phòng "
            + c.choice(["Tài nguyên và Môi trường", "Kinh tế", "Nông nghiệp và Môi trường"])
            + ".",
        ],
    )
    _decide(c)
    area = f"{c.number(40, 400)},{c.number(0, 9)}"
    prose_person(
        c,
        p,
        "Điều 1. Cho phép",
        key="subject",
        subject=True,
        tail=f" được chuyển mục đích sử dụng {area} m² đất từ đất trồng cây lâu năm sang đất ở"
        f" tại nông thôn, thuộc thửa đất số {c.number(10, 900)}, tờ bản đồ số {c.number(1, 60)}.",
    )
    c.p("Thời hạn sử dụng đất: lâu dài. Hình thức: giao đất có thu tiền sử dụng đất.", indent=1.0)
    c.p(
        b("Điều 2. "),
        f"{p.title.capitalize()} {p.name} có trách nhiệm nộp tiền sử dụng đất theo "
        "quy định và sử dụng đất đúng mục đích.",
        indent=1.0,
    )
    _execute(c, "Trưởng phòng Kinh tế")
    signer_block(c, _heads(c), noi_nhan=noi_nhan_default(c, _as_art(c), "Chi cục Thuế khu vực;"))
    return c.doc("qd_chuyen_muc_dich")


def qd_giao_dat(c: Ctx) -> Doc:
    """Land allocation for a house, the recipient in prose."""
    p = c.person(born_between=(1955, 2000))
    issuer = district_issuer(c) if c.unit.district else commune_issuer(c)
    _decision_head(
        c,
        issuer,
        "Về việc giao đất ở cho hộ gia đình, cá nhân",
        [
            "Căn cứ Luật Đất đai ngày 18 tháng 01 năm 2024;",
            "Căn cứ Nghị định số 102/2024/NĐ-CP ngày 30 tháng 7 năm 2024 của Chính phủ;",
        ],
    )
    _decide(c)
    prose_person(
        c,
        p,
        "Điều 1. Giao cho",
        key="subject",
        subject=True,
        tail=f", diện tích {c.number(80, 300)} m² đất ở tại {c.address()} để xây dựng nhà ở.",
    )
    c.p(
        f"Giá đất tính tiền sử dụng đất: {c.choice(LAND_PRICES)} đồng/m².",
        indent=1.0,
    )
    c.p(b("Điều 2. "), "Giao Phòng Kinh tế tổ chức bàn giao đất trên thực địa.", indent=1.0)
    _execute(c, "Trưởng phòng Kinh tế")
    signer_block(c, _heads(c), noi_nhan=noi_nhan_default(c, _as_art(c)))
    return c.doc("qd_giao_dat")
