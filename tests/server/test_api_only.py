"""`sohoa server api`: the API and the pages alone, for API hosts behind a load balancer beside
`sohoa server ingest` hosts (docs/scale-out.md). It serves with no broker to reach and no MQTT
identity; behind a proxy named in `forwarded_allow_ips`, the client is the one the proxy's
`X-Forwarded-For` names (the enrollment's rate limit counts it), and no one else may say so."""

from __future__ import annotations

from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from provisioning.ca import CertificateAuthority
from provisioning.province import write_config
from server.db import make_engine, session_scope
from server.models import EnrollmentFailure
from server.process import ServerProcess
from support.sockets import free_port


def _csr() -> str:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "appliance")])
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _sources(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            return {row.source for row in s.exec(select(EnrollmentFailure)).all()}
    finally:
        engine.dispose()


def test_the_api_alone_serves_without_a_broker_and_believes_only_its_proxy(
    tmp_path: Path,
) -> None:
    CertificateAuthority.create("API-only Test CA").save(tmp_path / "ca")
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'repository.db'}"
    config = write_config(
        tmp_path / "server.toml",
        {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "api_port": port,
            "broker_port": free_port(),  # nobody listens there: the API does not care
            "forwarded_allow_ips": "127.0.0.1",
            "ca_dir": tmp_path / "ca",
        },
    )
    with ServerProcess(config, tmp_path / "api.log", role="api", api_port=port) as server:
        assert httpx.get(f"{server.api_url}/healthz").status_code == 200
        assert httpx.get(f"{server.api_url}/api/search?q=x").status_code == 401
        # A guessed code, through the proxy: counted against the client the proxy names.
        guess = {"schema": "sohoa.enroll/1", "code": "A" * 20}
        guess |= {"signing_csr": _csr(), "transport_csr": _csr()}
        proxied = {"X-Forwarded-For": "203.0.113.7"}
        refused = httpx.post(f"{server.api_url}/api/enroll", json=guess, headers=proxied)
        assert refused.status_code == 403
    assert _sources(database_url) == {"203.0.113.7"}
    assert "ingest" not in (tmp_path / "api.log").read_text()
