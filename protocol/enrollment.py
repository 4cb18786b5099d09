"""Enrollment of an appliance (`sohoa.enroll/1`, `sohoa.enrolled/1`): the one-time code an admin
hands to the appliance, and the request and answer that turn it into certificates.

The exchange (one HTTPS round trip, `POST /api/enroll` on the server):

1. A province admin registers the appliance for a unit (`sohoa provision device add`); the
   server keeps only the SHA-256 of a random secret and prints the **code**: the secret and a
   pin of the server's HTTPS key, as 11 groups of 4 base-32 letters (RFC 4648 alphabet, no
   padding), e.g. `K7QX-M2PA-…`. The first 5 groups are the secret (100 bits: guessing one is
   hopeless even before attempts are rate-limited); the last 6 are the first 120 bits of the
   SHA-256 of the server's SubjectPublicKeyInfo (RFC 7469's pin; 120 bits is beyond any second
   preimage). The code also goes into a QR code as `sohoa://enroll?server=URL&code=CODE`.
2. The appliance connects to the server, checks that the key the server's TLS handshake
   presents hashes to the pin (so neither a public CA nor a self-signed certificate needs to be
   trusted), and only then sends the code with two CSRs: one for the document-signing key
   (generated on the token; the CSR is signed there) and one for its transport (MQTT TLS) key.
3. The server checks the code (unknown, used or expired ones are refused and counted against
   the caller's address), issues both certificates from the provincial CA, registers the
   device, marks the code used — all in one transaction — and answers with everything the
   appliance needs: its certificates, the CA, the broker's address, the ingest limits and its
   unit's procedure catalogue.

Pure data: nothing here opens a socket or a file (DESIGN.md: `protocol` is sans-IO).
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from protocol.errors import EnrollmentFormatError, TopicError
from protocol.topics import validate_device_id

ENROLL_SCHEMA = "sohoa.enroll/1"
"""The schema of the appliance's request."""
ENROLLED_SCHEMA = "sohoa.enrolled/1"
"""The schema of the server's answer."""
URI_SCHEME = "sohoa"
"""The QR code's URI: `sohoa://enroll?server=URL&code=CODE`."""

SECRET_BYTES = 100 // 8 + 1
"""Random bytes drawn for a secret (13): 100 bits are kept, the 20 letters' worth."""
SECRET_LETTERS = 20
PIN_LETTERS = 24
PIN_BYTES = PIN_LETTERS * 5 // 8
"""Bytes of the SPKI's SHA-256 the code carries (15: 120 bits)."""
GROUP = 4
MAX_CSR_CHARS = 8192
"""The longest CSR (PEM) accepted: an EC P-256 CSR is ~500 characters, an RSA-4096 one ~1,800."""
MAX_REQUEST_BYTES = 3 * MAX_CSR_CHARS
"""The largest enrollment request body the server reads."""

_LETTERS = re.compile(r"[A-Z2-7]+")
_UNIT = re.compile(r"[0-9]{2,5}")


@dataclass(frozen=True)
class EnrollmentCode:
    """A one-time enrollment code.

    Attributes:
        secret: the one-time secret, 20 base-32 letters (the server keeps only its SHA-256).
        pin: 24 base-32 letters: the first 120 bits of SHA-256 over the server's
            SubjectPublicKeyInfo (DER).
    """

    secret: str
    pin: str

    def text(self) -> str:
        """The code as people read and type it: 11 groups of 4 letters joined by hyphens."""
        letters = self.secret + self.pin
        return "-".join(letters[i : i + GROUP] for i in range(0, len(letters), GROUP))

    def secret_sha256(self) -> str:
        """What the server stores and looks the code up by (hex)."""
        return secret_sha256(self.secret)

    def matches_key(self, spki_der: bytes) -> bool:
        """Whether a server's SubjectPublicKeyInfo (DER) is the one the code pins."""
        return pin_of(spki_der) == self.pin


def new_code(random_bytes: bytes, spki_der: bytes) -> EnrollmentCode:
    """A code from `random_bytes` (at least `SECRET_BYTES` from `secrets.token_bytes`) pinning
    the server key `spki_der`."""
    if len(random_bytes) < SECRET_BYTES:
        raise ValueError(f"an enrollment secret needs {SECRET_BYTES} random bytes")
    secret = base64.b32encode(random_bytes).decode()[:SECRET_LETTERS]
    return EnrollmentCode(secret, pin_of(spki_der))


