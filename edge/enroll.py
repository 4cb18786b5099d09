"""Enrolling this appliance (`sohoa edge enroll`): a one-time code from the province's admin
becomes its certificates and its configuration (`protocol.enrollment` describes the exchange).

What happens, in order, so that a refusal anywhere leaves nothing behind:

1. The code is read (as typed, or from a photo of its QR code) and the configuration file, if
   there is one, is read for the token's settings; an appliance already enrolled is refused.
2. The server is reached over HTTPS and the key its handshake presents must hash to the code's
   pin (no CA is trusted for this: the code says which key is the server's); the server's
   clock (its HTTP `Date`) is compared with this appliance's, which must be within
   `MAX_CLOCK_SKEW` (certificates and signatures carry times). The code has not been sent yet.
3. The document-signing key pair is generated on the token (it never leaves it) and the token
   signs its CSR; the transport key is made in memory. Both CSRs and the code go to the server.
4. The answer is checked: each certificate is for the key it was asked for, names the device
   the server registered, and is issued by the CA that came with it. Only then is the
   certificate stored on the token and the files written: the transport key (0600), the
   certificates, the CA, the procedure catalogue, and last the configuration, atomically.
   A refusal or a failure before that deletes the key pair from the token again.
"""

from __future__ import annotations

import logging
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge.config import DEFAULT_PKCS11_MODULE, EdgeSettings
from edge.errors import EnrollError, TokenError
from edge.renew import SIGNING_KEY_LABEL
from edge.server_link import TIMEOUT_S, PinnedServer
from edge.signing.token import Token
from protocol.enrollment import (
    Enrolled,
    EnrollmentCode,
    EnrollRequest,
    decode_enrolled,
    spki_der,
)
from protocol.errors import EnrollmentFormatError
from support.files import write_atomic
from support.settings import toml_text

log = logging.getLogger(__name__)

ENROLL_PATH = "/api/enroll"
CHUNK_SIZE = EdgeSettings.model_fields["chunk_size"].default
"""The appliance's chunk size unless its configuration says otherwise (the server's largest
chunk caps it)."""


@dataclass(frozen=True)
class EnrolledAppliance:
    """What an enrollment wrote.

    Attributes:
        device_id: the id this appliance was registered under.
        unit_name: its unit.
        config_file: its configuration, complete.
        home: the folder of its certificates, transport key and catalogue.
    """

    device_id: str
    unit_name: str
    config_file: Path
    home: Path


@dataclass(frozen=True)
class TokenChoice:
    """Which token holds the signing key: from the options, else the configuration file."""

    pkcs11_module: Path | None = None
    token_label: str | None = None
    token_serial: str | None = None


def enroll(
    server_url: str,
    code: EnrollmentCode,
    config_file: Path,
    pin: str,
    *,
    token: TokenChoice = TokenChoice(),
    unit: str | None = None,
    home: Path | None = None,
    timeout_s: float = TIMEOUT_S,
) -> EnrolledAppliance:
    """Enroll this appliance with the server at `server_url` (the module's docstring says how).

    Args:
        server_url: https://HOST[:PORT] of the server.
        code: the one-time code (`protocol.enrollment.parse_code`).
        config_file: the appliance's TOML settings: read for the token's settings if it exists,
            written complete at the end.
        pin: the token's user PIN.
        token: the token's module, label or serial, overriding the configuration file's.
        unit: the unit code this appliance is meant for, if known: a code issued for another
            unit is refused by the server.
        home: where the certificates and the transport key go (default: `config_file`'s folder).
        timeout_s: how long the server may take to answer.

    Raises:
        EnrollError: the server cannot be reached, is not the one the code pins, refused the
            code or the CSRs, or answered something that does not fit what was asked; the
            appliance is enrolled already; the clocks disagree; a file cannot be written.
        TokenError: the token cannot be opened or refused to make the key.
    """
    existing = _read_config(config_file)
    if existing.get("device_id") and existing.get("signing_key_id"):
        raise EnrollError(
            f"this appliance is enrolled already (as {existing['device_id']}, in {config_file}):"
            " to enroll it again, move that file away first"
        )
    # Absolute: the settings are read from wherever the services start.
    home = (home or config_file.parent).absolute()
    module = token.pkcs11_module or Path(existing.get("pkcs11_module", DEFAULT_PKCS11_MODULE))
    label = token.token_label or existing.get("token_label")
    serial = token.token_serial or existing.get("token_serial")
    # The token first: SoftHSM's OpenSSL leaves an error ("no such engine") in the thread's
    # queue when it loads, which a TLS connection already open then reads as its own failure.
    with (
        Token.open(module, label=label, serial=serial, pin=pin) as opened,
        PinnedServer(server_url, code.pin, timeout_s) as server,
    ):
        server.check_clock()
        key_id = secrets.token_bytes(8)
        opened.generate_signing_key(key_id, label=SIGNING_KEY_LABEL)
        try:
            transport_key = ec.generate_private_key(ec.SECP256R1())
            request = EnrollRequest(
                code=code.secret,
                signing_csr=_pem_csr(opened.make_csr(key_id, "appliance")),
                transport_csr=_pem_csr(_transport_csr(transport_key)),
                unit=unit,
            )
            answer = _decoded(server.post(ENROLL_PATH, request.to_json(), "enrollment"))
            signing = _check_answer(answer, opened, key_id, transport_key)
            opened.import_certificate(signing, key_id, label=SIGNING_KEY_LABEL)
            values = _write_files(home, answer, transport_key)
            settings = {
                **existing,
                **values,
                "device_id": answer.device_id,
                "server_url": server.url,
                "server_pin": code.pin,
                "pkcs11_module": str(module),
                "signing_key_id": key_id.hex(),
                "organisation": existing.get("organisation") or answer.unit_name,
                "broker_host": answer.broker_host,
                "broker_port": answer.broker_port,
                "chunk_size": min(
                    int(existing.get("chunk_size", CHUNK_SIZE)), answer.max_chunk_bytes
                ),
                **{k: v for k, v in (("token_label", label), ("token_serial", serial)) if v},
                # An enrolled appliance keeps its citizens' data sealed by its token
                # (`edge.sync.sealing`), unless its configuration said otherwise.
                "outbox_sealing": existing.get("outbox_sealing", True),
            }
            _write_config(config_file, settings)
        except BaseException:
            _forget_key(opened, key_id)
            raise
    log.info("enrolled as %s (unit %s)", answer.device_id, answer.unit_code)
    return EnrolledAppliance(answer.device_id, answer.unit_name, config_file, home)


