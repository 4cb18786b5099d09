"""The kiosk's words: every sentence an officer reads, in Vietnamese, in one place.

Rules: each problem says what happened and what to do next; nothing here is shown in a log
(logs stay English, and carry no citizen data). Functions here are pure: they turn the
appliance's states, the server's refusal reasons and the token's answers into sentences.
"""

from __future__ import annotations

import datetime as dt

from edge.errors import PinError, TokenError
from edge.pdf.xmp import VIETNAM_TIME
from edge.renew import CertificateStanding
from edge.sync.outbox import OutboxItem, State
from protocol.reasons import RejectReason

APP_TITLE = "Sohoa — Số hóa kết quả thủ tục hành chính"

STATE_WORDS = {
    State.QUEUED: "chờ gửi",
    State.SENT: "đang gửi",
    State.ACKED: "máy chủ đã nhận",
    State.REJECTED: "bị từ chối",
}
"""The outbox's states as the officer reads them."""

REASON_WORDS = {
    RejectReason.SCHEMA: "Máy chủ không đọc được kết quả: hãy cập nhật phần mềm thiết bị.",
    RejectReason.VERSION: "Phiên bản phần mềm không khớp với máy chủ: hãy cập nhật phần mềm.",
    RejectReason.SIZE: "Tệp quá lớn: hãy quét lại với độ phân giải thấp hơn hoặc tách tài liệu.",
    RejectReason.HASH: "Tệp bị hỏng trên đường truyền: bấm Gửi lại.",
    RejectReason.SIGNATURE: "Máy chủ không chấp nhận chữ ký số: báo quản trị viên kiểm tra token.",
    RejectReason.UNKNOWN_DEVICE: (
        "Máy chủ chưa biết thiết bị này: nhờ quản trị viên đăng ký thiết bị, rồi bấm Gửi lại."
    ),
    RejectReason.REVOKED_DEVICE: "Thiết bị này đã bị thu hồi: báo quản trị viên tỉnh.",
    RejectReason.SIGNER_NOT_REGISTERED: (
        "Chứng thư ký của token chưa được đăng ký: báo quản trị viên, rồi bấm Gửi lại."
    ),
    RejectReason.DEVICE_MISMATCH: "Kết quả do thiết bị khác ký: báo quản trị viên.",
    RejectReason.FIELDS_MISMATCH: (
        "Thông tin gửi kèm không khớp với tài liệu đã ký: hãy số hóa và ký lại."
    ),
    RejectReason.TOO_COMPLEX: "Tài liệu quá phức tạp để máy chủ kiểm tra: hãy quét và ký lại.",
    RejectReason.REVOCATION_UNKNOWN: (
        "Máy chủ chưa kiểm tra được chứng thư: bấm Gửi lại sau ít phút."
    ),
    RejectReason.INTERNAL: "Máy chủ gặp lỗi: báo quản trị viên tỉnh, rồi bấm Gửi lại.",
    RejectReason.UNRECOGNIZED: (
        "Máy chủ từ chối với lý do phiên bản này chưa biết: hãy cập nhật phần mềm."
    ),
}
"""Why the server refused a result, and what to do, by its reason."""

SENDING_TROUBLE = "Chưa gửi được; thiết bị sẽ tự gửi lại, không cần làm gì."

PIN_WRONG = "Mã PIN không đúng, máy chưa mở. Hãy nhập lại thật cẩn thận."
PIN_LOCKED = (
    "Mã PIN của token đã bị khóa vì nhập sai quá nhiều lần. Không thử lại nữa: "
    "hãy báo quản trị viên mở khóa token."
)
PIN_FINAL_TRY = "Token báo chỉ còn MỘT lần thử: nhập sai lần nữa token sẽ bị khóa."
PIN_COUNT_LOW = (
    "Token báo đã có lần nhập sai từ lần mở đúng gần nhất, nhưng không cho biết còn bao nhiêu "
    "lần thử: hãy cẩn thận, token thật thường khóa sau vài lần sai."
)
PIN_NO_COUNT = (
    "Token này không cho biết còn bao nhiêu lần thử; token thật thường khóa sau vài lần sai."
)
SIGNER_MISSING = "Không tìm thấy token ký số. Hãy cắm token vào máy rồi nhập lại mã PIN."
SIGNER_BROKEN = (
    "Không mở được token. Hãy rút token ra, cắm lại rồi thử lại; nếu vẫn lỗi, báo quản trị viên."
)
SIGNER_NOT_CONFIGURED = (
    "Thiết bị chưa được cấu hình token ký số: báo quản trị viên (token_label trong cấu hình)."
)


