"""The readers on result types none of the generators makes, written from public forms (a
commendation, a residence confirmation, a social allowance, a household business's certificate,
a death extract, a fine, a building permit, a land allocation, a birth certificate with both
parents, a pension, a poor-household certificate, a marriage certificate, a criminal record,
a signature's authentication, a household's recognition, an allowance stopped, a motorbike's
registration). Text as printed:
this checks the readers alone, on layouts and wordings they were not written against.
"""

from __future__ import annotations

import pytest

from edge.fields import extract

DOCS = {
    "khen_thuong": """UBND HUYỆN DIÊN KHÁNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ DIÊN PHÚ Độc lập - Tự do - Hạnh phúc
Số: 45/QĐ-UBND Diên Phú, ngày 12 tháng 3 năm 2023
QUYẾT ĐỊNH
Về việc tặng Giấy khen
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ DIÊN PHÚ
Căn cứ Luật Thi đua, Khen thưởng ngày 15 tháng 6 năm 2022;
QUYẾT ĐỊNH:
Điều 1. Tặng Giấy khen cho ông Phạm Văn Hùng, sinh năm 1978, trú tại thôn Phú Ân Nam 2, xã
Diên Phú, đã có thành tích xuất sắc trong phong trào xây dựng nông thôn mới.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
Nơi nhận: CHỦ TỊCH
- Như Điều 1;
- Lưu: VT.
Lê Văn Tám
""",
    "cu_tru": """CÔNG AN TỈNH KHÁNH HÒA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
CÔNG AN XÃ NINH XUÂN Độc lập - Tự do - Hạnh phúc
Số: 112/XN-CAX Ninh Xuân, ngày 05 tháng 7 năm 2024
XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ
Công an xã Ninh Xuân xác nhận:
1. Họ, chữ đệm và tên: NGUYỄN THỊ MAI
2. Ngày, tháng, năm sinh: 14/02/1990 3. Giới tính: Nữ
4. Số định danh cá nhân: 056190004512
5. Nơi thường trú: Thôn Tân Mỹ, xã Ninh Xuân, thị xã Ninh Hòa, tỉnh Khánh Hòa
6. Họ, chữ đệm và tên chủ hộ: Trần Văn Bình Quan hệ với chủ hộ: Vợ
Xác nhận này có giá trị 30 ngày kể từ ngày cấp.
TRƯỞNG CÔNG AN XÃ
Thượng úy Hồ Văn Sơn
""",
    "tro_cap": """ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
XÃ CAM HÒA Độc lập - Tự do - Hạnh phúc
Số: 78/QĐ-UBND Cam Hòa, ngày 20 tháng 9 năm 2023
QUYẾT ĐỊNH
Về việc trợ cấp xã hội hàng tháng đối với người cao tuổi
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ CAM HÒA
QUYẾT ĐỊNH:
Điều 1. Trợ cấp xã hội hàng tháng đối với bà Đặng Thị Lụa, sinh ngày 03/05/1942, số định
danh cá nhân 056142001234, thường trú tại thôn Văn Thủy 1, xã Cam Hòa, huyện Cam Lâm.
Mức trợ cấp hàng tháng: 540.000 đồng.
Điều 2. Thời gian hưởng từ tháng 10 năm 2023.
Nơi nhận: KT. CHỦ TỊCH
- Như Điều 1; PHÓ CHỦ TỊCH
- Lưu: VT.
Võ Thị Hạnh
""",
    "ho_kinh_doanh": """UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
PHÒNG TÀI CHÍNH - KẾ HOẠCH Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH
Số: 37H8001234
Đăng ký lần đầu: ngày 02 tháng 8 năm 2022
1. Tên hộ kinh doanh: TẠP HÓA MINH TÂM
2. Địa điểm kinh doanh: Thôn Tân Sinh Đông, xã Cam Tân, huyện Cam Lâm
3. Ngành, nghề kinh doanh: Bán lẻ hàng tạp hóa
4. Vốn kinh doanh: 50.000.000 đồng
5. Họ và tên đại diện hộ kinh doanh: Lương Minh Tâm Giới tính: Nam
Sinh ngày: 17/11/1985 Dân tộc: Kinh Quốc tịch: Việt Nam
Số định danh cá nhân: 056085007788
TRƯỞNG PHÒNG
Nguyễn Hữu Lộc
""",
    "khai_tu": """UBND HUYỆN VẠN NINH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ VẠN THẠNH Độc lập - Tự do - Hạnh phúc
TRÍCH LỤC KHAI TỬ
Số: 15/TLKT-BS
Họ, chữ đệm, tên: BÙI VĂN TƯ
Ngày, tháng, năm sinh: 09/09/1939 Giới tính: Nam
Số định danh cá nhân: 056039000321
Đã chết vào lúc: 08 giờ 30 phút, ngày 14/01/2024
Nơi chết: tại nhà
Họ, chữ đệm, tên người đi khai tử: BÙI THỊ HOA
Giấy tờ tùy thân: CCCD số 056175002222
Nơi đăng ký: UBND xã Vạn Thạnh, huyện Vạn Ninh, tỉnh Khánh Hòa
Ngày đăng ký: 16/01/2024
NGƯỜI KÝ TRÍCH LỤC
Trần Thanh Nhàn
""",
    "xu_phat": """UBND HUYỆN KHÁNH SƠN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ SƠN BÌNH Độc lập - Tự do - Hạnh phúc
Số: 09/QĐ-XPHC Sơn Bình, ngày 11 tháng 4 năm 2024
QUYẾT ĐỊNH
Xử phạt vi phạm hành chính
QUYẾT ĐỊNH:
Điều 1. Xử phạt vi phạm hành chính đối với:
Ông (bà): Cao Minh Khôi Giới tính: Nam
Ngày, tháng, năm sinh: 25/12/1996 Quốc tịch: Việt Nam
Số định danh cá nhân: 056096011122
Nơi ở hiện tại: Thôn Tà Giang 1, xã Sơn Bình
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Mấu Văn Quý
""",
}

