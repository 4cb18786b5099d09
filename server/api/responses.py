"""The API's error answers as the OpenAPI description states them, one model for all routes.

Every refusal of a route is an `HTTPException`, which FastAPI answers as `{"detail": "<what
happened and what to do>"}` (`ErrorDetail`); a malformed parameter or body is answered 422 in
FastAPI's own shape, `{"detail": [{"loc", "msg", "type", ...}]}` (`HTTPValidationError`, which
FastAPI declares itself on every route that takes a parameter; the routes' own 422s are raised
as `RequestValidationError` so that they have that shape too). `errors(...)` builds a route's
`responses=` from the codes it may answer, so the description says exactly what is sent.

`describe_closed` makes the description of every answer's body closed (`additionalProperties:
false` on the models only answers use): an answer carrying a field the description does not
name contradicts it, and a check of answers against it (schemathesis) fails. Request bodies stay
open, as FastAPI reads them (extra fields are ignored, not refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from server.api.deps import SIGN_IN_FIRST


class ErrorDetail(BaseModel):
    """A refusal or a failure: what happened and what to do."""

    detail: str = Field(description="What happened and what to do, in one sentence.")


DEFAULTS: dict[int, str] = {
    400: "The body cannot be parsed (JSON that is not UTF-8, a malformed form): FastAPI's answer.",
    401: f"No credential, or a bad, expired or void one ({SIGN_IN_FIRST}).",
    403: "The account's role (or unit) may not do this.",
    404: "No such resource.",
    422: "A parameter or the body is malformed; `detail` says which and why.",
    409: "The request conflicts with the resource's state.",
    429: "Too many attempts; the `Retry-After` header says when to try again.",
    500: "A stored file the answer needs is missing or unreadable; tell the operator.",
    503: "The database, the search index or the audit log cannot be used now; try again.",
}

VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"

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
        response: dict[str, Any] = {"description": descriptions.get(f"_{code}", DEFAULTS[code])}
        if code == 422:  # FastAPI's own model, which it declares for its own 422s
            response["content"] = {"application/json": {"schema": {"$ref": VALIDATION_ERROR}}}
        else:
            response["model"] = ErrorDetail
        if code == 401:
            response["headers"] = _WWW_AUTHENTICATE
        if code == 429:
            response["headers"] = _RETRY_AFTER
        found[code] = response
    return found


PARSED_BODY = errors(400)
"""What a route with a body may answer before it runs: the body is not readable."""

SIGNED_IN = errors(401, 403)
"""What every route behind a role may answer before it runs: no credential, the wrong role."""


FASTAPI_OWN = frozenset({"HTTPValidationError", "ValidationError"})
"""FastAPI's own models of its 422, which it fills itself: left as FastAPI describes them."""
_REF = "#/components/schemas/"


def describe_closed(app: FastAPI) -> None:
    """Make `app.openapi()` describe answers' bodies as closed (see the module's docstring)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return close_response_models(build())  # idempotent: FastAPI caches what it built

    app.openapi = openapi  # type: ignore[method-assign]


def close_response_models(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `additionalProperties: false` on each object model that only answers use
    (not request bodies nor parameters, nor FastAPI's own)."""
    models: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    requests: list[Any] = []
    answers: list[Any] = []
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            requests += [operation.get("requestBody"), operation.get("parameters")]
            answers.append(operation.get("responses"))
    only_answers = _reached(answers, models) - _reached(requests, models) - FASTAPI_OWN
    for name in only_answers:
        model = models[name]
        if model.get("type") == "object" and "properties" in model:
            model.setdefault("additionalProperties", False)
    return schema


def _reached(roots: list[Any], models: dict[str, Any]) -> set[str]:
    """The names of the models `roots` refer to, directly or through other models."""
    found: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] not in found:
                found.add(ref[len(_REF) :])
                todo.append(models.get(ref[len(_REF) :]))
            todo += node.values()
        elif isinstance(node, list):
            todo += node
    return found
