"""Pieces every result shares (Nghị định 30 layout) and the per-document context forms fill in.

The header (issuer and number left, national motto and place-date right), the title, the person
blocks in their several wordings, and the signer's block beside "Nơi nhận". A form calls these
and marks which printed words each field is read from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass, field

from bench.corpus.doc import Block, Columns, Doc, Para, Run, b, bi, i, r
from bench.corpus.people import Person, date_in_words, dmy, long_date, make_cccd, make_person
from bench.corpus.places import Unit, address, pick_unit
from protocol.messages import FIELD_KEYS

PROVINCE = "Khánh Hòa"
"""Where the corpus's children are born (their IDs' province code)."""

RANKS = ["Thiếu tá", "Trung tá", "Đại úy", "Thượng tá"]


@dataclass
class Ctx:
    """What one document is made of, drawn from its own random stream."""

    rng: random.Random
    split: str
    issued: dt.date
    unit: Unit
    blocks: list[Block] = field(default_factory=list)
    fields: dict[str, str | None] = field(default_factory=dict)
    evidence: dict[str, tuple[str, str]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    long: bool = False  # a fuller variant (more grounds, members, articles): often two pages
    place: str = ""  # the place name of the place-date line: the issuer's own unit

    @staticmethod
    def new(rng: random.Random, split: str) -> Ctx:
        start, end = dt.date(2019, 1, 2), dt.date(2026, 11, 30)
        issued = start + dt.timedelta(days=rng.randrange((end - start).days))
        unit = pick_unit(rng, issued)
        return Ctx(rng, split, issued, unit, long=rng.random() < 0.35, place=unit.place)

    # --- people and numbers -------------------------------------------------------------------

    def person(self, **kw: object) -> Person:
        return make_person(self.rng, self.split, **kw)  # type: ignore[arg-type]

    def born_on(self, base: Person, born: dt.date) -> Person:
        """`base` born on `born` in the province, with an ID of that date: a child, or anyone
        younger than `person`'s range."""
        cccd = make_cccd(self.rng, born, base.male, PROVINCE)
        return dataclasses.replace(base, born=born, cccd=cccd, province=PROVINCE)

    def address(self) -> str:
        return address(self.rng, self.unit)

    def number(self, lo: int = 1, hi: int = 900) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq: list[str]) -> str:
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def signer(self) -> Person:
        return self.person(born_between=(1966, 1990), minority_share=0.15)

    # --- fields -------------------------------------------------------------------------------

    def field(self, name: str, value: str | None, key: str = "", printed: str = "") -> None:
        """Set a field, read from `printed` (default: the value) in paragraphs keyed `key`."""
        self.fields[name] = value
        if value is not None:
            self.evidence[name] = (key or name, printed or value)

    def subject(
        self, p: Person, *, key: str, name: str, dob: str | None, cccd: bool = True
    ) -> None:
        """The result's subject: name, birth date (as printed) and CCCD, all from `key`."""
        self.field("ho_ten", p.name, key, name)
        self.field("ngay_sinh", p.born.isoformat() if dob else None, key, dob or "")
        self.field("cccd", p.cccd if cccd else None, key, p.cccd)
        self.extra["gioi_tinh"] = p.sex

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def p(self, *runs: Run | str, key: str = "", **kw: object) -> Para:
        para = Para([(x, "r") if isinstance(x, str) else x for x in runs], key=key, **kw)  # type: ignore[arg-type]
        self.blocks.append(para)
        return para

    def doc(self, type_id: str) -> Doc:
        for k in FIELD_KEYS:  # the scorer's keys, as DESIGN.md names them
            self.fields.setdefault(k, None)
        return Doc(type_id, self.blocks, self.fields, self.evidence, self.extra)


# --- issuers ------------------------------------------------------------------------------------


def commune_issuer(c: Ctx) -> list[tuple[str, bool]]:
    """The commune People's Committee as its header prints it: (line, bold)."""
    u = c.unit
    name = f"{u.kind.upper()} {u.name.upper()}"
    if u.district and c.chance(0.6):
        return [
            (f"UBND {u.district_kind.upper()} {u.district.upper()}", False),  # type: ignore[union-attr]
            (f"UBND {name}", True),
        ]
    if not u.district and c.chance(0.3):
        return [(f"UBND TỈNH {u.province.upper()}", False), (f"UBND {name}", True)]
    return [("ỦY BAN NHÂN DÂN", True), (name, True)]