def spki_der(key: CertificatePublicKeyTypes) -> bytes:
    """A public key's SubjectPublicKeyInfo (DER): what a code pins, and what both sides
    compare to tell that a certificate or a CSR is for a given key."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pin_of(spki_der: bytes) -> str:
    """The code's pin of a SubjectPublicKeyInfo (DER): 24 base-32 letters."""
    return base64.b32encode(hashlib.sha256(spki_der).digest()[:PIN_BYTES]).decode()


def secret_sha256(secret: str) -> str:
    """The SHA-256 (hex) the server keeps of a code's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_code(text: str) -> EnrollmentCode:
    """Read a code as typed: hyphens, spaces and case do not matter; 0/1/8 typed for O/I/B
    are refused rather than guessed.

    Raises:
        EnrollmentFormatError: not 44 base-32 letters.
    """
    letters = re.sub(r"[\s-]", "", text).upper()
    want = SECRET_LETTERS + PIN_LETTERS
    if len(letters) != want or not _LETTERS.fullmatch(letters):
        raise EnrollmentFormatError(
            f"an enrollment code is {want} letters A-Z and digits 2-7 in groups of 4 "
            f"(got {len(letters)} characters): copy it again from `sohoa provision device add`"
            " or the fleet page"
        )
    return EnrollmentCode(letters[:SECRET_LETTERS], letters[SECRET_LETTERS:])


def enrollment_uri(server_url: str, code: EnrollmentCode) -> str:
    """What the QR code holds: `sohoa://enroll?server=URL&code=CODE`."""
    query = urllib.parse.urlencode({"server": server_url, "code": code.text()})
    return f"{URI_SCHEME}://enroll?{query}"


def parse_enrollment_uri(uri: str) -> tuple[str, EnrollmentCode]:
    """The server URL and code of a QR code's URI.

    Raises:
        EnrollmentFormatError: not an enrollment URI, or its server or code is malformed.
    """
    parts = urllib.parse.urlsplit(uri.strip())
    query = urllib.parse.parse_qs(parts.query)
    if parts.scheme != URI_SCHEME or parts.netloc != "enroll" or set(query) != {"server", "code"}:
        raise EnrollmentFormatError(
            "this QR code is not a Sohoa enrollment code (sohoa://enroll?server=…&code=…)"
        )
    return check_server_url(query["server"][0]), parse_code(query["code"][0])


def check_server_url(url: str) -> str:
    """`url` if it is an https:// URL with a host and nothing after its path, else raise.

    Raises:
        EnrollmentFormatError: another scheme (a code is never sent in clear), no host, a
            query or fragment.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise EnrollmentFormatError(
            f"the server's address must be https://HOST[:PORT] (got {url!r}): an enrollment "
            "code is never sent over plain HTTP"
        )
    try:
        parts.port  # noqa: B018 (urllib checks the port only when it is read)
    except ValueError as e:
        raise EnrollmentFormatError(f"the server's address {url!r} has a bad port: {e}") from e
    return url.rstrip("/")


