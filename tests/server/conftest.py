"""Fixtures of the server tests: the CRLs as provisioning publishes them, a verifier and an LTV
augmenter configured like the server's, over the real test TSA; a device whose token signed
a small and a ~600 KB result, for ingest; and the ingest tests' server settings, verifier and
running worker (a module that needs another kind overrides the fixture of that name); the
Khánh Hòa unit tree imported; and the API tests' settings (no broker), app and client.

Every settings here hash passwords at the tests-only cost (`tests.server.signin` says why).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from edge.signing.pades import DocumentSigner
from provisioning.broker import Mosquitto
from provisioning.ca import CertificateAuthority, publish_crl
from provisioning.softhsm import SoftHsmSetup
from server.api.main import create_app
from server.catalogue_files import KHANH_HOA_UNITS, read_units
from server.config import ServerSettings
from server.db import session_scope
from server.ingest import IngestWorker
from server.ltv import LtvAugmenter, LtvCopy
from server.repository import devices, units
from server.verify import Verifier
from tests.fixtures.broker import MqttIdentity
from tests.fixtures.token import (
    SignedSample,
    make_pdf,
    new_blank_token,
    provision_signing_identity,
    with_fields,
)
from tests.fixtures.tsa import TimestampAuthority
from tests.server.peers import FIELDS, DevicePeer, api_settings_for, running, server_settings


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


# --- ingest: a device with a signing key on a token, a small and a large signed result ----------


INGEST_DEVICE = "test-ingest-01"


@dataclass(frozen=True)
class IngestSigner:
    """A device's document-signing identity and results it signed on its (closed) token.

    Every PDF carries `tests.server.peers.FIELDS` in its signed XMP, the fields the peers'
    headers name by default.

    Attributes:
        device_id: the device (also its MQTT identity's name).
        certificate: its document-signing certificate.
        ca: the CA that issued it (the verifier's trust root).
        small: a one-page signed PDF (a few KB: sent whole).
        large: a signed PDF of about 600 KB (sent in chunks).
        extra: more distinct small signed PDFs.
        large_extra: more distinct signed PDFs of about 500 KB.
    """

    device_id: str
    certificate: x509.Certificate
    ca: CertificateAuthority
    small: bytes
    large: bytes
    extra: tuple[bytes, ...]
    large_extra: tuple[bytes, ...]

    def register(self, engine: Engine, *, cert_sha256: str | None = None) -> None:
        """Register the device in the repository (under another certificate when given)."""
        with session_scope(engine) as s:
            devices.register_device(
                s, self.device_id, "UBND xã Vạn Thắng", cert_sha256 or self.cert_sha256
            )

    @property
    def cert_sha256(self) -> str:
        """The registered fingerprint of its signing certificate."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _noise_pdf(side: int, seed: int) -> bytes:
    """A one-page PDF of a noise image (JPEG barely compresses it): side 1000 gives ~600 KB."""
    rnd = random.Random(seed)
    page = Image.frombytes("RGB", (side, side), rnd.randbytes(side * side * 3))
    out = io.BytesIO()
    page.save(out, "PDF", resolution=100.0)
    return out.getvalue()


@pytest.fixture(scope="session")
def ingest_signer(softhsm: SoftHsmSetup, signing_ca: CertificateAuthority) -> IngestSigner:
    """Results signed through the real path (SoftHSM key, pyHanko) by `INGEST_DEVICE`."""
    with new_blank_token(softhsm).open() as opened:
        identity = provision_signing_identity(opened, signing_ca, device_id=INGEST_DEVICE)
        signer = DocumentSigner(opened, identity.key_id, organisation=identity.unit)

        def sign(pdf: bytes) -> bytes:
            # With FIELDS in its XMP: what the peers' headers say is what was signed.
            return signer.sign(with_fields(pdf, FIELDS))

        small = sign(make_pdf("QUYET DINH so 07/QD-UBND"))
        large = sign(_noise_pdf(1000, seed=6))
        extra = tuple(sign(make_pdf(f"GIAY CHUNG NHAN so {i:02d}")) for i in range(24))
        large_extra = tuple(sign(_noise_pdf(900, seed=100 + i)) for i in range(6))
    return IngestSigner(
        INGEST_DEVICE, identity.certificate, signing_ca, small, large, extra, large_extra
    )


@pytest.fixture
def device(
    broker: Mosquitto, mqtt_identity: MqttIdentity, ingest_signer: IngestSigner
) -> Iterator[DevicePeer]:
    """An MQTT client with the ingest signer's device identity, publishing as that appliance."""
    peer = DevicePeer(broker, ingest_signer.device_id, mqtt_identity(ingest_signer.device_id))
    yield peer
    peer.close()


@pytest.fixture
def settings(
    broker: Mosquitto, mqtt_identity: MqttIdentity, db_url: str, tmp_path: Path
) -> ServerSettings:
    """A server's settings on the test broker and database, its data in a temp folder."""
    return server_settings(broker, mqtt_identity, db_url, tmp_path / "data")


@pytest.fixture
def verifier(ingest_signer: IngestSigner) -> Verifier:
    """The real verifier, trusting the CA of the ingest signer's certificate."""
    return Verifier([ingest_signer.ca.cert])


@pytest.fixture
def worker(
    settings: ServerSettings, db_engine: Engine, verifier: Verifier
) -> Iterator[IngestWorker]:
    """A running ingest worker with `settings` and `verifier`, stopped after the test."""
    with running(IngestWorker(settings, db_engine, verifier)) as worker:
        yield worker


# --- the unit tree --------------------------------------------------------------------------------


@pytest.fixture
def khanh_hoa_units(db_engine: Engine) -> None:
    """The shipped Khánh Hòa unit tree, imported into the test's repository (unit officers'
    accounts and devices name its codes)."""
    rows = read_units(KHANH_HOA_UNITS)
    with session_scope(db_engine) as s:
        units.import_units(s, rows)


# --- the API without a broker ---------------------------------------------------------------------


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> ServerSettings:
    """An API server's settings on this test's database, its data in a temp folder."""
    return api_settings_for(db_url, tmp_path / "data")


@pytest.fixture
def app(api_settings: ServerSettings, db_engine: Engine, khanh_hoa_units: None) -> FastAPI:
    """The API app on `api_settings`, over a repository with the Khánh Hòa units."""
    return create_app(api_settings, db_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of `app` (started), signed in as nobody yet."""
    with TestClient(app) as c:
        yield c
