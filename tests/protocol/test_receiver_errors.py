"""What the receiver asks for when its caller failed unforeseen on a result (issue 14, item 5):
a rejection with reason internal and the staged parts dropped, or, when the device's result is
stored already (the failure came after the merge), the duplicate answer."""

from __future__ import annotations

from protocol.messages import AckStatus, sha256_hex
from protocol.reasons import RejectReason
from protocol.receiver import DropStaged, Receiver, SendAck

RESULT_ID = sha256_hex(b"%PDF a result")


def test_an_unforeseen_failure_rejects_the_result_and_drops_what_is_staged() -> None:
    drop, answer = Receiver().on_error("dev-01", RESULT_ID, "the server failed (KeyError)")
    assert drop == DropStaged("dev-01", RESULT_ID)
    assert isinstance(answer, SendAck) and answer.device_id == "dev-01"
    assert (answer.ack.status, answer.ack.reason) == (AckStatus.REJECTED, RejectReason.INTERNAL)
    assert answer.ack.detail == "the server failed (KeyError)"


def test_a_failure_after_the_merge_answers_duplicate_never_a_rejection() -> None:
    drop, answer = Receiver().on_error("dev-01", RESULT_ID, "failed", record_id="rec-1")
    assert drop == DropStaged("dev-01", RESULT_ID)
    assert isinstance(answer, SendAck)
    assert (answer.ack.status, answer.ack.record_id) == (AckStatus.DUPLICATE, "rec-1")