H = """UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ CAM THÀNH BẮC Độc lập - Tự do - Hạnh phúc
Số: {num} Cam Thành Bắc, ngày 08 tháng 6 năm 2023
"""

MORE = {
    "xay_dung": H.format(num="21/GPXD")
    + """GIẤY PHÉP XÂY DỰNG
Số: 21/GPXD
1. Cấp cho: Ông Huỳnh Tấn Phát
Địa chỉ: Thôn Tân Thành, xã Cam Thành Bắc, huyện Cam Lâm
Số định danh cá nhân: 056080012345
2. Được phép xây dựng công trình: Nhà ở riêng lẻ
CHỦ TỊCH
Lê Minh Châu
""",
    "dat": H.format(num="134/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc giao đất ở cho hộ gia đình, cá nhân
QUYẾT ĐỊNH:
Điều 1. Giao 150 m2 đất ở tại thôn Tân Thành cho hộ ông Lê Quang Vinh (sinh năm 1965, số
định danh cá nhân 056065004455) và bà Nguyễn Thị Lệ (vợ).
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
Nơi nhận: TM. ỦY BAN NHÂN DÂN
- Như Điều 1; CHỦ TỊCH
- Lưu: VT.
Nguyễn Văn Sáu
""",
    "khai_sinh": H.format(num="88")
    + """GIẤY KHAI SINH
Họ, chữ đệm, tên: TRẦN GIA BẢO
Ngày, tháng, năm sinh: 02/02/2023 ghi bằng chữ: Ngày hai, tháng hai, năm hai nghìn không
trăm hai mươi ba
Giới tính: Nam Dân tộc: Kinh Quốc tịch: Việt Nam
Số định danh cá nhân: 056223000999
Họ, chữ đệm, tên người mẹ: PHAN THỊ THU
Năm sinh: 1995 Số định danh cá nhân: 056195001111
Họ, chữ đệm, tên người cha: TRẦN VĂN TÚ
Năm sinh: 1993 Số định danh cá nhân: 056093002222
Người đi khai sinh: Trần Văn Tú Quan hệ với người được khai sinh: Cha
NGƯỜI KÝ GIẤY KHAI SINH
Hồ Thị Kim Loan
""",
    "huu_tri": H.format(num="512/QĐ-BHXH")
    + """QUYẾT ĐỊNH
Về việc hưởng lương hưu hằng tháng
GIÁM ĐỐC BẢO HIỂM XÃ HỘI TỈNH KHÁNH HÒA
QUYẾT ĐỊNH:
Điều 1. Ông/Bà: Nguyễn Thị Thanh Xuân Sinh ngày 11 tháng 11 năm 1968
Số sổ bảo hiểm xã hội: 5601234567 Số định danh cá nhân: 056168003344
Được hưởng lương hưu hằng tháng kể từ ngày 01/12/2023.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
KT. GIÁM ĐỐC
PHÓ GIÁM ĐỐC
Đoàn Văn Lực
""",
    "ngheo": H.format(num="33/GCN-UBND")
    + """GIẤY CHỨNG NHẬN HỘ NGHÈO
Ủy ban nhân dân xã Cam Thành Bắc chứng nhận:
Hộ ông/bà (chủ hộ): Lò Văn Páo
Số định danh cá nhân: 056077005566
Địa chỉ: Thôn Suối Cốc, xã Cam Thành Bắc
Là hộ nghèo năm 2023 theo chuẩn nghèo đa chiều giai đoạn 2022 - 2025.
Danh sách thành viên trong hộ:
1. Lò Thị Xuân, sinh năm 1980, quan hệ với chủ hộ: vợ
2. Lò Văn Tài, sinh năm 2005, quan hệ với chủ hộ: con
TM. ỦY BAN NHÂN DÂN
CHỦ TỊCH
Phan Đình Quý
""",
    "ket_hon": H.format(num="17")
    + """GIẤY CHỨNG NHẬN KẾT HÔN
Họ, chữ đệm, tên vợ: ĐINH THỊ NGỌC ÁNH
Ngày, tháng, năm sinh: 30/04/1998 Dân tộc: Kinh Quốc tịch: Việt Nam
Số định danh cá nhân: 056198007777
Họ, chữ đệm, tên chồng: VÕ MINH ĐỨC
Ngày, tháng, năm sinh: 15/08/1996 Dân tộc: Kinh Quốc tịch: Việt Nam
Số định danh cá nhân: 056096008888
Nơi đăng ký: UBND xã Cam Thành Bắc
CHỦ TỊCH
Lê Minh Châu
""",
}

OTHERS = {
    "ly_lich": """SỞ TƯ PHÁP TỈNH KHÁNH HÒA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Số: 1204/STP-LLTP Khánh Hòa, ngày 19 tháng 10 năm 2023
PHIẾU LÝ LỊCH TƯ PHÁP SỐ 1
Căn cứ Luật Lý lịch tư pháp ngày 17 tháng 6 năm 2009;
SỞ TƯ PHÁP TỈNH KHÁNH HÒA CHỨNG NHẬN:
1. Họ và tên: PHÙNG THỊ DIỄM
2. Giới tính: Nữ 3. Ngày, tháng, năm sinh: 07/07/1991
4. Nơi sinh: Diên Khánh, Khánh Hòa 5. Quốc tịch: Việt Nam
6. Nơi cư trú: Tổ dân phố 3, thị trấn Diên Khánh
7. Số định danh cá nhân: 056191006655
8. Họ và tên cha: Phùng Văn Lợi
9. Họ và tên mẹ: Đoàn Thị Nga
10. Án tích: Không có án tích
KT. GIÁM ĐỐC
PHÓ GIÁM ĐỐC
Trương Công Định
""",
    "chung_thuc": """UBND HUYỆN NINH HÒA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ NINH LỘC Độc lập - Tự do - Hạnh phúc
LỜI CHỨNG CỦA NGƯỜI THỰC HIỆN CHỨNG THỰC
Ngày 03/03/2024 (Ngày ba tháng ba năm hai nghìn không trăm hai mươi bốn)
Tại Ủy ban nhân dân xã Ninh Lộc, thị xã Ninh Hòa, tỉnh Khánh Hòa.
Tôi, Nguyễn Thị Hồng, là công chức Tư pháp - Hộ tịch xã Ninh Lộc.
Chứng thực: Ông Võ Đình Nghĩa, số định danh cá nhân 056082004567, đã ký vào giấy ủy quyền
này trước mặt tôi.
Số chứng thực: 55 Quyển số: 01/2024-SCT/CK
NGƯỜI THỰC HIỆN CHỨNG THỰC
Nguyễn Thị Hồng
""",
    "cong_nhan": """UBND HUYỆN CAM LÂM CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ SUỐI TÂN Độc lập - Tự do - Hạnh phúc
Số: 61/QĐ-UBND Suối Tân, ngày 14 tháng 11 năm 2022
QUYẾT ĐỊNH
Về việc công nhận hộ gia đình thoát nghèo
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ SUỐI TÂN
Xét đề nghị của ông Huỳnh Văn Lễ, Trưởng thôn Suối Lau;
QUYẾT ĐỊNH:
Điều 1. Công nhận hộ gia đình bà Tạ Thị Lài (số định danh cá nhân 056170009911), thôn Suối
Lau, là hộ thoát nghèo năm 2022.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
Nơi nhận: KT. CHỦ TỊCH
- Như Điều 1; PHÓ CHỦ TỊCH
- Lưu: VT.
Huỳnh Thị Kim Sa
""",
    "thu_hoi": """UBND HUYỆN KHÁNH VĨNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ KHÁNH NAM Độc lập - Tự do - Hạnh phúc
Số: 07/QĐ-UBND Khánh Nam, ngày 01 tháng 02 năm 2024
QUYẾT ĐỊNH
Về việc thôi hưởng trợ cấp xã hội hàng tháng
CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ KHÁNH NAM
QUYẾT ĐỊNH:
Điều 1. Thôi hưởng trợ cấp xã hội hàng tháng đối với:
Ông: Cao Văn Bốn
Ngày, tháng, năm sinh: 10/10/1950
Số định danh cá nhân: 056050003131
Lý do: Đã chết.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Mang Văn Thới
""",
    "xe": """CÔNG AN TỈNH KHÁNH HÒA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
CÔNG AN XÃ CAM HIỆP NAM Độc lập - Tự do - Hạnh phúc
GIẤY CHỨNG NHẬN ĐĂNG KÝ XE MÔ TÔ, XE GẮN MÁY
Số: 079912
Tên chủ xe: Lâm Thị Tuyết
Số định danh cá nhân: 056188002468
Địa chỉ: Thôn Vĩnh Thái, xã Cam Hiệp Nam, huyện Cam Lâm
Nhãn hiệu: HONDA Số loại: WAVE ALPHA
Biển số đăng ký: 79-G1 123.45
Cam Hiệp Nam, ngày 22 tháng 5 năm 2024
TRƯỞNG CÔNG AN XÃ
Đại úy Nguyễn Thành Trung
""",
}

H4 = """UBND HUYỆN VẠN NINH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ VẠN LƯƠNG Độc lập - Tự do - Hạnh phúc
Số: {num} Vạn Lương, ngày 30 tháng 12 năm 2023
"""

LAYOUTS = {
    "caps_prose": H4.format(num="201/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc hỗ trợ chi phí mai táng
QUYẾT ĐỊNH:
Điều 1. Hỗ trợ chi phí mai táng cho gia đình ông TRƯƠNG VĂN MƯỜI, sinh ngày 12/01/1945, số
định danh cá nhân 056045001010, đã chết ngày 20/12/2023.
Người nhận hỗ trợ: bà Trương Thị Hà (con gái), số định danh cá nhân 056178002020.
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
CHỦ TỊCH
Lê Thị Bông
""",
    "spaced_id": H4.format(num="88/XN-UBND")
    + """GIẤY XÁC NHẬN
Ủy ban nhân dân xã Vạn Lương xác nhận:
Họ và tên: Ngô Bảo Châu
Ngày sinh: 28/06/2001
Số CCCD: 0560 0100 3434
Hiện cư trú tại thôn Tứ Chánh, xã Vạn Lương.
Giấy xác nhận này cấp để bổ sung hồ sơ xin việc làm.
CHỦ TỊCH
Lê Thị Bông
""",
    "cmnd9": H4.format(num="89/XN-UBND")
    + """GIẤY XÁC NHẬN
Ủy ban nhân dân xã Vạn Lương xác nhận:
Ông: Đoàn Văn Thắng Sinh năm: 1958
CMND số: 225012345 cấp ngày 12/03/2010 tại Công an Khánh Hòa
Là người có công với cách mạng.
CHỦ TỊCH
Lê Thị Bông
""",
    "table_row": H4.format(num="210/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc trợ cấp khó khăn đột xuất
QUYẾT ĐỊNH:
Điều 1. Trợ cấp khó khăn đột xuất cho người có tên sau:
STT Họ và tên Ngày sinh Số định danh cá nhân Số tiền
1 Mai Xuân Lộc 04/04/1977 056077004040 2.000.000
Điều 2. Quyết định có hiệu lực kể từ ngày ký.
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
Trần Văn Hai
""",
    "date_words": H4.format(num="90/XN-UBND")
    + """GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN
Họ, chữ đệm, tên: Dương Thị Kiều Oanh
Ngày, tháng, năm sinh: 05/09/1994
Giới tính: Nữ Dân tộc: Kinh Quốc tịch: Việt Nam
Giấy tờ tùy thân: Căn cước công dân số 056194005151, cấp ngày 10/10/2021
Tình trạng hôn nhân: Chưa đăng ký kết hôn với ai.
Giấy này được cấp để: đăng ký kết hôn.
CHỦ TỊCH
Lê Thị Bông
""",
}

H5 = """UBND HUYỆN DIÊN KHÁNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
UBND XÃ DIÊN ĐIỀN Độc lập - Tự do - Hạnh phúc
Số: {num} Diên Điền, ngày 15 tháng 8 năm 2024
"""
T5 = "\nCHỦ TỊCH\nHà Văn Nhân\n"

WORDINGS = {
    "mot_lan": H5.format(num="300/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc trợ cấp một lần
QUYẾT ĐỊNH:
Điều 1. Giải quyết chế độ trợ cấp một lần cho: Bà Hồ Thị Thu Sương, sinh ngày 06/06/1956,
số định danh cá nhân 056156004141.
Điều 2. Quyết định có hiệu lực kể từ ngày ký."""
    + T5,
    "kinh_gui": H5.format(num="44/TB-UBND")
    + """THÔNG BÁO
Về việc trả hồ sơ
Kính gửi: Ông Phan Văn Khỏe
Địa chỉ: Thôn Trường Thạnh, xã Diên Điền
Ủy ban nhân dân xã Diên Điền thông báo hồ sơ của ông đã được giải quyết."""
    + T5,
    "nguoi_huong": H5.format(num="301/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc hưởng trợ cấp
QUYẾT ĐỊNH:
Điều 1. Người được hưởng trợ cấp:
Họ tên người hưởng: Tôn Thất Bảo
Ngày sinh: 01/01/1960 Số CCCD: 056060007070
Điều 2. Quyết định có hiệu lực kể từ ngày ký."""
    + T5,
    "caps_label": H5.format(num="45/XN-UBND")
    + """GIẤY XÁC NHẬN
HỌ VÀ TÊN: LƯU THỊ HẠNH
NGÀY SINH: 11/11/1988
SỐ ĐỊNH DANH CÁ NHÂN: 056188001212
Được xác nhận là người đang cư trú tại xã Diên Điền."""
    + T5,
    "ocr_label": H5.format(num="46/XN-UBND")
    + """GIẤY XÁC NHẬN
Ho và tên ; Lý Văn Nghĩa
Ngay sinh: 03/03/1983
So dinh danh ca nhan: 056083003030
Được xác nhận là người đang cư trú tại xã Diên Điền."""
    + T5,
    "to_chuc": H5.format(num="302/QĐ-UBND")
    + """QUYẾT ĐỊNH
Về việc khen thưởng tập thể
QUYẾT ĐỊNH:
Điều 1. Tặng Giấy khen cho Trường Tiểu học Diên Điền đã có thành tích xuất sắc năm học 2023-2024.
Điều 2. Quyết định có hiệu lực kể từ ngày ký."""
    + T5,
}

# What a reader of each page would write down (the subject, not a parent, requester or signer).
EXPECTED: dict[str, dict[str, str | None]] = {
    "khen_thuong": {"so_ky_hieu": "45/QĐ-UBND", "ho_ten": "Phạm Văn Hùng", "cccd": None,
                    "nguoi_ky": "Lê Văn Tám"},
    "cu_tru": {"so_ky_hieu": "112/XN-CAX", "ho_ten": "Nguyễn Thị Mai", "cccd": "056190004512",
               "ngay_sinh": "1990-02-14", "nguoi_ky": "Hồ Văn Sơn"},
    "tro_cap": {"so_ky_hieu": "78/QĐ-UBND", "ho_ten": "Đặng Thị Lụa", "cccd": "056142001234",
                "ngay_sinh": "1942-05-03", "nguoi_ky": "Võ Thị Hạnh"},
    "ho_kinh_doanh": {"so_ky_hieu": "37H8001234", "ho_ten": "Lương Minh Tâm",
                      "cccd": "056085007788", "ngay_sinh": "1985-11-17",
                      "nguoi_ky": "Nguyễn Hữu Lộc"},
    "khai_tu": {"so_ky_hieu": "15/TLKT-BS", "ho_ten": "Bùi Văn Tư", "cccd": "056039000321",
                "ngay_sinh": "1939-09-09", "nguoi_ky": "Trần Thanh Nhàn"},
    "xu_phat": {"so_ky_hieu": "09/QĐ-XPHC", "ho_ten": "Cao Minh Khôi", "cccd": "056096011122",
                "ngay_sinh": "1996-12-25", "nguoi_ky": "Mấu Văn Quý"},
    "xay_dung": {"so_ky_hieu": "21/GPXD", "ho_ten": "Huỳnh Tấn Phát", "cccd": "056080012345",
                 "nguoi_ky": "Lê Minh Châu"},
    "dat": {"so_ky_hieu": "134/QĐ-UBND", "ho_ten": "Lê Quang Vinh", "cccd": "056065004455",
            "nguoi_ky": "Nguyễn Văn Sáu"},
    "khai_sinh": {"ho_ten": "Trần Gia Bảo", "cccd": "056223000999", "ngay_sinh": "2023-02-02",
                  "nguoi_ky": "Hồ Thị Kim Loan"},
    "huu_tri": {"so_ky_hieu": "512/QĐ-BHXH", "ho_ten": "Nguyễn Thị Thanh Xuân",
                "cccd": "056168003344", "ngay_sinh": "1968-11-11", "nguoi_ky": "Đoàn Văn Lực"},
    "ngheo": {"so_ky_hieu": "33/GCN-UBND", "ho_ten": "Lò Văn Páo", "cccd": "056077005566",
              "nguoi_ky": "Phan Đình Quý"},
    "ket_hon": {"loai_van_ban": "GIẤY CHỨNG NHẬN KẾT HÔN", "nguoi_ky": "Lê Minh Châu"},
    "ly_lich": {"so_ky_hieu": "1204/STP-LLTP", "ho_ten": "Phùng Thị Diễm", "cccd": "056191006655",
                "ngay_sinh": "1991-07-07", "nguoi_ky": "Trương Công Định"},
    "chung_thuc": {"so_ky_hieu": None, "ho_ten": "Võ Đình Nghĩa", "cccd": "056082004567",
                   "nguoi_ky": "Nguyễn Thị Hồng"},
    "cong_nhan": {"so_ky_hieu": "61/QĐ-UBND", "ho_ten": "Tạ Thị Lài", "cccd": "056170009911",
                  "nguoi_ky": "Huỳnh Thị Kim Sa"},
    "thu_hoi": {"ho_ten": "Cao Văn Bốn", "cccd": "056050003131", "ngay_sinh": "1950-10-10",
                "nguoi_ky": "Mang Văn Thới"},
    "xe": {"ho_ten": "Lâm Thị Tuyết", "cccd": "056188002468", "nguoi_ky": "Nguyễn Thành Trung",
           "ngay_ban_hanh": "2024-05-22"},
    "caps_prose": {"ho_ten": "Trương Văn Mười", "cccd": "056045001010",
                   "ngay_sinh": "1945-01-12"},
    "spaced_id": {"ho_ten": "Ngô Bảo Châu", "cccd": "056001003434", "ngay_sinh": "2001-06-28"},
    "cmnd9": {"ho_ten": "Đoàn Văn Thắng", "cmnd": "225012345", "cccd": None},
    "table_row": {"ho_ten": "Mai Xuân Lộc", "cccd": "056077004040", "ngay_sinh": "1977-04-04"},
    "date_words": {"ho_ten": "Dương Thị Kiều Oanh", "cccd": "056194005151",
                   "ngay_sinh": "1994-09-05"},
    "mot_lan": {"ho_ten": "Hồ Thị Thu Sương", "cccd": "056156004141", "ngay_sinh": "1956-06-06"},
    "kinh_gui": {"ho_ten": "Phan Văn Khỏe", "so_ky_hieu": "44/TB-UBND"},
    "nguoi_huong": {"ho_ten": "Tôn Thất Bảo", "cccd": "056060007070", "ngay_sinh": "1960-01-01"},
    "caps_label": {"ho_ten": "Lưu Thị Hạnh", "cccd": "056188001212", "ngay_sinh": "1988-11-11"},
    "ocr_label": {"ho_ten": "Lý Văn Nghĩa", "cccd": "056083003030", "ngay_sinh": "1983-03-03"},
    "to_chuc": {"ho_ten": None, "cccd": None, "nguoi_ky": "Hà Văn Nhân"},
}  # fmt: skip


def test_of_several_rows_the_first_is_taken_as_doubtful() -> None:
    text = LAYOUTS["table_row"].replace(
        "1 Mai Xuân Lộc 04/04/1977 056077004040 2.000.000",
        "1 Mai Xuân Lộc 04/04/1977 056077004040 2.000.000\n"
        "2 Châu Thị Yến 09/09/1980 056180006060 2.000.000",
    )
    fields = extract(text)
    assert fields["ho_ten"].value == "Mai Xuân Lộc" and fields["cccd"].value == "056077004040"
    assert fields["ho_ten"].confidence < extract(LAYOUTS["table_row"])["ho_ten"].confidence
    assert "one of 2" in fields["ho_ten"].rule


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_result_types_written_from_public_forms(name: str) -> None:
    pages = {**DOCS, **MORE, **OTHERS, **LAYOUTS, **WORDINGS}
    fields = extract(pages[name])
    for key, value in EXPECTED[name].items():
        got = fields[key].value if fields[key] is not None else None
        assert got == value, f"{name} {key}: {fields.explain()}"
