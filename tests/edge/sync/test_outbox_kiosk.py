"""What the outbox keeps for the kiosk: the whole listing newest first, today's count, the
link standing the agent notes, the time of the server's last answer, and the officer's retry of
a refused result (only of a refused one)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.sync.outbox import Outbox, State
from protocol.messages import Ack, AckStatus
from protocol.reasons import RejectReason

FIELDS = {"so_ky_hieu": "3/QĐ-UBND"}


def pdf(n: int) -> bytes:
    return b"%PDF-1.7\n" + f"k{n}\n".encode() + os.urandom(16) + b"\n%%EOF\n"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox") as box:
        yield box


def test_listing_is_newest_first_whatever_the_state(outbox: Outbox) -> None:
    ids = [outbox.add(pdf(i), FIELDS, f"2025-04-0{i + 1}T03:00:00+00:00") for i in range(3)]
    outbox.mark_sent(ids[0])
    outbox.apply_ack(Ack(ids[0], AckStatus.ACCEPTED, record_id="r0"))
    assert [i.result_id for i in outbox.listing()] == ids[::-1]
    assert [i.result_id for i in outbox.listing(limit=1)] == [ids[2]]
    assert outbox.count_created_since(dt.datetime(2025, 4, 2, tzinfo=dt.UTC).timestamp()) == 2


def test_the_link_and_the_last_answer_are_kept(outbox: Outbox) -> None:
    status = outbox.status()
    assert (status.link_up, status.link_at, status.last_answer_at) == (None, None, None)
    outbox.set_link(True)
    assert outbox.status().link_up is True
    outbox.set_link(False)
    assert outbox.status().link_up is False and outbox.status().link_at is not None
    result_id = outbox.add(pdf(9), FIELDS, "2025-04-01T03:00:00+00:00")
    outbox.apply_ack(Ack(result_id, AckStatus.ACCEPTED, record_id="r9"))
    answered = outbox.status().last_answer_at
    assert answered is not None
    outbox.apply_ack(Ack(result_id, AckStatus.ACCEPTED, record_id="r9"))  # a further ack
    assert outbox.status().last_answer_at == answered


def test_only_a_refused_result_is_queued_again(outbox: Outbox) -> None:
    refused, acked, waiting = (
        outbox.add(pdf(i), FIELDS, "2025-04-01T03:00:00+00:00") for i in range(3)
    )
    outbox.apply_ack(Ack(refused, AckStatus.REJECTED, RejectReason.UNKNOWN_DEVICE, "who?"))
    outbox.apply_ack(Ack(acked, AckStatus.ACCEPTED, record_id="r1"))
    outbox.retry(refused)
    item = outbox.get(refused)
    assert (item.state, item.last_error, item.acked_at) == (State.QUEUED, None, None)
    assert refused in outbox.waiting_ids()
    for result_id in (acked, waiting, refused):
        with pytest.raises(OutboxError, match="not a refused result"):
            outbox.retry(result_id)
    assert outbox.get(acked).state is State.ACKED
