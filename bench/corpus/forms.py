"""The result types the corpus typesets, and which part of the corpus each belongs to.

The holdout part uses types that never appear in the dev part (and other fonts and given names),
so a reader tuned on dev is measured on documents it has never seen.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.corpus import certificates, civil, decisions, more
from bench.corpus.doc import Doc
from bench.corpus.parts import Ctx

Builder = Callable[[Ctx], Doc]

TYPES: dict[str, Builder] = {
    # civil status (Thông tư 04/2020/TT-BTP)
    "khai_sinh": civil.khai_sinh,
    "trich_luc_khai_sinh": civil.trich_luc_khai_sinh,
    "trich_luc_khai_tu": civil.trich_luc_khai_tu,
    "ket_hon": civil.ket_hon,
    "xac_nhan_tthn": civil.xac_nhan_tthn,
    "cai_chinh": civil.cai_chinh,
    "nhan_cha_me_con": civil.nhan_cha_me_con,
    "giam_ho": civil.giam_ho,
    # residence (Thông tư 66/2023/TT-BCA)
    "xac_nhan_cu_tru": certificates.xac_nhan_cu_tru,
    "thong_bao_cu_tru": certificates.thong_bao_cu_tru,
    # social protection (Nghị định 20/2021)
    "qd_tro_cap": decisions.qd_tro_cap,
    "qd_mai_tang": decisions.qd_mai_tang,
    "qd_cham_soc": decisions.qd_cham_soc,
    "ho_ngheo": certificates.ho_ngheo,
    # land and construction
    "qd_chuyen_muc_dich": decisions.qd_chuyen_muc_dich,
    "qd_giao_dat": decisions.qd_giao_dat,
    "giay_phep_xay_dung": certificates.giay_phep_xay_dung,
    # business
    "ho_kinh_doanh": certificates.ho_kinh_doanh,
    "giay_phep_ruou": certificates.giay_phep_ruou,
    "an_toan_thuc_pham": certificates.an_toan_thuc_pham,
    # others
    "xac_nhan_khuyet_tat": certificates.xac_nhan_khuyet_tat,
    "chung_thuc_chu_ky": certificates.chung_thuc_chu_ky,
    # added to dev after the readers were tuned (bench/corpus/more.py)
    "qd_xu_phat": more.qd_xu_phat,
    "qd_tro_cap_mot_lan": more.qd_tro_cap_mot_lan,
    "qd_hoa_giai_vien": more.qd_hoa_giai_vien,
    "giay_phep_khai_thac": more.giay_phep_khai_thac,
    "qd_thoi_viec": more.qd_thoi_viec,
    "con_nuoi": more.con_nuoi,
    "mien_hoc_phi": more.mien_hoc_phi,
    "giay_phep_karaoke": more.giay_phep_karaoke,
    "xac_nhan_muc_song": more.xac_nhan_muc_song,
}

HOLDOUT_TYPES = frozenset(
    {
        "nhan_cha_me_con",
        "giam_ho",
        "thong_bao_cu_tru",
        "qd_cham_soc",
        "qd_giao_dat",
        "xac_nhan_khuyet_tat",
        "giay_phep_ruou",
        "an_toan_thuc_pham",
    }
)

FONT_MIX = {
    "dev": {
        "Tinos": 0.3,
        "Liberation Serif": 0.2,
        "TeX Gyre Termes": 0.25,
        "DejaVu Serif": 0.1,
        "TeX Gyre Bonum": 0.15,
    },
    "holdout": {
        "Noto Serif": 0.3,
        "TeX Gyre Pagella": 0.25,
        "TeX Gyre Schola": 0.15,
        "Tinos": 0.15,
        "TeX Gyre Termes": 0.15,
    },
}


def types_of(split: str) -> list[str]:
    """The result types of a split, in a fixed order."""
    if split == "holdout":
        return [t for t in TYPES if t in HOLDOUT_TYPES]
    return [t for t in TYPES if t not in HOLDOUT_TYPES]