def pin_problem(error: TokenError) -> str:
    """What the lock screen says after the token refused to open.

    A refused PIN says what the token reports of the tries left, and only that: a token that
    reports nothing (SoftHSM2) is said to report nothing, never given a made-up count.
    """
    if isinstance(error, PinError):
        if error.locked:
            return PIN_LOCKED
        if error.final_try:
            return f"{PIN_WRONG}\n{PIN_FINAL_TRY}"
        if error.count_low:
            return f"{PIN_WRONG}\n{PIN_COUNT_LOW}"
        return f"{PIN_WRONG}\n{PIN_NO_COUNT}"
    if str(error).startswith("no token"):
        return SIGNER_MISSING
    return SIGNER_BROKEN


def refusal_words(last_error: str | None) -> str:
    """The server's refusal (`reason: detail`, as the outbox keeps it) in words, with the
    reason's code for the administrator."""
    if not last_error:
        return "Máy chủ từ chối kết quả: báo quản trị viên."
    code = last_error.split(":", 1)[0].strip()
    try:
        reason = RejectReason(code)
    except ValueError:
        return f"Máy chủ từ chối kết quả (mã {code}): báo quản trị viên."
    return f"{REASON_WORDS[reason]} (mã {reason.value})"


def item_note(item: OutboxItem) -> str:
    """The note beside a result in the outbox list: why it was refused, or a sending problem."""
    if item.state is State.REJECTED:
        return refusal_words(item.last_error)
    if item.state in (State.QUEUED, State.SENT) and item.last_error:
        return SENDING_TROUBLE
    return ""


def local_time(iso: str | None, *, with_date: bool = True) -> str:
    """An ISO 8601 instant as Vietnam's wall clock ("14:05 06/12"), or "—" when unknown."""
    if not iso:
        return "—"
    try:
        when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(VIETNAM_TIME)
    except ValueError:
        return "—"
    return when.strftime("%H:%M %d/%m" if with_date else "%H:%M")


def size_words(free: int | None) -> str:
    """Free disk space in words ("12,3 GB"), or "không đọc được"."""
    if free is None:
        return "không đọc được"
    gb = free / 1e9
    return f"{gb:.1f} GB".replace(".", ",")


# -- the camera (capture with live guidance) -------------------------------------------------------

CAMERA_TITLE = "Chụp bằng camera"
CAMERA_GUIDANCE = {
    "no_page": "Đặt giấy vào khung",
    "hold_still": "Giữ yên",
    "blurred": "Ảnh mờ — giữ yên máy",
    "glare": "Bị lóa — nghiêng giấy",
    "too_dark": "Quá tối — bật đèn",
    "steady": "Giữ yên… đang chụp",
}
"""The camera's guidance (`edge.capture.guidance.Guidance` values), one short instruction."""
CAMERA_STARTING = "Đang mở camera…"
CAMERA_HELP = "Đặt từng trang dưới camera; máy tự chụp khi trang đứng yên. C: chụp ngay."
CAMERA_NONE = (
    "Thiết bị chưa có camera (camera_source trong cấu hình): hãy dùng máy quét, "
    "hoặc báo quản trị viên."
)
CAMERA_UNREADABLE = (
    "Không đọc được video của camera: tệp hỏng hoặc không phải video. Báo quản trị viên; "
    "trong lúc chờ, hãy dùng máy quét."
)
CAMERA_ENDED = "Camera đã dừng. Enter: xong; Esc: để sau."
CAMERA_KEEP_FAILED = "Không lưu được trang vừa chụp (đĩa đầy?). Báo quản trị viên."
SOURCE_TITLE = "Lấy trang bằng gì?"
SOURCE_HELP = "1: máy quét   2: camera   Esc: quay lại"


