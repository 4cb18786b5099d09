"""`POST /api/enroll`: an appliance turns its one-time enrollment code into its certificates
and settings (`protocol.enrollment` describes the exchange, `server.enrollment` decides).
`POST /api/renew`: an enrolled appliance gets fresh certificates for its keys before they
expire (`server.renewal`).

Both are open without a token, as the sign-in is: the enrollment's credential is its one-time
code, the renewal's a CSR signed by the transport key certified for the device. Refusals are
counted per address and answered 429 with `Retry-After` once too many; the caller must have
checked the server's key against the pin it was given before sending anything (the appliance
does, `edge.server_link`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from protocol.enrollment import (
    ENROLL_SCHEMA,
    ENROLLED_SCHEMA,
    MAX_CSR_CHARS,
    RENEW_SCHEMA,
    RENEWED_SCHEMA,
    SECRET_LETTERS,
    decode_renew_request,
    decode_request,
)
from protocol.errors import EnrollmentFormatError
from server.api.deps import SessionDep
from server.api.responses import PARSED_BODY, errors
from server.enrollment import redeem
from server.errors import EnrollmentError
from server.renewal import renew

router = APIRouter(tags=["enrollment"])


class EnrollBody(BaseModel):
    """An appliance's enrollment request (`sohoa.enroll/1`)."""

    schema_: Literal["sohoa.enroll/1"] = Field(alias="schema", description=ENROLL_SCHEMA)
    code: str = Field(
        pattern=f"^[A-Z2-7]{{{SECRET_LETTERS}}}$",
        description="The code's secret: its first 20 letters, without the hyphens.",
    )
    signing_csr: str = Field(
        max_length=MAX_CSR_CHARS, description="PEM CSR of the document-signing key (the token's)."
    )
    transport_csr: str = Field(
        max_length=MAX_CSR_CHARS, description="PEM CSR of the transport (MQTT TLS) key."
    )
    unit: str | None = Field(
        default=None,
        pattern="^[0-9]{2,5}$",
        description="The unit the appliance is set up for, if any: a code of another is refused.",
    )


class EnrolledAnswer(BaseModel):
    """The appliance's certificates and settings (`sohoa.enrolled/1`)."""

    schema_: Literal["sohoa.enrolled/1"] = Field(alias="schema", description=ENROLLED_SCHEMA)
    device_id: str
    unit_code: str | None
    unit_name: str
    signing_cert: str = Field(description="PEM, for the key on the token.")
    transport_cert: str = Field(description="PEM, for the transport key.")
    ca_certs: list[str] = Field(description="PEM, the issuing CA up to the root.")
    broker_host: str
    broker_port: int
    max_chunk_bytes: int
    procedures_csv: str = Field(description="The unit's procedure catalogue (CSV).")


@router.post(
    "/enroll",
    response_model=EnrolledAnswer,
    response_model_by_alias=True,
    responses={
        **PARSED_BODY,
        **errors(
            403,
            409,
            429,
            503,
            _400="A CSR is unreadable, tampered with, of a refused key type, or both CSRs "
            "carry the same key; or the body cannot be parsed.",
            _403="The code is unknown, used, expired, or issued for another unit.",
            _409="The device cannot be registered (it was revoked meanwhile).",
            _429="Too many refused codes from this address; `Retry-After` says for how long.",
            _503="This server does not enroll appliances (no CA), or its CA cannot be read.",
        ),
    },
)
def enroll(session: SessionDep, request: Request, body: EnrollBody) -> EnrolledAnswer:
    """Enroll the appliance the code was issued for: its two certificates, the CA, the
    broker's address, the ingest limits and its unit's procedures."""
    try:
        decoded = decode_request(body.model_dump(by_alias=True, exclude_none=True))
    except EnrollmentFormatError as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(e)) from e
    try:
        answer = redeem(session, request.app.state.settings, decoded, source=_source(request))
    except EnrollmentError as e:
        raise _refusal(e) from e
    return EnrolledAnswer.model_validate(answer.to_json())


class RenewBody(BaseModel):
    """An enrolled appliance's renewal request (`sohoa.renew/1`)."""

    schema_: Literal["sohoa.renew/1"] = Field(alias="schema", description=RENEW_SCHEMA)
    device_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    transport_csr: str = Field(
        max_length=MAX_CSR_CHARS,
        description="PEM CSR of the appliance's current transport key, signed by it.",
    )


class RenewedAnswer(BaseModel):
    """The appliance's new certificates, for the same keys (`sohoa.renewed/1`)."""

    schema_: Literal["sohoa.renewed/1"] = Field(alias="schema", description=RENEWED_SCHEMA)
    device_id: str
    signing_cert: str = Field(description="PEM, for the same key on the token.")
    transport_cert: str = Field(description="PEM, for the same transport key.")
    ca_certs: list[str] = Field(description="PEM, the issuing CA up to the root.")


@router.post(
    "/renew",
    response_model=RenewedAnswer,
    response_model_by_alias=True,
    responses={
        **PARSED_BODY,
        **errors(
            403,
            409,
            429,
            503,
            _400="The CSR is unreadable, tampered with, or of a refused key type; or the body "
            "cannot be parsed.",
            _403="The device is unknown or revoked, the CSR's key is not its transport key, or "
            "its certificate expired or was revoked.",
            _409="The device has no certificate on record (registered, not enrolled).",
            _429="Too many refusals from this address; `Retry-After` says for how long.",
            _503="This server does not enroll appliances (no CA), or its CA cannot be read.",
        ),
    },
)
def renew_certificates(session: SessionDep, request: Request, body: RenewBody) -> RenewedAnswer:
    """Issue the appliance fresh certificates for the keys it holds, keeping its identity."""
    try:
        decoded = decode_renew_request(body.model_dump(by_alias=True))
    except EnrollmentFormatError as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(e)) from e
    try:
        answer = renew(session, request.app.state.settings, decoded, source=_source(request))
    except EnrollmentError as e:
        raise _refusal(e) from e
    return RenewedAnswer.model_validate(answer.to_json())


def _source(request: Request) -> str:
    """The caller's address, for the rate limit and the log (the load balancer's forwarded
    one when `forwarded_allow_ips` names it)."""
    return request.client.host if request.client else "unknown"


def _refusal(error: EnrollmentError) -> HTTPException:
    """The answer to a refused enrollment or renewal (429 with `Retry-After` when locked)."""
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
    return HTTPException(error.status, detail=str(error), headers=headers)
