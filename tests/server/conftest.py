"""Fixtures of the server tests: the CRLs as provisioning publishes them, a verifier and an LTV
augmenter configured like the server's, over the real test TSA."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.ca import CertificateAuthority, publish_crl
from server.ltv import LtvAugmenter, LtvCopy
from server.verify import Verifier
from tests.fixtures.token import SignedSample
from tests.fixtures.tsa import TimestampAuthority


@pytest.fixture(scope="session")
def crl_dir(
    signing_ca: CertificateAuthority,
    tsa: TimestampAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A folder of current CRLs (the server's `crl_path`): the provincial CA's, published by
    `provisioning.ca.publish_crl` (nothing revoked), and the TSA root's."""
    ca_dir = tmp_path_factory.mktemp("provincial-ca")
    signing_ca.save(ca_dir)
    folder = tmp_path_factory.mktemp("crls")
    publish_crl(ca_dir, folder / "provincial.pem")
    (folder / "tsa-root.pem").write_bytes(tsa.crl_pem)
    return folder


@pytest.fixture(scope="session")
def ltv_verifier(
    signing_ca: CertificateAuthority, tsa: TimestampAuthority, crl_dir: Path
) -> Verifier:
    """The verifier as the server builds it: provincial root, CRL folder, TSA root."""
    return Verifier([signing_ca.cert], crl_path=crl_dir, tsa_roots=[tsa.ca.cert])


@pytest.fixture(scope="session")
def augmenter(ltv_verifier: Verifier, tsa: TimestampAuthority) -> LtvAugmenter:
    """Makes B-LTA copies through the test TSA."""
    return LtvAugmenter(ltv_verifier, tsa_url=tsa.url)


@pytest.fixture(scope="session")
def lta_sample(augmenter: LtvAugmenter, signed_sample: SignedSample) -> LtvCopy:
    """The B-LTA copy of `signed_sample`."""
    return augmenter.augment(signed_sample.signed, device_id=signed_sample.device_id)