def camera_words(guidance: str, pages: int) -> str:
    """The camera screen's big line: the instruction for `guidance`, or the page just taken."""
    if guidance == "captured":
        return f"Đã chụp trang {pages}"
    return CAMERA_GUIDANCE.get(guidance, CAMERA_GUIDANCE["no_page"])


def camera_count(pages: int) -> str:
    """The line under the guidance: pages kept so far, and the keys."""
    return f"Đã có {pages} trang. Enter: xong; C: chụp ngay; Esc: để sau."


# -- settings and diagnostics (screens/diagnostics.py, checks.py) -----------------------------

DIAG_TITLE = "Cài đặt và chẩn đoán"
DIAG_PURPOSE = "Mở cài đặt và chẩn đoán"
DIAG_RUNNING = "Đang kiểm tra…"
DIAG_NOT_RUN = "Chưa kiểm tra: bấm phím {key}."
DIAG_UNFORESEEN = (
    "Kiểm tra gặp lỗi không lường trước (chi tiết trong nhật ký kiosk): báo quản trị viên tỉnh."
)
DIAG_LEAVE_QUESTION = (
    "Thoát khỏi kiosk và mở dòng lệnh? Người dùng ở quầy sẽ không làm việc được cho tới khi "
    "kiosk chạy lại. Enter: thoát · Esc: ở lại."
)

SCANNER_NONE = (
    "Không thấy máy quét nào. Kiểm tra máy quét đã bật và đã cắm cáp USB, rồi bấm Q để thử lại."
)
SCANNER_NOT_LISTED = (
    "Không thấy máy quét đã cấu hình ({name}); chỉ thấy: {found}. "
    "Sửa scanner_device trong cấu hình cho đúng."
)


def _seconds(seconds: float) -> str:
    """Seconds with a decimal comma, as Vietnamese writes them ("1,2")."""
    return f"{seconds:.1f}".replace(".", ",")


def scanner_ok(found: str, name: str, width: int, height: int, dpi: int, seconds: float) -> str:
    """A good test scan in words."""
    return (
        f"Tốt. Thấy: {found}. Đã quét thử một trang trên {name}: {width}×{height} điểm ảnh, "
        f"{dpi} dpi, trong {_seconds(seconds)} giây."
    )


CAMERA_NOT_CONFIGURED = (
    "Chưa cấu hình camera (camera_source): thiết bị chỉ quét bằng máy quét. "
    "Nếu cần camera, báo quản trị viên tỉnh."
)
CAMERA_NO_FRAME = (
    "Mở được camera nhưng không nhận được hình. Kiểm tra cáp camera, rút ra cắm lại, "
    "rồi bấm C để thử lại."
)


def camera_ok(width: int, height: int, page: bool, brightness: int) -> str:
    """What the camera's test frame showed."""
    seen = (
        "thấy một trang giấy trong khung hình"
        if page
        else "không thấy trang giấy nào: đặt một trang lên bàn dưới camera nếu muốn thử nhận trang"
    )
    light = " Hình quá tối: bật thêm đèn." if brightness < 40 else ""
    return f"Tốt. Camera cho hình {width}×{height}; {seen}.{light}"


