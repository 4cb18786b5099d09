"""The PKCS#11 token adapter against real SoftHSM2 tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from edge.errors import TokenError
from edge.signing.pades import DocumentSigner
from edge.signing.token import KeyAlgorithm, KeyKind, Token, token_present
from provisioning import softhsm as softhsm_module
from provisioning.ca import CertificateAuthority, Profile, new_key
from provisioning.errors import TokenInitError
from provisioning.softhsm import SoftHsmSetup, init_token, write_softhsm_conf
from server.verify import Verifier
from tests.fixtures.token import BlankToken, SigningIdentity, new_blank_token

KEY_ID = b"\x0a\x0b"


def test_wrong_pin_is_refused_once_and_the_right_pin_still_opens(
    blank_token: BlankToken,
) -> None:
    with pytest.raises(TokenError, match=r"refused the PIN\. It was not retried"):
        Token.open(blank_token.module_path, label=blank_token.label, pin="999999")
    with blank_token.open() as token:
        assert token.label == blank_token.label
        token.generate_signing_key(KEY_ID, "after-a-wrong-pin")
        assert token.key_protection(KEY_ID).sensitive


def test_missing_token_lists_the_labels_present(blank_token: BlankToken) -> None:
    with pytest.raises(TokenError) as caught:
        Token.open(blank_token.module_path, label="no-such-token", pin=blank_token.user_pin)
    assert "no token labelled 'no-such-token'" in str(caught.value)
    assert repr(blank_token.label) in str(caught.value)


def test_token_found_by_serial(blank_token: BlankToken) -> None:
    with blank_token.open() as token:
        serial = token.serial
    assert serial
    with Token.open(blank_token.module_path, serial=serial, pin=blank_token.user_pin) as token:
        assert token.label == blank_token.label


def test_missing_module_names_the_path_and_the_fix(tmp_path: Path) -> None:
    module = tmp_path / "libvendor-pkcs11.so"
    with pytest.raises(TokenError) as caught:
        Token.open(module, label="any", pin="1234")
    assert str(module) in str(caught.value)
    assert "apt-get install softhsm2" in str(caught.value)
    assert "vendor" in str(caught.value)


def test_a_token_opens_once_per_process(token: Token, blank_token: BlankToken) -> None:
    with pytest.raises(TokenError, match="already open in this process"):
        blank_token.open()
    # The first session is untouched by the refused second open.
    token.generate_signing_key(KEY_ID, "still-open")


def test_token_initialised_later_is_seen_once_no_token_is_open(softhsm: SoftHsmSetup) -> None:
    # python-pkcs11 initialises the module once per process and SoftHSM lists tokens only then:
    # a token made while a session is open stays invisible; Token.open re-initialises the module
    # as soon as nothing is open.
    first = new_blank_token(softhsm)
    with first.open():
        later = new_blank_token(softhsm)
        with pytest.raises(TokenError, match="every open Token of this process is closed"):
            later.open()
    with later.open() as token:
        assert token.label == later.label


def test_signing_key_is_made_on_the_token_and_cannot_leave_it(token: Token) -> None:
    token.generate_signing_key(KEY_ID, "document-signing")
    protection = token.key_protection(KEY_ID)
    assert protection.sensitive is True
    assert protection.extractable is False
    assert protection.always_sensitive is True
    assert protection.never_extractable is True
    assert protection.local is True
    assert protection.on_token is True
    assert protection.private is True


def test_a_second_key_with_the_same_id_is_refused(token: Token) -> None:
    token.generate_signing_key(KEY_ID, "first")
    with pytest.raises(TokenError, match="already holds a private key with ID 0a0b"):
        token.generate_signing_key(KEY_ID, "second")


def test_csr_is_signed_by_the_token_key(token: Token) -> None:
    token.generate_signing_key(KEY_ID, "document-signing")
    csr = token.make_csr(KEY_ID, "appliance-07")
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "appliance-07"
    spki = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == token.public_key_der(KEY_ID)


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048])
def test_sign_gives_a_signature_the_public_key_verifies(
    token: Token, algorithm: KeyAlgorithm
) -> None:
    token.generate_signing_key(KEY_ID, "document-signing", algorithm)
    data = b"the DER of a CMS's signed attributes"
    signature = token.sign(KEY_ID, data)
    public = serialization.load_der_public_key(token.public_key_der(KEY_ID))
    if isinstance(public, ec.EllipticCurvePublicKey):
        assert token.key_kind(KEY_ID) is KeyKind.EC
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # DER, as CMS holds it
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_sign_with_a_missing_key_or_a_closed_token_is_a_token_error(token: Token) -> None:
    with pytest.raises(TokenError, match="0 private keys with ID 0a0b"):
        token.sign(KEY_ID, b"data")
    token.generate_signing_key(KEY_ID, "document-signing")
    token.close()
    with pytest.raises(TokenError, match="is closed"):
        token.sign(KEY_ID, b"data")


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072])
def test_rsa_keys_are_made_on_the_token_enrolled_and_sign_verifiable_pdfs(
    token: Token, signing_ca: CertificateAuthority, unsigned_pdf: bytes, algorithm: KeyAlgorithm
) -> None:
    token.generate_signing_key(KEY_ID, "document-signing", algorithm)
    assert token.key_kind(KEY_ID) is KeyKind.RSA
    protection = token.key_protection(KEY_ID)
    assert protection.sensitive and not protection.extractable and protection.local
    csr = token.make_csr(KEY_ID, "appliance-07")
    assert csr.is_signature_valid
    public = csr.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == algorithm.rsa_bits
    cert = signing_ca.issue_from_csr(csr, "appliance-07", Profile.DOCUMENT_SIGNING)
    token.import_certificate(cert, KEY_ID, "document-signing")
    assert token.find_key_id_for_certificate(cert) == KEY_ID
    signed = DocumentSigner(token, KEY_ID).sign(unsigned_pdf)
    verdict = Verifier([signing_ca.cert]).verify(signed, device_id="appliance-07")
    assert verdict.valid, verdict.detail


def test_csr_for_a_missing_key_is_a_token_error(token: Token) -> None:
    with pytest.raises(TokenError, match="0 public keys with ID 0a0b"):
        token.make_csr(KEY_ID, "appliance-07")


def test_certificate_is_stored_with_the_key_id(signing_identity: SigningIdentity) -> None:
    token = signing_identity.token
    assert token.certificate(signing_identity.key_id) == signing_identity.certificate
    assert token.find_key_id_for_certificate(signing_identity.certificate) == (
        signing_identity.key_id
    )
    other = signing_identity.ca.issue(
        new_key().public_key(), "someone-else", Profile.DOCUMENT_SIGNING
    )
    assert token.find_key_id_for_certificate(other) is None


def test_certificate_for_another_key_is_refused(
    token: Token, signing_ca: CertificateAuthority
) -> None:
    token.generate_signing_key(KEY_ID, "document-signing")
    foreign = signing_ca.issue(new_key().public_key(), "appliance-07", Profile.DOCUMENT_SIGNING)
    with pytest.raises(TokenError, match="is not for the key with ID 0a0b"):
        token.import_certificate(foreign, KEY_ID, "document-signing")


def test_keys_and_certificates_persist_across_sessions(
    blank_token: BlankToken, signing_ca: CertificateAuthority
) -> None:
    with blank_token.open() as token:
        token.generate_signing_key(KEY_ID, "document-signing")
        cert = signing_ca.issue_from_csr(
            token.make_csr(KEY_ID, "appliance-07"), "appliance-07", Profile.DOCUMENT_SIGNING
        )
        token.import_certificate(cert, KEY_ID, "document-signing")
    with blank_token.open() as token:
        assert token.certificate(KEY_ID) == cert
        assert token.key_protection(KEY_ID).extractable is False


def test_a_closed_token_says_so(blank_token: BlankToken) -> None:
    token = blank_token.open()
    token.close()
    token.close()
    assert token.closed
    with pytest.raises(TokenError, match="is closed"):
        token.certificate(KEY_ID)


def test_init_token_refuses_a_short_pin(softhsm: SoftHsmSetup) -> None:
    with pytest.raises(TokenInitError, match="at least 4 characters"):
        init_token(softhsm, "short-pin", so_pin="12345678", user_pin="12")


def test_softhsm_conf_is_private(tmp_path: Path) -> None:
    setup = write_softhsm_conf(tmp_path / "hsm")
    conf = setup.conf_path.read_text()
    assert f"directories.tokendir = {setup.token_dir}" in conf
    assert "objectstore.backend = file" in conf
    assert setup.env() == {"SOFTHSM2_CONF": str(setup.conf_path)}
    assert setup.token_dir.stat().st_mode & 0o077 == 0
    assert setup.module_path.is_file()


def test_missing_softhsm_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(softhsm_module, "SOFTHSM_MODULE_CANDIDATES", (tmp_path / "libsofthsm2.so",))
    with pytest.raises(TokenInitError, match="apt-get install softhsm2"):
        softhsm_module.find_softhsm_module()


def test_token_presence_is_told_without_a_pin(blank_token: BlankToken, tmp_path: Path) -> None:
    assert token_present(blank_token.module_path, label=blank_token.label) is True
    assert token_present(blank_token.module_path, label="no-such-token") is False
    with pytest.raises(TokenError):
        token_present(tmp_path / "libmissing.so", label=blank_token.label)
