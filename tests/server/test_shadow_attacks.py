"""Shadow attacks (Mainka, Mladenov, Rohlmann, NDSS 2021) against our verifier: a document signed
on a real SoftHSM token, then changed by incremental updates that hide, replace, or hide and
replace content without touching a signed byte (see `tests/server/shadow.py`).

Each attack is checked three ways: poppler (`pdftoppm`) shows that it really changes the page —
so the test is not vacuous — except where poppler repairs the xref and shows the signed page;
the device path (`Verifier.verify`) refuses it; and on the centre's own B-LTA copy, where DSS and
timestamp updates are legitimate, `verify_centre_copy` and the offline `verify_long_term` still
refuse it (pyHanko's difference analysis allows nothing but LTV updates).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.signing.pades import DocumentSigner
from protocol.reasons import RejectReason
from provisioning.ca import CertificateAuthority
from provisioning.softhsm import SoftHsmSetup
from server.ltv import LtvAugmenter, verify_long_term
from server.verify import Verifier
from tests.fixtures.token import UNIT, make_pdf, new_blank_token, provision_signing_identity
from tests.fixtures.tsa import TimestampAuthority
from tests.server import shadow

POPPLER_REPAIRS = {"hide-via-xref", "hide-and-replace-via-xref"}
"""Attacks through the xref alone: poppler notices the broken cross-reference table, rebuilds it
by scanning the file, and so shows the signed page. Other viewers in the paper did not."""


@dataclass(frozen=True)
class Shadowed:
    """A prepared document signed on a token, and its centre copy."""

    signed: bytes
    lta: bytes
    objects: shadow.Prepared
    device_id: str


@pytest.fixture(scope="module")
def shadowed(
    softhsm: SoftHsmSetup, signing_ca: CertificateAuthority, augmenter: LtvAugmenter
) -> Shadowed:
    prepared, objects = shadow.prepare_document(make_pdf())
    with new_blank_token(softhsm).open() as opened:
        identity = provision_signing_identity(opened, signing_ca)
        signed = DocumentSigner(opened, identity.key_id, organisation=UNIT).sign(prepared)
    lta = augmenter.augment(signed, device_id=identity.device_id).pdf
    return Shadowed(signed, lta, objects, identity.device_id)


def _render(pdf: bytes, folder: Path, name: str) -> bytes:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftoppm", "-r", "36", "-gray", "-f", "1", "-l", "1", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def _text(pdf: bytes, folder: Path) -> str:
    path = folder / "text.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_the_prepared_document_is_valid_and_shows_the_signed_amount(
    ltv_verifier: Verifier, shadowed: Shadowed, tmp_path: Path
) -> None:
    verdict = ltv_verifier.verify(shadowed.signed, device_id=shadowed.device_id)
    assert verdict.valid, verdict.detail
    text = _text(shadowed.signed, tmp_path)
    assert shadow.SHOWN_TEXT in text and shadow.HIDDEN_TEXT not in text
    centre = ltv_verifier.verify_centre_copy(
        shadowed.lta, original=shadowed.signed, device_id=shadowed.device_id
    )
    assert centre.valid, centre.detail


@pytest.mark.parametrize("name", sorted(shadow.ATTACKS))
def test_an_attack_sent_by_a_device_is_rejected(
    name: str, ltv_verifier: Verifier, shadowed: Shadowed, tmp_path: Path
) -> None:
    attacked = shadow.ATTACKS[name](shadowed.signed, shadowed.objects)
    assert attacked.startswith(shadowed.signed)  # not one signed byte changed
    if name not in POPPLER_REPAIRS:
        assert _render(attacked, tmp_path, "attacked") != _render(shadowed.signed, tmp_path, "ok")
    verdict = ltv_verifier.verify(attacked, device_id=shadowed.device_id)
    assert verdict.valid is False
    assert verdict.reason is RejectReason.SIGNATURE
    assert "whole file" in verdict.detail or "could not be read" in verdict.detail


@pytest.mark.parametrize("name", sorted(shadow.ATTACKS))
def test_an_attack_on_the_centre_copy_is_rejected(
    name: str,
    ltv_verifier: Verifier,
    shadowed: Shadowed,
    signing_ca: CertificateAuthority,
    tsa: TimestampAuthority,
) -> None:
    attacked = shadow.ATTACKS[name](shadowed.lta, shadowed.objects)
    assert attacked.startswith(shadowed.lta)
    centre = ltv_verifier.verify_centre_copy(
        attacked, original=shadowed.signed, device_id=shadowed.device_id
    )
    assert centre.valid is False, name
    assert centre.reason is RejectReason.SIGNATURE
    offline = verify_long_term(attacked, trust_roots=[signing_ca.cert], tsa_roots=[tsa.ca.cert])
    assert offline.valid is False, name