BROKER_NOT_CONFIGURED = (
    "Thiết bị chưa có chứng thư kết nối (ca_file, cert_file, key_file): "
    "báo quản trị viên tỉnh đăng ký lại thiết bị."
)
BROKER_FAILURES = {
    "identity": "Không đọc được chứng thư kết nối của thiết bị: báo quản trị viên tỉnh "
    "đăng ký lại thiết bị.",
    "untrusted": "Máy chủ tin nhắn có chứng thư không tin cậy (có thể nhầm địa chỉ): kiểm tra "
    "broker_host và ca_file, hoặc báo quản trị viên tỉnh.",
    "tls": "Lỗi mã hóa TLS với máy chủ tin nhắn: kiểm tra broker_port là cổng TLS, "
    "và cert_file, key_file là của thiết bị này.",
    "nothing-listens": "Máy chủ tin nhắn không trả lời ở địa chỉ này (không có dịch vụ nào "
    "nghe): kiểm tra broker_host, broker_port và hỏi quản trị viên tỉnh máy chủ có đang chạy.",
    "unreachable": "Không tới được máy chủ tin nhắn: kiểm tra dây mạng, Wi-Fi hoặc 4G, "
    "rồi bấm M để thử lại.",
    "closed": "Máy chủ tin nhắn từ chối chứng thư của thiết bị (hết hạn, bị thu hồi hoặc "
    "không do tỉnh cấp): báo quản trị viên tỉnh.",
    "not-authorised": "Máy chủ tin nhắn không cho thiết bị này vào: báo quản trị viên tỉnh "
    "kiểm tra thiết bị đã đăng ký và chưa bị thu hồi.",
    "no-answer": "Máy chủ tin nhắn không trả lời kịp: mạng chậm hoặc máy chủ quá tải; "
    "bấm M để thử lại sau ít phút.",
}
"""Why the broker test failed (by `MqttFailure` value), and what to do."""


def broker_ok(where: str, seconds: float) -> str:
    """A good broker test in words."""
    return (
        f"Tốt. Đã kết nối tới máy chủ tin nhắn {where} bằng chứng thư của thiết bị "
        f"(TLS) trong {_seconds(seconds)} giây. Chương trình đồng bộ có thể mất kết nối vài giây "
        "rồi tự kết nối lại."
    )


def broker_failed(where: str, failure: str) -> str:
    """A failed broker test in words."""
    words = BROKER_FAILURES.get(failure, "Không kết nối được máy chủ tin nhắn: báo quản trị viên.")
    return f"KHÔNG kết nối được {where}. {words}"


SIGNER_LOCKED_AWAY = "Máy đang khóa: mở máy bằng mã PIN của token để xem token."
SIGNER_NO_KEY_ID = (
    "Chưa cấu hình mã khóa ký (signing_key_id): máy chưa ký được. Báo quản trị viên tỉnh."
)


def token_facts(label: str, serial: str, key: str, certificate: str) -> str:
    """What the token holds, in lines."""
    return f"Nhãn: {label} · Số sê-ri: {serial}\nKhóa ký: {key}\nChứng thư: {certificate}"


def certificate_problem(standing: CertificateStanding) -> str:
    """The home screen's line for the appliance's certificate when it needs a person."""
    start = standing.not_before.astimezone(VIETNAM_TIME)
    end = standing.not_after.astimezone(VIETNAM_TIME)
    if standing.clock_behind:
        return (
            f"Đồng hồ của thiết bị đang sai (chứng thư số có hiệu lực từ {start:%d/%m/%Y}): "
            "hãy chỉnh lại ngày giờ; chưa chỉnh thì không ký và không gửi được."
        )
    if standing.days_left <= 0:
        return (
            f"Chứng thư số của thiết bị đã hết hạn ngày {end:%d/%m/%Y} (hoặc đồng hồ của thiết "
            "bị sai): thiết bị không gửi được kết quả; báo quản trị viên tỉnh để đăng ký lại."
        )
    return (
        f"Chứng thư số của thiết bị hết hạn ngày {end:%d/%m/%Y} (còn {standing.days_left:.0f} "
        "ngày) mà chưa được gia hạn: báo quản trị viên tỉnh."
    )


def key_words(kind: str | None, key_id: str) -> str:
    """Whether the signing key is on the token."""
    if kind is None:
        return f"KHÔNG có khóa mã {key_id} trên token: báo quản trị viên tỉnh cấp lại khóa ký."
    return f"có (mã {key_id}, {kind})"


def certificate_words(subject: str | None, days: int | None) -> str:
    """The signing certificate's subject and days to expiry, with what to do when near."""
    if subject is None or days is None:
        return "KHÔNG có chứng thư ký trên token: báo quản trị viên tỉnh cấp chứng thư."
    if days < 0:
        return f"{subject} — ĐÃ HẾT HẠN {-days} ngày: không ký được, báo quản trị viên tỉnh."
    if days <= 30:
        return f"{subject} — còn {days} ngày: báo quản trị viên tỉnh gia hạn ngay."
    return f"{subject} — còn {days} ngày"