def district_issuer(c: Ctx, office: str | None = None) -> list[tuple[str, bool]]:
    """The district (before 2025) or commune (after) committee, or one of its offices."""
    u = c.unit
    top = (f"{u.district_kind} {u.district}" if u.district else f"{u.kind} {u.name}").upper()
    c.place = u.district or u.name  # a district's results are dated from the district's seat
    if office:
        return [(f"UBND {top}", False), (office, True)]
    return [("ỦY BAN NHÂN DÂN", True), (top, True)]


def police_issuer(c: Ctx) -> list[tuple[str, bool]]:
    u = c.unit
    parent = (
        f"CÔNG AN {u.district_kind} {u.district}".upper()
        if u.district
        else f"CÔNG AN TỈNH {u.province.upper()}"
    )
    return [(parent, False), (f"CÔNG AN {u.kind.upper()} {u.name.upper()}", True)]


def issuer_name(lines: list[tuple[str, bool]]) -> str:
    return " ".join(t for t, bold in lines if bold)


# --- the header, title and signer ---------------------------------------------------------------


def place_date(c: Ctx) -> str:
    return f"{c.place}, {long_date(c.issued)}"


def header(
    c: Ctx,
    issuer: list[tuple[str, bool]],
    so: str | None,
    *,
    date_top: bool = True,
    so_label: str = "Số: ",
) -> None:
    """The two-column header; sets co_quan_ban_hanh, so_ky_hieu (when in the header), date."""
    hsize = c.rng.choice([0.9, 0.95, 1.0])
    runs: list[Run] = []
    for k, (text, bold) in enumerate(issuer):
        runs.append(((("\n" if k else "") + text), "b" if bold else "r"))
    left = [Para(runs, align="center", size=hsize, key="issuer", rule=0.35)]
    if so is not None:
        left.append(Para([r(so_label + so)], align="center", size=hsize, key="so", before=0.3))
        c.field("so_ky_hieu", so, "so")
    right = [
        Para(
            [b("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")], align="center", size=hsize * 0.95, fit=True
        ),
        Para([b("Độc lập - Tự do - Hạnh phúc")], align="center", size=hsize, rule=1.0, fit=True),
    ]
    if date_top:
        right.append(
            Para([i(place_date(c))], align="center", size=hsize, key="date", before=0.3, fit=True)
        )
        c.field("ngay_ban_hanh", c.issued.isoformat(), "date", long_date(c.issued))
    c.field("co_quan_ban_hanh", issuer_name(issuer), "issuer")
    c.add(Columns(left, right, kind="header"))


def title(
    c: Ctx, text: str, *, sub: str | None = None, trich_yeu: str | None = None, size: float = 1.08
) -> None:
    c.p(b(text), key="title", align="center", size=size, before=1.0)
    c.field("loai_van_ban", text.replace("\n", " "), "title", text.replace("\n", " "))
    if trich_yeu:
        c.p(b(trich_yeu), key="trich_yeu", align="center", rule=0.3 if c.chance(0.5) else 0.0)
        c.field(
            "trich_yeu", trich_yeu.replace("\n", " "), "trich_yeu", trich_yeu.replace("\n", " ")
        )
    if sub:
        c.p(i(sub), align="center")


def number_under_title(c: Ctx, so: str, book: str | None = None) -> None:
    """ "Số: 57" (no type symbol) under the title, with "Quyển số" beside it on some forms."""
    runs: list[Run] = [r(f"Số: {so}")]
    if book:
        runs.append(r(f"{'   ' if c.chance(0.5) else chr(10)}Quyển số: {book}"))
    c.p(*runs, key="so", align="center" if c.chance(0.6) else "left", before=0.2)
    c.field("so_ky_hieu", so, "so")


def signer_block(
    c: Ctx,
    heads: list[str],
    *,
    noi_nhan: list[str] | None = None,
    instruction: str | None = None,
    rank: str | None = None,
    date_here: bool = False,
    seal: bool = True,
    who: Person | None = None,
) -> None:
    """The signer's block (right) beside "Nơi nhận" (left); sets nguoi_ky (without rank)."""
    who = who or c.signer()
    right: list[Para] = []
    if date_here:
        right.append(Para([i(place_date(c))], align="center", key="date", fit=True))
        c.field("ngay_ban_hanh", c.issued.isoformat(), "date", long_date(c.issued))
    right.append(Para([b("\n".join(heads))], align="center"))
    if instruction:
        right.append(Para([i(instruction)], align="center", size=0.85))
    right[-1].gap = c.rng.uniform(3.2, 4.4)
    right[-1].sign = True
    right[-1].seal = seal
    shown = f"{rank} {who.name}" if rank else who.name
    right.append(Para([b(shown)], align="center", key="signer"))
    c.field("nguoi_ky", who.name, "signer")
    left: list[Para] = []
    if noi_nhan:
        left.append(Para([bi("Nơi nhận:")], size=0.85))
        left.append(Para([r("\n".join(f"- {x}" for x in noi_nhan))], size=0.8))
    c.add(
        Columns(
            left,
            right,
            left_frac=c.rng.uniform(0.42, 0.5),
            kind="signature",
            before=c.rng.uniform(0.5, 1.2),
        )
    )


