"""The API's error answers as the OpenAPI description states them, one model for all routes.

Every refusal of a route is an `HTTPException`, which FastAPI answers as `{"detail": "<what
happened and what to do>"}` (`ErrorDetail`); a malformed parameter or body is answered 422 in
FastAPI's own shape, `{"detail": [{"loc", "msg", "type", ...}]}` (`HTTPValidationError`, which
FastAPI declares itself on every route that takes a parameter; the routes' own 422s are raised
as `RequestValidationError` so that they have that shape too). `errors(...)` builds a route's
`responses=` from the codes it may answer, so the description says exactly what is sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from server.api.deps import SIGN_IN_FIRST


class ErrorDetail(BaseModel):
    """A refusal or a failure: what happened and what to do."""

    detail: str = Field(description="What happened and what to do, in one sentence.")


DEFAULTS: dict[int, str] = {
    401: f"No credential, or a bad, expired or void one ({SIGN_IN_FIRST}).",
    403: "The account's role (or unit) may not do this.",
    404: "No such resource.",
    409: "The request conflicts with the resource's state.",
    429: "Too many attempts; the `Retry-After` header says when to try again.",
    500: "A stored file the answer needs is missing or unreadable; tell the operator.",
    503: "The database, the search index or the audit log cannot be used now; try again.",
}

_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "`Bearer`: sign in first.", "schema": {"type": "string"}}
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer `codes` with an `ErrorDetail`.

    Args:
        codes: the status codes (401, 403, 404, ...), each with its default description.
        descriptions: a route's own description of a code, keyed `_404` etc.
    """
    found: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response: dict[str, Any] = {
            "model": ErrorDetail,
            "description": descriptions.get(f"_{code}", DEFAULTS[code]),
        }
        if code == 401:
            response["headers"] = _WWW_AUTHENTICATE
        if code == 429:
            response["headers"] = _RETRY_AFTER
        found[code] = response
    return found


SIGNED_IN = errors(401, 403)
"""What every route behind a role may answer before it runs: no credential, the wrong role."""
