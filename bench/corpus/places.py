"""Places for the corpus: Khánh Hòa's units before and after the 2025 reform, and addresses.

From 1 July 2025 local government has two levels and Ninh Thuận is part of Khánh Hòa (65 commune-
level units); a result issued before keeps its old issuer with its district. The unit a document
names follows its issue date.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

REFORM = dt.date(2025, 7, 1)

# After the reform: (kind, name) of the new commune-level units (a selection of the 65).
NEW_UNITS = [
    ("phường", "Bắc Nha Trang"),
    ("phường", "Tây Nha Trang"),
    ("phường", "Nam Nha Trang"),
    ("phường", "Bắc Cam Ranh"),
    ("phường", "Cam Linh"),
    ("phường", "Ba Ngòi"),
    ("phường", "Đông Ninh Hòa"),
    ("phường", "Hòa Thắng"),
    ("phường", "Phan Rang"),
    ("phường", "Đông Hải"),
    ("phường", "Ninh Chử"),
    ("phường", "Bảo An"),
    ("phường", "Đô Vinh"),
    ("xã", "Nam Cam Ranh"),
    ("xã", "Bắc Ninh Hòa"),
    ("xã", "Tân Định"),
    ("xã", "Tây Ninh Hòa"),
    ("xã", "Hòa Trí"),
    ("xã", "Đại Lãnh"),
    ("xã", "Tu Bông"),
    ("xã", "Vạn Hưng"),
    ("xã", "Diên Khánh"),
    ("xã", "Diên Lạc"),
    ("xã", "Diên Điền"),
    ("xã", "Diên Lâm"),
    ("xã", "Diên Thọ"),
    ("xã", "Suối Hiệp"),
    ("xã", "Cam Lâm"),
    ("xã", "Suối Dầu"),
    ("xã", "Cam Hiệp"),
    ("xã", "Cam An"),
    ("xã", "Bắc Khánh Vĩnh"),
    ("xã", "Trung Khánh Vĩnh"),
    ("xã", "Tây Khánh Vĩnh"),
    ("xã", "Nam Khánh Vĩnh"),
    ("xã", "Khánh Vĩnh"),
    ("xã", "Khánh Sơn"),
    ("xã", "Tây Khánh Sơn"),
    ("xã", "Đông Khánh Sơn"),
    ("xã", "Ninh Phước"),
    ("xã", "Phước Hữu"),
    ("xã", "Phước Hậu"),
    ("xã", "Thuận Nam"),
    ("xã", "Cà Ná"),
    ("xã", "Phước Hà"),
    ("xã", "Phước Dinh"),
    ("xã", "Ninh Hải"),
    ("xã", "Xuân Hải"),
    ("xã", "Vĩnh Hải"),
    ("xã", "Thuận Bắc"),
    ("xã", "Công Hải"),
    ("xã", "Ninh Sơn"),
    ("xã", "Lâm Sơn"),
    ("xã", "Anh Dũng"),
    ("xã", "Mỹ Sơn"),
    ("xã", "Bác Ái Đông"),
    ("xã", "Bác Ái"),
    ("xã", "Bác Ái Tây"),
]
NEW_PROVINCE = "Khánh Hòa"

# Before the reform: (province, district kind, district, commune kind, commune).
OLD_UNITS = [
    ("Khánh Hòa", "huyện", "Khánh Vĩnh", "xã", "Sơn Thái"),
    ("Khánh Hòa", "huyện", "Khánh Vĩnh", "xã", "Khánh Thượng"),
    ("Khánh Hòa", "huyện", "Khánh Vĩnh", "thị trấn", "Khánh Vĩnh"),
    ("Khánh Hòa", "huyện", "Khánh Sơn", "xã", "Ba Cụm Bắc"),
    ("Khánh Hòa", "huyện", "Khánh Sơn", "xã", "Sơn Hiệp"),
    ("Khánh Hòa", "huyện", "Khánh Sơn", "thị trấn", "Tô Hạp"),
    ("Khánh Hòa", "thị xã", "Ninh Hòa", "xã", "Ninh Phụng"),
    ("Khánh Hòa", "thị xã", "Ninh Hòa", "phường", "Ninh Hiệp"),
    ("Khánh Hòa", "thị xã", "Ninh Hòa", "xã", "Ninh Tây"),
    ("Khánh Hòa", "thành phố", "Nha Trang", "phường", "Lộc Thọ"),
    ("Khánh Hòa", "thành phố", "Nha Trang", "xã", "Vĩnh Lương"),
    ("Khánh Hòa", "thành phố", "Cam Ranh", "phường", "Cam Nghĩa"),
    ("Khánh Hòa", "thành phố", "Cam Ranh", "xã", "Cam Thịnh Đông"),
    ("Khánh Hòa", "huyện", "Cam Lâm", "xã", "Cam Hải Đông"),
    ("Khánh Hòa", "huyện", "Diên Khánh", "xã", "Diên Sơn"),
    ("Khánh Hòa", "huyện", "Diên Khánh", "thị trấn", "Diên Khánh"),
    ("Khánh Hòa", "huyện", "Vạn Ninh", "xã", "Vạn Khánh"),
    ("Ninh Thuận", "huyện", "Bác Ái", "xã", "Phước Bình"),
    ("Ninh Thuận", "huyện", "Bác Ái", "xã", "Phước Chính"),
    ("Ninh Thuận", "huyện", "Thuận Bắc", "xã", "Phước Chiến"),
    ("Ninh Thuận", "huyện", "Ninh Phước", "xã", "Phước Thuận"),
    ("Ninh Thuận", "huyện", "Ninh Phước", "thị trấn", "Phước Dân"),
    ("Ninh Thuận", "huyện", "Ninh Sơn", "xã", "Quảng Sơn"),
    ("Ninh Thuận", "thành phố", "Phan Rang - Tháp Chàm", "phường", "Kinh Dinh"),
]

HAMLETS = [
    "thôn Suối Cát",
    "thôn Tà Giang",
    "thôn Hòn Dung",
    "buôn Đa Trang",
    "thôn Liên Sang",
    "thôn Phú Thọ",
    "thôn Văn Lâm",
    "thôn Hiệp Thành",
    "tổ dân phố Phước Hải",
    "tổ dân phố Bình Tân 2",
    "khu phố Đông Hải",
    "thôn Ma Nới",
    "thôn Đá Trắng",
    "thôn Chà Là",
    "thôn Hữu Đức",
    "thôn Tà Nĩa",
    "thôn Hòa Bình",
    "thôn Suối Thủy",
]
STREETS = [
    "đường Lê Hồng Phong",
    "đường 23 Tháng 10",
    "đường Phạm Văn Đồng",
    "đường Thống Nhất",
    "đường Trần Phú",
    "đường Hùng Vương",
    "đường Nguyễn Thị Minh Khai",
    "đường 16 Tháng 4",
]


@dataclass(frozen=True)
class Unit:
    """A commune-level unit as it was named on a date, with its district before the reform."""

    kind: str  # xã / phường / thị trấn
    name: str
    district_kind: str | None
    district: str | None
    province: str

    @property
    def full(self) -> str:
        """ "xã Sơn Thái, huyện Khánh Vĩnh, tỉnh Khánh Hòa" or "xã Cam An, tỉnh Khánh Hòa"."""
        parts = [f"{self.kind} {self.name}"]
        if self.district:
            parts.append(f"{self.district_kind} {self.district}")
        parts.append(f"tỉnh {self.province}")
        return ", ".join(parts)

    @property
    def place(self) -> str:
        """The place name of the place-date line."""
        return self.name


def pick_unit(rng: random.Random, on: dt.date) -> Unit:
    """A commune-level unit as named on the issue date."""
    if on >= REFORM:
        kind, name = rng.choice(NEW_UNITS)
        return Unit(kind, name, None, None, NEW_PROVINCE)
    province, dkind, district, kind, name = rng.choice(OLD_UNITS)
    return Unit(kind, name, dkind, district, province)


def address(rng: random.Random, unit: Unit) -> str:
    """A residence address in the unit."""
    if rng.random() < 0.4:
        head = f"Số {rng.randint(2, 240)} {rng.choice(STREETS)}"
    else:
        head = rng.choice(HAMLETS)
        head = head[0].upper() + head[1:]
    return f"{head}, {unit.full}"