# --- person lines -------------------------------------------------------------------------------

NAME_LABELS = ["Họ, chữ đệm, tên", "Họ, chữ đệm và tên", "Họ và tên"]


def name_text(c: Ctx, p: Person, caps: bool) -> str:
    return p.name.upper() if caps else p.name


def id_line(c: Ctx, p: Person, style: str | None = None) -> str:
    """One of the ways a result prints a person's ID number."""
    style = style or c.choice(["dinh_danh", "giay_to", "giay_to", "cccd"])
    if style == "dinh_danh":
        return f"Số định danh cá nhân: {p.cccd}"
    if style == "cccd":
        return f"Số CCCD: {p.cccd}"
    issued = c.issued - dt.timedelta(days=c.rng.randint(200, 2400))
    if issued < p.born.replace(year=p.born.year + 14, day=min(p.born.day, 28)):
        return f"Số định danh cá nhân: {p.cccd}"  # too young for a card then
    place = c.choice(["Cục Cảnh sát quản lý hành chính về trật tự xã hội", "Bộ Công an"])
    kind = "Căn cước công dân" if issued < dt.date(2024, 7, 1) else "Thẻ căn cước"
    return f"Giấy tờ tùy thân: {kind} số {p.cccd}, cấp ngày {dmy(issued)}, nơi cấp: {place}"


def dob_line(
    c: Ctx, p: Person, *, words: bool | None = None, label: str = "Ngày, tháng, năm sinh"
) -> tuple[str, str]:
    """("Ngày, tháng, năm sinh: 28/04/1985 ghi bằng chữ: …", the printed date)."""
    words = c.chance(0.4) if words is None else words
    text = f"{label}: {dmy(p.born)}"
    if words:
        w = date_in_words(p.born)
        text += f" ghi bằng chữ: {w[0].upper()}{w[1:]}"
    return text, dmy(p.born)


def person_lines(
    c: Ctx,
    p: Person,
    *,
    key: str,
    label_suffix: str = "",
    caps: bool = False,
    subject: bool = False,
    words: bool | None = None,
    ethnic: bool = True,
    residence: bool = True,
    id_style: str | None = None,
) -> None:
    """A labelled block for one person; the subject's fields are read from it."""
    label = c.choice(NAME_LABELS) + label_suffix
    nm = name_text(c, p, caps)
    c.p(f"{label}: ", b(nm) if caps or c.chance(0.3) else r(nm), key=key)
    dob, printed = dob_line(c, p, words=words)
    c.p(dob, key=key)
    if ethnic:
        c.p(f"Giới tính: {p.sex}    Dân tộc: {p.ethnic}    Quốc tịch: Việt Nam", key=key)
    c.p(id_line(c, p, id_style), key=key)
    if residence:
        c.p(f"Nơi cư trú: {c.address()}", key=key)
    if subject:
        c.subject(p, key=key, name=nm, dob=printed)


def prose_person(c: Ctx, p: Person, lead: str, *, key: str, subject: bool, tail: str = "") -> Para:
    """The person in running prose: "Cho phép bà …, sinh ngày …, số định danh cá nhân …"."""
    born = long_date(p.born, pad=False) if c.chance(0.5) else dmy(p.born)
    born_txt = f"sinh ngày {born}" if c.chance(0.8) else f"ngày sinh {born}"
    idt = c.choice(
        [
            f"số định danh cá nhân {p.cccd}",
            f"số định danh cá nhân: {p.cccd}",
            f"Căn cước công dân số {p.cccd}",
        ]
    )
    para = c.p(
        f"{lead} {p.title} ",
        b(p.name),
        f", {born_txt}, {idt}, địa chỉ thường trú: {c.address()}{tail}",
        key=key,
        indent=1.0,
    )
    if subject:
        c.subject(p, key=key, name=p.name, dob=born)
    return para


def cancu(c: Ctx, items: list[str]) -> None:
    for it in items:
        c.p(i(it) if c.chance(0.3) else r(it), key="cancu", indent=1.0)


def noi_nhan_default(c: Ctx, *extra: str) -> list[str]:
    return [*extra, "Lưu: VT" + c.choice(["", ", LĐTBXH", ", HS"]) + "."]
