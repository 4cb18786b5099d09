"""`harness.fleet`: a fleet provisioned in one go has every appliance enrolled on the shared
token, registered with its signer, and configured with settings the appliance accepts; its
server processes (`harness.processes.server_nodes`) start the server's own number of ingest
workers unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from edge.config import load_edge_settings
from harness.bench_sync import BenchConfig
from harness.fleet import provision_fleet
from harness.processes import server_nodes
from server.config import ServerSettings, load_server_settings
from server.db import make_engine
from server.repository.devices import get_device


def test_a_fleet_is_enrolled_registered_and_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fleet points SOFTHSM2_CONF at its own token store: the suite's is put back afterwards.
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)
    fleet = provision_fleet(tmp_path / "fleet", 3, prefix="t")
    assert [a.device_id for a in fleet.appliances] == ["t-001", "t-002", "t-003"]
    assert len({a.key_id for a in fleet.appliances}) == 3
    engine = make_engine(fleet.database_url)
    try:
        with Session(engine) as session:
            for appliance in fleet.appliances:
                device = get_device(session, appliance.device_id)
                assert device is not None
                assert device.signing_cert_sha256 == appliance.signing_cert_sha256
    finally:
        engine.dispose()
    appliance = fleet.appliances[1]
    settings = load_edge_settings(fleet.write_edge_config(appliance, "127.0.0.1", 8883))
    assert settings.outbox_dir == appliance.outbox_dir
    assert settings.signing_key_id_bytes == appliance.key_id
    assert settings.cert_file == appliance.cert_file
    assert fleet.write_server_config("127.0.0.1", 8883, api_port=8080).is_file()


def test_server_nodes_start_the_servers_own_number_of_ingest_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One source of truth: the benchmarks measure the server as shipped (`ingest_workers`).
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)
    fleet = provision_fleet(tmp_path / "fleet", 1, prefix="w")
    shipped = ServerSettings().ingest_workers
    run, ingest = server_nodes(fleet, 8883, processes=2)
    assert run.workers == ingest.workers == shipped
    assert load_server_settings(fleet.server_dir / "server-1.toml").ingest_workers == shipped
    assert BenchConfig().workers == shipped
    (one,) = server_nodes(fleet, 8883, workers=1)
    assert one.workers == 1
