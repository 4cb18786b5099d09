"""Long-term validation at the centre: B-LT and B-LTA copies made with a real RFC 3161 TSA
(OpenSSL's `ts -reply` over HTTP), checked by our verifier and, offline, by pyHanko."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority
from server.blobs import BlobStore
from server.db import session_scope
from server.ltv import LtvAugmenter, LtvCopy, LtvError, LtvWorker, verify_long_term
from server.models import LtvStatus
from server.repository import devices, records
from server.verify import Verifier
from tests.fixtures.token import SignedSample
from tests.fixtures.tsa import TimestampAuthority

YEARS_3 = dt.timedelta(days=3 * 365)


def _signatures(pdf: bytes) -> list[str]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return [str(s.sig_object_type) for s in reader.embedded_signatures]


def test_b_lt_copy_embeds_certificates_and_crls(
    ltv_verifier: Verifier, signed_sample: SignedSample
) -> None:
    copy = LtvAugmenter(ltv_verifier).augment(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    assert copy.status is LtvStatus.B_LT
    assert copy.pdf.startswith(signed_sample.signed) and len(copy.pdf) > len(signed_sample.signed)
    assert _signatures(copy.pdf) == ["/Sig"]
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(copy.pdf), strict=False))
    embedded = {c.sha256 for c in dss.load_certs()}
    signer = signed_sample.certificate.public_bytes(serialization.Encoding.DER)
    assert asn1_x509.Certificate.load(signer).sha256 in embedded
    assert len(dss.crls) >= 1
    centre = ltv_verifier.verify_centre_copy(
        copy.pdf, original=signed_sample.signed, device_id=signed_sample.device_id
    )
    assert centre.valid, centre.detail
    # What the centre adds is accepted only on its own copy, never from a device.
    sent = ltv_verifier.verify(copy.pdf, device_id=signed_sample.device_id)
    assert not sent.valid and "whole file" in sent.detail


def test_b_lta_copy_is_timestamped_by_the_tsa(
    augmenter: LtvAugmenter,
    ltv_verifier: Verifier,
    signed_sample: SignedSample,
    tsa: TimestampAuthority,
) -> None:
    served = tsa.served
    copy = augmenter.augment(signed_sample.signed, device_id=signed_sample.device_id)
    assert tsa.served > served  # a real request went to the TSA
    assert copy.status is LtvStatus.B_LTA
    assert copy.pdf.startswith(signed_sample.signed)
    assert _signatures(copy.pdf) == ["/Sig", "/DocTimeStamp"]
    assert set(copy.seconds) == {"dss", "timestamp", "check"}
    centre = ltv_verifier.verify_centre_copy(
        copy.pdf, original=signed_sample.signed, device_id=signed_sample.device_id
    )
    assert centre.valid, centre.detail
    sent = ltv_verifier.verify(copy.pdf, device_id=signed_sample.device_id)
    assert not sent.valid and "2 signatures" in sent.detail


def test_the_b_lta_copy_verifies_offline_now_and_years_later(
    lta_sample: LtvCopy,
    signed_sample: SignedSample,
    signing_ca: CertificateAuthority,
    tsa: TimestampAuthority,
) -> None:
    roots, tsa_roots = [signing_ca.cert], [tsa.ca.cert]
    now = verify_long_term(lta_sample.pdf, trust_roots=roots, tsa_roots=tsa_roots)
    assert now.valid, now.detail
    assert now.signer_common_name == signed_sample.device_id
    assert now.existed_at is not None
    assert abs(now.existed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)
    # Three years on, the device's certificate (825 days) has expired and every CRL is long
    # stale; the timestamp still proves the signature existed while both were good.
    assert signed_sample.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) + YEARS_3
    later = verify_long_term(
        lta_sample.pdf, trust_roots=roots, tsa_roots=tsa_roots, at=dt.datetime.now(dt.UTC) + YEARS_3
    )
    assert later.valid, later.detail
    assert later.checked_at == now.existed_at


def test_a_b_lt_copy_without_timestamp_lasts_only_as_long_as_its_crl(
    ltv_verifier: Verifier, signed_sample: SignedSample, signing_ca: CertificateAuthority
) -> None:
    copy = LtvAugmenter(ltv_verifier).augment(
        signed_sample.signed, device_id=signed_sample.device_id
    )
    assert verify_long_term(copy.pdf, trust_roots=[signing_ca.cert]).valid
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)  # the CRL's nextUpdate is 7 days
    stale = verify_long_term(copy.pdf, trust_roots=[signing_ca.cert], at=later)
    assert not stale.valid and "does not verify" in stale.detail


def test_the_offline_check_catches_a_change_and_a_foreign_root(
    lta_sample: LtvCopy, signing_ca: CertificateAuthority, tsa: TimestampAuthority
) -> None:
    data = bytearray(lta_sample.pdf)
    data[len(data) // 8] ^= 0x01  # inside the device's signed bytes
    changed = verify_long_term(bytes(data), trust_roots=[signing_ca.cert], tsa_roots=[tsa.ca.cert])
    assert not changed.valid
    other = CertificateAuthority.create("Another Province CA").cert
    foreign = verify_long_term(lta_sample.pdf, trust_roots=[other], tsa_roots=[tsa.ca.cert])
    assert not foreign.valid and "does not verify" in foreign.detail


def test_pyhankos_etsi_validator_wants_a_signature_timestamp(
    lta_sample: LtvCopy, signing_ca: CertificateAuthority, tsa: TimestampAuthority
) -> None:
    """Pins a known limit: ETSI EN 319 102-1 validation (pyHanko's `ades_lta_validation`)
    builds B-LTA on B-T, and an offline appliance signs B-B. If the edge ever adds a signature
    timestamp, this test fails and the copies become ETSI B-LTA proper."""

    def policy(root: x509.Certificate) -> CertValidationPolicySpec:
        anchor = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
        return CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[anchor]),
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy(
                    ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
                    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
                )
            ),
        )

    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy(signing_ca.cert),
            ts_cert_validation_policy=policy(tsa.ca.cert),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )
    signature = PdfFileReader(io.BytesIO(lta_sample.pdf), strict=False).embedded_signatures[0]
    result = asyncio.run(ades_lta_validation(signature, spec))
    assert result.ades_subindic is AdESIndeterminate.SIG_CONSTRAINTS_FAILURE


def test_an_unreachable_tsa_is_an_error_that_names_it(
    ltv_verifier: Verifier, signed_sample: SignedSample
) -> None:
    down = LtvAugmenter(ltv_verifier, tsa_url="http://127.0.0.1:9/tsa", tsa_timeout_s=2)
    with pytest.raises(LtvError, match=r"TSA at http://127\.0\.0\.1:9/tsa"):
        down.augment(signed_sample.signed, device_id=signed_sample.device_id)


def test_a_stale_crl_is_an_error_and_no_crl_no_ltv(signed_sample: SignedSample) -> None:
    ca = signed_sample.ca
    now = dt.datetime.now(dt.UTC)
    stale = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(days=10))
        .next_update(now - dt.timedelta(days=3))
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(LtvError, match="validation data"):
        LtvAugmenter(Verifier([ca.cert], crls=[stale])).augment(
            signed_sample.signed, device_id=signed_sample.device_id
        )
    with pytest.raises(LtvError, match="crl_path"):
        LtvAugmenter(Verifier([ca.cert]))


def test_a_centre_copy_must_begin_with_the_original(
    ltv_verifier: Verifier, lta_sample: LtvCopy, signed_sample: SignedSample
) -> None:
    shifted = b"\n" + lta_sample.pdf  # the same copy, one byte off: not the bytes received
    verdict = ltv_verifier.verify_centre_copy(
        shifted, original=signed_sample.signed, device_id=signed_sample.device_id
    )
    assert not verdict.valid and "does not begin with" in verdict.detail


# --- the LTV worker over a real repository --------------------------------------------------------


def _store(engine: Engine, blobs: BlobStore, sample: SignedSample) -> str:
    with session_scope(engine) as s:
        devices.register_device(
            s, sample.device_id, sample.unit, sample.certificate.fingerprint(hashes.SHA256()).hex()
        )
        verdict = Verifier([sample.ca.cert]).verify(sample.signed, device_id=sample.device_id)
        return records.merge_result(
            s,
            result_id=sha256_hex(sample.signed),
            device_id=sample.device_id,
            fields={},
            verdict=verdict,
            pdf_path=blobs.put(sample.signed),
            pdf_size=len(sample.signed),
        ).record_id


def test_the_worker_makes_the_copy_beside_the_untouched_original(
    db_engine: Engine, tmp_path: Path, augmenter: LtvAugmenter, signed_sample: SignedSample
) -> None:
    blobs = BlobStore(tmp_path)
    record_id = _store(db_engine, blobs, signed_sample)
    worker = LtvWorker(db_engine, blobs, augmenter)
    assert worker.augment_pending() == 1
    assert worker.augment_pending() == 0  # nothing left pending
    with session_scope(db_engine) as s:
        record = records.get_record(s, record_id)
    assert record is not None
    assert record.ltv_status is LtvStatus.B_LTA and record.ltv_error is None
    assert record.ltv_pdf_path is not None and record.ltv_at is not None
    assert blobs.resolve(record.pdf_path).read_bytes() == signed_sample.signed
    copy = blobs.resolve(record.ltv_pdf_path).read_bytes()
    assert copy.startswith(signed_sample.signed) and len(copy) == record.ltv_size
    assert worker.stats().made == 1 and worker.stats().seconds["timestamp"] > 0


def test_a_failed_copy_stays_pending_with_its_reason(
    db_engine: Engine, tmp_path: Path, ltv_verifier: Verifier, signed_sample: SignedSample
) -> None:
    blobs = BlobStore(tmp_path)
    record_id = _store(db_engine, blobs, signed_sample)
    down = LtvAugmenter(ltv_verifier, tsa_url="http://127.0.0.1:9/tsa", tsa_timeout_s=2)
    worker = LtvWorker(db_engine, blobs, down)
    assert worker.augment_pending() == 0
    with session_scope(db_engine) as s:
        record = records.get_record(s, record_id)
        assert record is not None
        assert record.ltv_status is LtvStatus.PENDING and record.ltv_pdf_path is None
        assert record.ltv_error is not None and "127.0.0.1:9" in record.ltv_error
        assert [r.id for r in records.pending_ltv(s)] == [record_id]
    assert worker.stats().failed == 1


def test_a_record_that_cannot_be_copied_does_not_hold_the_others_back(
    db_engine: Engine, tmp_path: Path, augmenter: LtvAugmenter, signed_sample: SignedSample
) -> None:
    blobs = BlobStore(tmp_path)
    with session_scope(db_engine) as s:
        devices.register_device(
            s,
            signed_sample.device_id,
            signed_sample.unit,
            signed_sample.certificate.fingerprint(hashes.SHA256()).hex(),
        )
        lost = b"%PDF-1.7 a result whose blob was lost"
        broken = records.merge_result(
            s,
            result_id=sha256_hex(lost),
            device_id=signed_sample.device_id,
            fields={},
            verdict=Verifier([signed_sample.ca.cert]).verify(
                signed_sample.signed, device_id=signed_sample.device_id
            ),
            pdf_path=blobs.relative_path(sha256_hex(lost)),  # never written
            pdf_size=len(lost),
            received_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),  # the oldest
        ).record_id
    good = _store(db_engine, blobs, signed_sample)
    worker = LtvWorker(db_engine, blobs, augmenter)
    assert worker.augment_pending() == 1
    with session_scope(db_engine) as s:
        assert [r.id for r in records.pending_ltv(s)] == [broken]
        record = records.get_record(s, good)
        assert record is not None and record.ltv_status is LtvStatus.B_LTA
        failed = records.get_record(s, broken)
        assert failed is not None and failed.ltv_error and "missing" in failed.ltv_error
