"""The appliance's checks of the server's enrollment answer (`edge.enroll._check_answer`): a
certificate for another key than the token's or the transport key, naming another device, or
not issued by the CA that came with it, is refused before anything is stored. (The whole
exchange against a real server is `tests/integration/test_enroll_appliance.py`.)
"""

from __future__ import annotations

import dataclasses

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge.enroll import _check_answer
from edge.errors import EnrollError
from edge.signing.token import Token
from protocol.enrollment import Enrolled
from provisioning.ca import CertificateAuthority, Profile

KEY_ID = bytes.fromhex("e1")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def answer(
    token: Token, signing_ca: CertificateAuthority
) -> tuple[Enrolled, ec.EllipticCurvePrivateKey]:
    token.generate_signing_key(KEY_ID, label="t")
    transport = ec.generate_private_key(ec.SECP256R1())
    csr = token.make_csr(KEY_ID, "appliance")
    signing = signing_ca.issue_from_csr(csr, "vt-01.kiosk", Profile.DOCUMENT_SIGNING)
    tls = signing_ca.issue(transport.public_key(), "vt-01.kiosk", Profile.TLS_CLIENT)
    enrolled = Enrolled(
        device_id="vt-01.kiosk",
        unit_code="22516",
        unit_name="UBND xã Vạn Thắng",
        signing_cert=_pem(signing),
        transport_cert=_pem(tls),
        ca_certs=(_pem(signing_ca.cert),),
        broker_host="127.0.0.1",
        broker_port=8883,
        max_chunk_bytes=1 << 20,
        procedures_csv="code,name\n",
    )
    return enrolled, transport


def test_a_fitting_answer_gives_the_signing_certificate(
    token: Token, answer: tuple[Enrolled, ec.EllipticCurvePrivateKey]
) -> None:
    enrolled, transport = answer
    cert = _check_answer(enrolled, token, KEY_ID, transport)
    assert _pem(cert) == enrolled.signing_cert


def test_certificates_that_do_not_fit_are_refused(
    token: Token,
    answer: tuple[Enrolled, ec.EllipticCurvePrivateKey],
    signing_ca: CertificateAuthority,
) -> None:
    enrolled, transport = answer
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_ca = CertificateAuthority.create("Another CA")
    cases = {
        "not for the key this token made": dataclasses.replace(
            enrolled,
            signing_cert=_pem(signing_ca.issue(stranger, "vt-01.kiosk", Profile.DOCUMENT_SIGNING)),
        ),
        "transport certificate is not for": dataclasses.replace(
            enrolled,
            transport_cert=_pem(signing_ca.issue(stranger, "vt-01.kiosk", Profile.TLS_CLIENT)),
        ),
        "does not name the device": dataclasses.replace(enrolled, device_id="vt-02.kiosk"),
        "not issued by the CA": dataclasses.replace(enrolled, ca_certs=(_pem(other_ca.cert),)),
    }
    for reason, bad in cases.items():
        with pytest.raises(EnrollError, match=reason):
            _check_answer(bad, token, KEY_ID, transport)
