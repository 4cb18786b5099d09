"""`bench.fleet` at a tiny size, against the real processes it measures (`sohoa server run` over
HTTPS and `sohoa server ingest`, two Mosquittos, SoftHSM tokens): every figure of its three
measurements and of their anchors is there, and what it saw happen is what must happen (every
appliance enrolled, every heartbeat recorded, the revoked appliance refused by the broker and
by the server). The targets themselves are the benchmark's to judge at full size, not this
test's: on a shared machine a tiny run proves nothing about speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.fleet import main

pytestmark = pytest.mark.slow


def test_the_fleet_benchmark_measures_all_three_at_a_tiny_size(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)  # the run points it at its own tokens
    argv = [
        "--enrollments", "4", "--clients", "2",
        "--devices", "40", "--interval", "0.5", "--seconds", "1", "--flood", "40",
        "--revocations", "1", "--reloads", "1",
        "--workdir", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads(lines[-1])
    table = "\n".join(lines[:-1])
    for figure in ("enrollments/s", "heartbeat lag", "heartbeats/s recorded", "revoke -> cut off"):
        assert figure in table

    enrollment = figures["enrollment"]
    assert (enrollment["enrolled"], enrollment["failed"]) == (4, 0), enrollment["failures"]
    assert enrollment["enrollments_per_s"] > 0
    assert enrollment["ratio_ca"] > 0 and enrollment["ratio_token"] > 0

    heartbeats = figures["heartbeats"]
    assert heartbeats["published"] == 80  # 40 appliances, one each half second, for a second
    assert (heartbeats["recorded"], heartbeats["missing"]) == (80, 0)
    assert heartbeats["refused_publishes"] == 0
    assert heartbeats["lag_p95_s"] is not None and heartbeats["server_cpu_cores"] > 0
    assert heartbeats["flood_recorded"] == heartbeats["anchor_raw_received"] == 40
    assert heartbeats["ratio_flood"] > 0

    revocation = figures["revocation"]
    (trial,) = revocation["trials"]
    assert trial["baseline"] == "signer_not_registered"  # the relay works before the revocation
    assert trial["new_connection_refused"] is True
    assert None not in (trial["broker_s"], trial["verifier_s"], trial["repository_s"])
    assert trial["cut_off_s"] == revocation["cut_off_median_s"]
    assert revocation["anchor_reload_s"] > 0 and revocation["ratio"] > 0
