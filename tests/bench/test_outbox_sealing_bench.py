"""`bench.outbox_sealing` at a tiny size: every figure is there, for the plain and the sealed
outbox alike, on real signed PDFs of a typical size and a real SoftHSM2 token. The ratio itself
is the benchmark's to report, not this test's to judge: on a shared machine a tiny run proves
nothing about speed."""

from __future__ import annotations

import json

import pytest

from bench.outbox_sealing import main


def test_the_sealing_benchmark_reports_both_outboxes_and_the_ratio(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)  # the run points it at its own token
    assert main(["--results", "3", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = json.loads(lines[-1])
    table = "\n".join(lines[:-1])
    for words in ("plain ", "sealed", "sealed/plain", "bare AES-256-GCM"):
        assert words in table

    assert (figures["results"], figures["rounds"]) == (3, 2)
    assert figures["pdf_bytes"] > 200_000  # a typical signed one-page result
    for mode in ("plain", "sealed"):
        f = figures[mode]
        assert f["add_ms"] > 0 and f["read_ms"] > 0 and f["cpu_per_result_ms"] > 0
        assert f["per_result_ms"] == pytest.approx(f["add_ms"] + f["read_ms"], abs=0.01)
        assert f["open_new_ms"] > 0 and f["open_existing_ms"] > 0
    assert figures["ratio_per_result"] > 0 and figures["ratio_cpu_per_result"] > 0
    assert figures["sealing_work_ms"] > 0 and figures["anchor_aesgcm_encrypt_ms"] > 0
