"""`POST /api/enroll`: an appliance turns its one-time enrollment code into its certificates
and settings (`protocol.enrollment` describes the exchange, `server.enrollment` decides).

Open without a token, as the sign-in is: the code is the credential, and it works once. Refused
codes are counted per address and answered 429 with `Retry-After` once too many; the caller
must have checked the server's key against the code's pin before sending it (the appliance
does, `edge.enroll`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from protocol.enrollment import (
    ENROLL_SCHEMA,
    ENROLLED_SCHEMA,
    MAX_CSR_CHARS,
    SECRET_LETTERS,
    decode_request,
)
from protocol.errors import EnrollmentFormatError
from server.api.deps import SessionDep
from server.api.responses import PARSED_BODY, errors
from server.enrollment import redeem
from server.errors import EnrollmentError

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
    source = request.client.host if request.client else "unknown"
    try:
        answer = redeem(session, request.app.state.settings, decoded, source=source)
    except EnrollmentError as e:
        headers = {"Retry-After": str(e.retry_after_s)} if e.retry_after_s else None
        raise HTTPException(e.status, detail=str(e), headers=headers) from e
    return EnrolledAnswer.model_validate(answer.to_json())
