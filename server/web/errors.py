"""What a page answers instead of itself: a refusal shown as a page (`PageError`), or a visitor
sent to sign in (`NotSignedInError`)."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

_STATUS_TITLES = {
    400: "Yêu cầu không hợp lệ",
    403: "Không có quyền truy cập",
    404: "Không tìm thấy",
    409: "Không thể thực hiện",
    422: "Dữ liệu nhập không hợp lệ",
    503: "Hệ thống tạm thời không phục vụ được",
}
_STATUS_ADVICE = {
    403: "Nội dung này nằm ngoài các đơn vị mà tài khoản của bạn được xem (hoặc không tồn "
    "tại). Nếu bạn cần xem, hãy liên hệ quản trị viên cấp tỉnh.",
    404: "Kiểm tra lại đường dẫn, hoặc tìm kết quả từ trang Tra cứu.",
    503: "Thử lại sau ít phút; nếu vẫn lỗi, báo quản trị hệ thống.",
}


class WebError(Exception):
    """Base class of what the pages raise to answer with something other than the page."""


class PageError(WebError):
    """A refusal, shown as a page with its status, a title, what to do, and the technical
    reason (English, from the API) for whoever reports it.

    Attributes:
        status: the HTTP status.
        title: the page's heading (Vietnamese).
        advice: what the person can do (Vietnamese).
        detail: the technical reason, if any.
    """

    def __init__(self, status_code: int, title: str, advice: str, detail: str | None = None):
        super().__init__(title)
        self.status = status_code
        self.title = title
        self.advice = advice
        self.detail = detail


class NotSignedInError(WebError):
    """The visitor is not signed in (or the session ended): send them to sign in, and back.

    Attributes:
        next_path: the page to return to after signing in (a local path), if any.
        reason: why the session ended ("idle", "expired", "account", "unknown"), or None when
            there was none.
    """

    def __init__(self, next_path: str | None, reason: str | None) -> None:
        super().__init__("sign in first")
        self.next_path = next_path
        self.reason = reason


def from_http(error: HTTPException) -> PageError:
    """The page for a refusal of one of the API's handlers that a page called."""
    title = _STATUS_TITLES.get(error.status_code, "Không thể thực hiện")
    advice = _STATUS_ADVICE.get(error.status_code, "Thử lại; nếu vẫn lỗi, báo quản trị hệ thống.")
    return PageError(error.status_code, title, advice, str(error.detail))


def reasons(error: RequestValidationError) -> list[tuple[str, str]]:
    """Each refused input of a validation error: its name and why (the API's words)."""
    found = []
    for item in error.errors():
        location = item.get("loc") or ()
        name = str(location[-1]) if location else "?"
        found.append((name, str(item.get("msg", ""))))
    return found