@dataclass(frozen=True)
class EnrollRequest:
    """What an appliance sends to enroll (`sohoa.enroll/1`).

    Attributes:
        code: the code's secret (its pin stays on the appliance: it was checked already).
        signing_csr: PEM CSR of the document-signing key, made and signed on the token.
        transport_csr: PEM CSR of the transport (MQTT TLS client) key.
        unit: the unit code the appliance is already configured for, if any: a code issued
            for another unit is refused rather than moving the appliance.
    """

    code: str
    signing_csr: str
    transport_csr: str
    unit: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON object."""
        body: dict[str, Any] = {
            "schema": ENROLL_SCHEMA,
            "code": self.code,
            "signing_csr": self.signing_csr,
            "transport_csr": self.transport_csr,
        }
        if self.unit is not None:
            body["unit"] = self.unit
        return body


def decode_request(body: object) -> EnrollRequest:
    """Read an enrollment request (a parsed JSON value).

    Raises:
        EnrollmentFormatError: not an object of schema `sohoa.enroll/1` with a code of 20
            letters, two PEM CSRs of at most `MAX_CSR_CHARS` and, if present, a unit code.
    """
    obj = _object(body, ENROLL_SCHEMA, {"code", "signing_csr", "transport_csr"}, {"unit"})
    code = obj["code"]
    if not isinstance(code, str) or len(code) != SECRET_LETTERS or not _LETTERS.fullmatch(code):
        raise EnrollmentFormatError(f"code: must be the code's {SECRET_LETTERS}-letter secret")
    unit = obj.get("unit")
    if unit is not None and (not isinstance(unit, str) or not _UNIT.fullmatch(unit)):
        raise EnrollmentFormatError("unit: must be a unit code of 2 to 5 digits")
    return EnrollRequest(
        code=code,
        signing_csr=_csr_text(obj, "signing_csr"),
        transport_csr=_csr_text(obj, "transport_csr"),
        unit=unit,
    )


@dataclass(frozen=True)
class Enrolled:
    """The server's answer to an enrollment (`sohoa.enrolled/1`): an appliance's settings.

    Attributes:
        device_id: the id the appliance was registered under (its certificates' commonName).
        unit_code: its unit's code.
        unit_name: its unit's name (what its signatures name as the organisation).
        signing_cert: PEM, the document-signing certificate (for the key on the token).
        transport_cert: PEM, the transport (MQTT TLS client) certificate.
        ca_certs: PEM certificates from the issuing CA up to the root: the broker's certificate
            chains to them too.
        broker_host: the broker's name or address, as its certificate carries it.
        broker_port: the broker's TLS port for devices.
        max_chunk_bytes: the largest chunk the server takes (the appliance's chunks stay under).
        procedures_csv: the procedure catalogue (the server's procedures CSV), for the kiosk.
    """

    device_id: str
    unit_code: str | None
    unit_name: str
    signing_cert: str
    transport_cert: str
    ca_certs: tuple[str, ...]
    broker_host: str
    broker_port: int
    max_chunk_bytes: int
    procedures_csv: str

    def to_json(self) -> dict[str, Any]:
        """The answer as a JSON object."""
        return {
            "schema": ENROLLED_SCHEMA,
            "device_id": self.device_id,
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "signing_cert": self.signing_cert,
            "transport_cert": self.transport_cert,
            "ca_certs": list(self.ca_certs),
            "broker_host": self.broker_host,
            "broker_port": self.broker_port,
            "max_chunk_bytes": self.max_chunk_bytes,
            "procedures_csv": self.procedures_csv,
        }


def decode_enrolled(body: object) -> Enrolled:
    """Read the server's answer (a parsed JSON value).

    Raises:
        EnrollmentFormatError: a member is missing or of the wrong kind.
    """
    names = {
        "device_id",
        "unit_code",
        "unit_name",
        "signing_cert",
        "transport_cert",
        "ca_certs",
        "broker_host",
        "broker_port",
        "max_chunk_bytes",
        "procedures_csv",
    }
    obj = _object(body, ENROLLED_SCHEMA, names, set())
    try:
        device_id = validate_device_id(obj["device_id"])
    except TopicError as e:
        raise EnrollmentFormatError(f"device_id: {e}") from e
    ca_certs = obj["ca_certs"]
    if not isinstance(ca_certs, list) or not ca_certs:
        raise EnrollmentFormatError("ca_certs: must be a list of PEM certificates")
    port = obj["broker_port"]
    chunk = obj["max_chunk_bytes"]
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise EnrollmentFormatError("broker_port: must be a TCP port")
    if not isinstance(chunk, int) or chunk < 1024:
        raise EnrollmentFormatError("max_chunk_bytes: must be a number of bytes (>= 1024)")
    unit_code = obj["unit_code"]
    if unit_code is not None and not isinstance(unit_code, str):
        raise EnrollmentFormatError("unit_code: must be a string or null")
    return Enrolled(
        device_id=device_id,
        unit_code=unit_code,
        unit_name=_text(obj, "unit_name"),
        signing_cert=_text(obj, "signing_cert"),
        transport_cert=_text(obj, "transport_cert"),
        ca_certs=tuple(_pem_list(ca_certs)),
        broker_host=_text(obj, "broker_host"),
        broker_port=port,
        max_chunk_bytes=chunk,
        procedures_csv=_text(obj, "procedures_csv", empty=True),
    )


def _object(body: object, schema: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise EnrollmentFormatError("the body must be a JSON object")
    if body.get("schema") != schema:
        raise EnrollmentFormatError(f"schema: must be {schema!r} (got {body.get('schema')!r})")
    names = set(body) - {"schema"}
    if missing := sorted(required - names):
        raise EnrollmentFormatError(f"missing: {', '.join(missing)}")
    if unknown := sorted(names - required - optional):
        raise EnrollmentFormatError(f"unknown members: {', '.join(unknown)}")
    return body


def _text(obj: Mapping[str, Any], name: str, *, empty: bool = False) -> str:
    value = obj[name]
    if not isinstance(value, str) or (not value and not empty):
        raise EnrollmentFormatError(f"{name}: must be a non-empty string")
    return value


def _csr_text(obj: Mapping[str, Any], name: str) -> str:
    value = _text(obj, name)
    if len(value) > MAX_CSR_CHARS or "-----BEGIN CERTIFICATE REQUEST-----" not in value:
        raise EnrollmentFormatError(
            f"{name}: must be a PEM certificate request of at most {MAX_CSR_CHARS} characters"
        )
    return value


def _pem_list(values: list[object]) -> list[str]:
    out = []
    for value in values:
        if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value:
            raise EnrollmentFormatError("ca_certs: must be a list of PEM certificates")
        out.append(value)
    return out


RENEW_SCHEMA = "sohoa.renew/1"
"""The schema of an appliance's renewal request."""
RENEWED_SCHEMA = "sohoa.renewed/1"
"""The schema of the server's answer to it."""


@dataclass(frozen=True)
class RenewRequest:
    """An enrolled appliance asking for fresh certificates for the keys it has
    (`sohoa.renew/1`, `POST /api/renew`).

    Its credential is the CSR: signed by the transport key the server certified for
    `device_id`, it proves the appliance holds that key (as TLS client authentication would,
    without asking the API's TLS listener for client certificates). The document-signing
    key's certificate is renewed for the same key, so the token's PIN is not needed.

    Attributes:
        device_id: the appliance.
        transport_csr: PEM CSR of its current transport key, signed by it.
    """

    device_id: str
    transport_csr: str

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON object."""
        return {
            "schema": RENEW_SCHEMA,
            "device_id": self.device_id,
            "transport_csr": self.transport_csr,
        }


def decode_renew_request(body: object) -> RenewRequest:
    """Read a renewal request (a parsed JSON value).

    Raises:
        EnrollmentFormatError: not an object of schema `sohoa.renew/1` with a valid device id
            and a PEM CSR of at most `MAX_CSR_CHARS`.
    """
    obj = _object(body, RENEW_SCHEMA, {"device_id", "transport_csr"}, set())
    try:
        device_id = validate_device_id(obj["device_id"])
    except TopicError as e:
        raise EnrollmentFormatError(f"device_id: {e}") from e
    return RenewRequest(device_id, _csr_text(obj, "transport_csr"))


@dataclass(frozen=True)
class Renewed:
    """The server's answer to a renewal (`sohoa.renewed/1`).

    Attributes:
        device_id: the appliance.
        signing_cert: PEM, the new document-signing certificate (same key, on the token).
        transport_cert: PEM, the new transport certificate (same key).
        ca_certs: PEM certificates from the issuing CA up to the root.
    """

    device_id: str
    signing_cert: str
    transport_cert: str
    ca_certs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The answer as a JSON object."""
        return {
            "schema": RENEWED_SCHEMA,
            "device_id": self.device_id,
            "signing_cert": self.signing_cert,
            "transport_cert": self.transport_cert,
            "ca_certs": list(self.ca_certs),
        }


def decode_renewed(body: object) -> Renewed:
    """Read the server's answer to a renewal (a parsed JSON value).

    Raises:
        EnrollmentFormatError: a member is missing or of the wrong kind.
    """
    names = {"device_id", "signing_cert", "transport_cert", "ca_certs"}
    obj = _object(body, RENEWED_SCHEMA, names, set())
    ca_certs = obj["ca_certs"]
    if not isinstance(ca_certs, list) or not ca_certs:
        raise EnrollmentFormatError("ca_certs: must be a list of PEM certificates")
    return Renewed(
        device_id=_text(obj, "device_id"),
        signing_cert=_text(obj, "signing_cert"),
        transport_cert=_text(obj, "transport_cert"),
        ca_certs=tuple(_pem_list(ca_certs)),
    )