def _decoded(body: object) -> Enrolled:
    try:
        return decode_enrolled(body)
    except EnrollmentFormatError as e:
        raise EnrollError(f"the server's answer cannot be read: {e}") from e


def _check_answer(
    answer: Enrolled, token: Token, key_id: bytes, transport_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """The signing certificate, once both are found to be for the key each was asked for, to
    name the device, and to be issued by the CA that came with them.

    Raises:
        EnrollError: one of them is not.
    """
    try:
        signing = x509.load_pem_x509_certificate(answer.signing_cert.encode())
        transport = x509.load_pem_x509_certificate(answer.transport_cert.encode())
        ca = x509.load_pem_x509_certificate(answer.ca_certs[0].encode())
    except ValueError as e:
        raise EnrollError(f"the server sent a certificate that cannot be read: {e}") from e
    if spki_der(signing.public_key()) != token.public_key_der(key_id):
        raise EnrollError(
            "the server's signing certificate is not for the key this token made: enrollment "
            "stopped, nothing kept; tell the province's admin"
        )
    if spki_der(transport.public_key()) != spki_der(transport_key.public_key()):
        raise EnrollError("the server's transport certificate is not for this appliance's key")
    for cert in (signing, transport):
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [n.value for n in names] != [answer.device_id]:
            raise EnrollError(f"a certificate does not name the device {answer.device_id}")
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature) as e:
            raise EnrollError("a certificate is not issued by the CA the server sent") from e
    return signing


def _write_files(
    home: Path, answer: Enrolled, transport_key: ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    """Write the appliance's files into `home`; their settings.

    Raises:
        EnrollError: a file cannot be written.
    """
    files = {
        "key_file": (home / "transport-key.pem", _key_pem(transport_key), 0o600),
        "cert_file": (home / "transport.pem", answer.transport_cert.encode(), 0o644),
        "ca_file": (home / "ca.pem", "".join(answer.ca_certs).encode(), 0o644),
        "signing_cert_file": (home / "signing.pem", answer.signing_cert.encode(), 0o644),
        "procedures_file": (home / "procedures.csv", answer.procedures_csv.encode(), 0o644),
    }
    try:
        for path, data, mode in files.values():
            write_atomic(path, data, mode=mode)
    except OSError as e:
        raise EnrollError(f"cannot write the appliance's files in {home}: {e}") from e
    return {name: str(path) for name, (path, _, _) in files.items()}


def _write_config(path: Path, values: dict[str, Any]) -> None:
    try:
        write_atomic(path, toml_text(values).encode(), mode=0o640)
    except OSError as e:
        raise EnrollError(f"cannot write the configuration {path}: {e}") from e


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise EnrollError(f"cannot read the configuration {path}: {e}") from e


def _forget_key(token: Token, key_id: bytes) -> None:
    try:
        token.destroy_key(key_id)
    except TokenError as e:  # the original failure is what the person must see
        log.warning("the unfinished enrollment's key %s stays on the token: %s", key_id.hex(), e)


def _transport_csr(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "appliance")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def _pem_csr(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