LOG_EMPTY = "Nhật ký chưa có dòng nào."
LOG_MISSING = "Chưa có tệp nhật ký ({path}): kiosk ghi nhật ký khi chạy bằng lệnh sohoa edge tui."


# -- the pages of a result (capture list, review image) ---------------------------------------

PAGE_LABEL = "Trang {number}"
PAGES_HELP = "↑↓ chọn trang · Shift+↑↓ đổi chỗ · Del xóa · R quét lại trang"
PAGE_DELETE_QUESTION = "Xóa trang {number}? Ảnh của trang này sẽ mất.\nEnter: xóa · Esc: giữ lại"
PAGE_DELETED = "Đã xóa trang {number}. Còn {left} trang."
PAGE_MOVED = "Đã chuyển sang vị trí {number}."
PAGE_RECAPTURING = "Đang quét lại trang {number}… đặt trang đó lên máy quét."
PAGE_RECAPTURED = "Đã quét lại trang {number}."
PAGE_ACTION_FAILED = (
    "Không làm được (đĩa đầy hoặc lỗi ghi?). Thử lại; nếu vẫn lỗi, báo quản trị viên."
)
REVIEW_VIEWS = ("Trường", "Ảnh trang", "Chữ đã đọc")
"""What the review shows at 80 columns, in the order F4 goes through them."""
REVIEW_IMAGE_TITLE = "Ảnh trang {number}/{total}"
REVIEW_TURN_HINT = " — PgUp/PgDn: trang khác"
REVIEW_TEXT_TITLE = "Chữ đã đọc, trang {number}/{total}"
REVIEW_VIEW_KEY = "Trường/Ảnh/Chữ"


# -- batch mode (edge/tui/screens/batch.py) -------------------------------------------------------

BATCH_TITLE = "Số hóa theo lô"
BATCH_HELP = (
    "Đặt chồng kết quả vào khay nạp, mỗi kết quả cách nhau một tờ giấy trắng (hoặc đặt từng "
    "kết quả một), rồi bấm Enter. Kết quả không có gì đáng ngờ được ký và gửi ngay; chỉ kết "
    "quả có trường đáng ngờ mới cần xem."
)
BATCH_SCANNING = "Đang quét chồng giấy…"
BATCH_RESUMING = "Đang làm tiếp lô dở dang…"
BATCH_JAM_THEN = "Các trang đã quét vẫn được giữ; bấm Enter để quét tiếp vào cùng kết quả."
BATCH_FEEDER_EMPTY = "Khay nạp trống: đặt giấy vào khay rồi bấm Enter."
BATCH_ITEM_STATES = {
    "open": "chờ các trang còn lại",
    "ready": "chờ đọc",
    "flagged": "cần xem trường đáng ngờ",
    "queued": "đã ký, vào hộp gửi",
    "dropped": "đã bỏ, không ký",
}
BATCH_DROP_KEY = "Bỏ kết quả này"
BATCH_DROP_QUESTION = (
    "Bỏ kết quả này khỏi lô? Các trang đã quét của nó sẽ bị xóa và nó không được ký. "
    "Enter: bỏ · Esc: giữ lại."
)


def batch_count(done: int, pages: int, flagged: int) -> str:
    """The batch's running count."""
    return f"Đã xong: {done} kết quả · {pages} trang · {flagged} cần xem"


def batch_item_line(number: int, pages: int, state: str) -> str:
    """One result of the batch in the list."""
    return f"Kết quả {number}: {pages} trang — {BATCH_ITEM_STATES[state]}"


def batch_reading(number: int) -> str:
    """What the batch does now: reading result `number`."""
    return f"Đang đọc chữ kết quả {number}…"


def batch_signing(number: int) -> str:
    """What the batch does now: signing result `number`."""
    return f"Đang ký và đưa kết quả {number} vào hộp gửi…"
