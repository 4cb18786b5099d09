"""The kiosk's words: every sentence an officer reads, in Vietnamese, in one place.

Rules: each problem says what happened and what to do next; nothing here is shown in a log
(logs stay English, and carry no citizen data). Functions here are pure: they turn the
appliance's states, the server's refusal reasons and the token's answers into sentences.
"""

from __future__ import annotations

import datetime as dt

from edge.errors import PinError, TokenError
from edge.pdf.xmp import VIETNAM_TIME
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
}


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
