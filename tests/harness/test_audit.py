"""`harness.audit` and the bench's figures: every rejection's reason is counted, and a rejected
result is verified again from its appliance's outbox, so that a valid result refused (a result
lost) shows in the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.sync.outbox import Outbox
from harness.audit import valid_among_rejected
from harness.bench_sync import BenchConfig, _figures
from harness.fleet import provision_fleet
from harness.results import ResultMaker


def test_rejected_results_are_checked_again_from_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fleet points SOFTHSM2_CONF at its own token store: the suite's is put back afterwards.
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)
    fleet = provision_fleet(tmp_path / "fleet", 2, prefix="t")
    first, second = fleet.appliances
    with ResultMaker(fleet) as maker:
        made = maker.make(first, 1)
    with Outbox(first.outbox_dir) as outbox:
        valid = outbox.add(made.pdf, made.fields, made.created_at)
    with Outbox(second.outbox_dir) as outbox:  # the first appliance's PDF, sent by the second
        foreign = outbox.add(made.pdf, made.fields, made.created_at)
    rejected = [(first.device_id, valid), (second.device_id, foreign)]
    assert valid_among_rejected(fleet, rejected) == [valid]
    assert valid_among_rejected(fleet, []) == []


def test_the_figures_count_rejections_by_reason() -> None:
    def row(rid: str, state: str, error: str | None = None) -> tuple[Any, ...]:
        return (rid, state, 1.0, 2.0, 1000, error, "t-001")

    done = {
        "rows": [
            row("a", "acked"),
            row("b", "rejected", "signature: the PDF or its signature could not be read (X)"),
            row("c", "rejected", "signature: the signature value does not verify"),
            row("d", "rejected", "size: the result is 40000000 bytes"),
            row("e", "rejected", None),
        ],
        "enqueued": {},
        "reports": [],
    }
    figures = _figures(BenchConfig(), [done], start_at=0.0)
    assert figures["rejected"] == 4
    assert figures["rejections"] == {"signature": 2, "size": 1, "unknown": 1}
    assert len(figures["rejection_details"]) == 4
    assert figures["rejected_ids"] == [("t-001", r) for r in "bcde"]
