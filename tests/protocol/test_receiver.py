"""The receiver state machine, rule by rule (see the table in protocol/receiver.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from protocol.encoding import decode, encode
from protocol.errors import DecodeError
from protocol.messages import (
    MAX_CHUNK_COUNT,
    MAX_FIELDS_BYTES,
    MAX_RESULT_BYTES,
    MAX_TEXT,
    MAX_TIMESTAMP,
    Ack,
    AckStatus,
    ResultChunk,
    ResultManifest,
    ResultMessage,
    sha256_hex,
)
from protocol.reasons import RejectReason
from protocol.receiver import (
    STAGED_MANIFEST_BYTES,
    Assemble,
    DeviceStanding,
    DropStaged,
    Effect,
    Ignore,
    Merge,
    MergeRequest,
    Receiver,
    ReceiverLimits,
    SendAck,
    StageChunk,
    StagedChunk,
    StageManifest,
    TransferState,
    result_id_of,
)
from protocol.status import Heartbeat, LinkState

DEV = "dev-01"
AT = "2025-03-01T02:03:04+00:00"
PDF = bytes(range(256)) * 2  # 512 bytes: 4 chunks of 128 (or 6 of 100)
RID = sha256_hex(PDF)
FIELDS = {"so_ky_hieu": "5/QĐ-UBND"}


def manifest(chunk_size: int = 128, resume: bool = False, size: int = len(PDF)) -> ResultManifest:
    return ResultManifest(DEV, RID, size, chunk_size, FIELDS, AT, resume=resume)


def chunk(index: int, chunk_size: int = 128) -> ResultChunk:
    return ResultChunk.cut(DEV, RID, PDF, chunk_size, index)


def staged(*indexes: int, chunk_size: int = 128) -> dict[int, StagedChunk]:
    return {i: StagedChunk.of(chunk(i, chunk_size)) for i in indexes}


def acks(effects: list[Effect]) -> list[Ack]:
    return [e.ack for e in effects if isinstance(e, SendAck)]


def the_ack(effects: list[Effect]) -> Ack:
    (ack,) = acks(effects)
    return ack


receiver = Receiver()


# --- whole results ---


def test_a_new_whole_result_is_merged_and_acked_after_the_commit() -> None:
    message = ResultMessage.for_pdf(DEV, PDF, FIELDS, AT)
    (merge,) = receiver.on_message(DEV, message, TransferState())
    assert isinstance(merge, Merge)
    assert merge.request.pdf == PDF and merge.request.result_id == RID
    assert not merge.request.staged
    # Staging is dropped after any merge: a racing worker may have staged a chunk of it.
    (drop, ack) = receiver.on_merged(merge.request, "rec-1", created=True)
    assert drop == DropStaged(DEV, RID)
    assert isinstance(ack, SendAck) and ack.device_id == DEV
    assert ack.ack == Ack(RID, AckStatus.ACCEPTED, detail="stored", record_id="rec-1")
    again = receiver.on_merged(merge.request, "rec-1", created=False)
    assert the_ack(again).status is AckStatus.DUPLICATE  # merged by a racing worker first


def test_an_already_merged_result_is_acked_duplicate_without_reprocessing() -> None:
    message = ResultMessage.for_pdf(DEV, PDF, FIELDS, AT)
    effects = receiver.on_message(DEV, message, TransferState(record_id="rec-1"))
    assert effects == [
        SendAck(DEV, Ack(RID, AckStatus.DUPLICATE, detail="already stored", record_id="rec-1"))
    ]
    effects = receiver.on_message(DEV, manifest(resume=True), TransferState(record_id="rec-1"))
    assert the_ack(effects).status is AckStatus.DUPLICATE


def test_leftover_staged_parts_of_a_merged_result_are_dropped() -> None:
    state = TransferState(record_id="rec-1", chunks=staged(0))
    effects = receiver.on_message(DEV, manifest(), state)
    assert effects[0] == DropStaged(DEV, RID)
    assert the_ack(effects).status is AckStatus.DUPLICATE
    assert receiver.on_message(DEV, chunk(1), state) == [DropStaged(DEV, RID)]


def test_a_late_chunk_of_a_merged_result_is_ignored_without_an_ack() -> None:
    (effect,) = receiver.on_message(DEV, chunk(1), TransferState(record_id="rec-1"))
    assert isinstance(effect, Ignore)


@pytest.mark.parametrize(
    ("standing", "reason"),
    [
        (DeviceStanding.UNKNOWN, RejectReason.UNKNOWN_DEVICE),
        (DeviceStanding.REVOKED, RejectReason.REVOKED_DEVICE),
    ],
)
def test_unknown_and_revoked_devices_are_refused_before_anything_is_staged(
    standing: DeviceStanding, reason: RejectReason
) -> None:
    for message in (ResultMessage.for_pdf(DEV, PDF, {}, AT), manifest(), chunk(0)):
        (effect,) = receiver.on_message(DEV, message, TransferState(device=standing))
        assert isinstance(effect, SendAck) and effect.ack.reason is reason


def test_a_message_naming_another_device_is_refused_and_touches_nothing() -> None:
    state = TransferState(manifest=manifest(), chunks=staged(0, 1))
    (effect,) = receiver.on_message("dev-02", chunk(2), state)
    assert isinstance(effect, SendAck)
    assert effect.device_id == "dev-02" and effect.ack.reason is RejectReason.DEVICE_MISMATCH


def test_size_limits_refuse_before_buffering() -> None:
    small = Receiver(ReceiverLimits(max_result_bytes=500, max_chunk_bytes=100))
    for message in (ResultMessage.for_pdf(DEV, PDF, {}, AT), manifest(), chunk(0, 100)):
        effects = small.on_message(DEV, message, TransferState())
        assert not any(isinstance(e, StageChunk | StageManifest | Merge) for e in effects)
        assert the_ack(effects).reason is RejectReason.SIZE
    tight_chunks = Receiver(ReceiverLimits(max_chunk_bytes=100))
    effects = tight_chunks.on_message(DEV, manifest(chunk_size=128), TransferState())
    assert the_ack(effects).reason is RejectReason.SIZE
    assert "chunks of 128" in the_ack(effects).detail


def test_a_size_rejection_drops_what_was_staged() -> None:
    small = Receiver(ReceiverLimits(max_result_bytes=500))
    effects = small.on_message(DEV, manifest(), TransferState(chunks=staged(0)))
    assert effects[0] == DropStaged(DEV, RID)


# --- chunked results ---


def test_a_first_manifest_is_staged_and_waits_for_its_chunks_in_silence() -> None:
    assert receiver.on_message(DEV, manifest(), TransferState()) == [StageManifest(manifest())]


def test_chunks_are_staged_and_the_last_one_triggers_assembly() -> None:
    state = TransferState(manifest=manifest(), chunks=staged(0, 1, 3))
    assert receiver.on_message(DEV, chunk(2), state) == [StageChunk(chunk(2)), Assemble(manifest())]
    state = TransferState(manifest=manifest(), chunks=staged(0))
    assert receiver.on_message(DEV, chunk(2), state) == [StageChunk(chunk(2))]


def test_chunks_before_their_manifest_are_staged_and_the_manifest_completes() -> None:
    assert receiver.on_message(DEV, chunk(3), TransferState()) == [StageChunk(chunk(3))]
    state = TransferState(chunks=staged(0, 1, 2, 3))
    assert receiver.on_message(DEV, manifest(), state) == [
        StageManifest(manifest()),
        Assemble(manifest()),
    ]


def test_a_resume_manifest_is_answered_with_the_missing_chunks() -> None:
    state = TransferState(manifest=manifest(), chunks=staged(0, 2))
    effects = receiver.on_message(DEV, manifest(resume=True), state)
    assert not any(isinstance(e, StageManifest) for e in effects)  # the same transfer
    ack = the_ack(effects)
    assert ack.status is AckStatus.NEED_CHUNKS and not ack.final
    assert ack.missing == (1, 3) and ack.chunk_size == 128
    effects = receiver.on_message(DEV, manifest(resume=True), TransferState())
    assert effects[0] == StageManifest(manifest(resume=True))
    assert the_ack(effects).missing == (0, 1, 2, 3)


def test_a_resume_manifest_with_everything_staged_assembles() -> None:
    state = TransferState(manifest=manifest(), chunks=staged(0, 1, 2, 3))
    assert receiver.on_message(DEV, manifest(resume=True), state) == [
        Assemble(manifest(resume=True))
    ]


def test_a_damaged_chunk_is_asked_for_again_not_staged() -> None:
    good = chunk(1)
    damaged = ResultChunk(DEV, RID, good.size, 128, 1, good.sha256, bytes(128))
    (effect,) = receiver.on_message(DEV, damaged, TransferState(manifest=manifest()))
    assert isinstance(effect, SendAck)
    assert effect.ack.status is AckStatus.NEED_CHUNKS
    assert effect.ack.missing == (1,) and effect.ack.chunk_size == 128


def test_a_chunk_of_another_geometry_than_the_manifest_is_ignored() -> None:
    (effect,) = receiver.on_message(DEV, chunk(1, 100), TransferState(manifest=manifest()))
    assert isinstance(effect, Ignore)


def test_a_manifest_of_a_new_geometry_replaces_the_old_and_drops_its_chunks() -> None:
    # The sender restarted with another chunk size.
    state = TransferState(
        manifest=manifest(128), chunks={**staged(0, 1), 5: StagedChunk.of(chunk(5, 100))}
    )
    effects = receiver.on_message(DEV, manifest(100, resume=True), state)
    assert effects[:2] == [StageManifest(manifest(100, True)), DropStaged(DEV, RID, (0, 1))]
    assert the_ack(effects).missing == (0, 1, 2, 3, 4)
    assert the_ack(effects).chunk_size == 100


def test_a_chunk_staged_twice_is_not_staged_again_but_may_complete() -> None:
    state = TransferState(manifest=manifest(), chunks=staged(0, 1, 2, 3))
    assert receiver.on_message(DEV, chunk(2), state) == [Assemble(manifest())]
    (effect,) = receiver.on_message(DEV, chunk(2), TransferState(chunks=staged(2)))
    assert isinstance(effect, Ignore)


def test_a_device_over_its_staging_quota_stages_nothing_more() -> None:
    quota = Receiver(ReceiverLimits(max_staged_bytes_per_device=1000))
    (effect,) = quota.on_message(DEV, chunk(0), TransferState(device_staged_bytes=900))
    assert isinstance(effect, Ignore)
    assert quota.on_message(DEV, chunk(0), TransferState(device_staged_bytes=872)) == [
        StageChunk(chunk(0))
    ]


def test_a_new_manifest_counts_in_the_quota_and_beyond_it_stages_nothing() -> None:
    quota = Receiver(ReceiverLimits(max_staged_bytes_per_device=10 * STAGED_MANIFEST_BYTES))
    full = TransferState(device_staged_bytes=9 * STAGED_MANIFEST_BYTES + 1)
    (effect,) = quota.on_message(DEV, manifest(resume=True), full)
    assert isinstance(effect, Ignore) and effect.warn and "its quota is" in effect.detail
    room = TransferState(device_staged_bytes=9 * STAGED_MANIFEST_BYTES)
    assert quota.on_message(DEV, manifest(), room) == [StageManifest(manifest())]
    # Its chunks came first: assembling them frees the staging, so it goes on unstaged.
    complete = replace(full, chunks=staged(0, 1, 2, 3))
    assert quota.on_message(DEV, manifest(), complete) == [Assemble(manifest())]
    # A manifest staged already counts already: its resume is answered as ever.
    resumed = replace(full, manifest=manifest(), chunks=staged(0))
    assert the_ack(quota.on_message(DEV, manifest(resume=True), resumed)).missing == (1, 2, 3)


def test_the_global_staging_cap_refuses_what_a_device_quota_would_allow() -> None:
    capped = Receiver(ReceiverLimits(max_staged_bytes_total=1000))
    state = TransferState(device_staged_bytes=0, staged_bytes_total=900)
    for message in (chunk(0), manifest()):
        (effect,) = capped.on_message(DEV, message, state)
        assert isinstance(effect, Ignore) and effect.warn
        assert "max_staged_bytes_total" in effect.detail
    assert capped.on_message(DEV, chunk(0), replace(state, staged_bytes_total=872)) == [
        StageChunk(chunk(0))
    ]


def test_a_staged_manifest_never_weighs_more_than_it_is_counted_for() -> None:
    # The largest fields and metadata a manifest may carry, the longest ids: still within
    # STAGED_MANIFEST_BYTES encoded, so counting each staged manifest as that is an upper bound.
    def size(metadata: dict[str, str]) -> int:
        return len(json.dumps([{}, metadata], separators=(",", ":")).encode())

    metadata: dict[str, str] = {}
    while size({**metadata, f"{len(metadata):064d}": ""}) <= MAX_FIELDS_BYTES:
        key = f"{len(metadata):064d}"
        metadata[key] = "y" * min(MAX_TEXT, MAX_FIELDS_BYTES - size({**metadata, key: ""}))
    assert MAX_FIELDS_BYTES - 70 < size(metadata) <= MAX_FIELDS_BYTES
    biggest = ResultManifest(
        "d" * 64,
        RID,
        MAX_RESULT_BYTES,
        MAX_RESULT_BYTES // MAX_CHUNK_COUNT,
        {},
        "2025-03-01T02:03:04." + "1" * (MAX_TIMESTAMP - 20),
        metadata=metadata,
        resume=True,
    )
    assert len(encode(biggest)) <= STAGED_MANIFEST_BYTES


def test_assembly_checks_the_whole_file_hash() -> None:
    (merge,) = receiver.on_assembled(manifest(), RID)
    assert isinstance(merge, Merge)
    assert merge.request.pdf is None and merge.request.staged
    assert merge.request.fields == FIELDS and merge.request.size == len(PDF)
    effects = receiver.on_assembled(manifest(), sha256_hex(b"something else"))
    assert effects[0] == DropStaged(DEV, RID)
    assert the_ack(effects).reason is RejectReason.HASH
    (drop, ack) = receiver.on_merged(merge.request, "rec-2", created=True)
    assert drop == DropStaged(DEV, RID) and isinstance(ack, SendAck)


def test_a_refused_result_is_rejected_with_the_verifiers_reason_and_its_parts_dropped() -> None:
    request = MergeRequest(DEV, RID, len(PDF), {}, AT, {}, pdf=None, staged=True)
    effects = receiver.on_refused(request, RejectReason.SIGNATURE, "the signature is broken")
    assert effects[0] == DropStaged(DEV, RID)
    assert the_ack(effects).reason is RejectReason.SIGNATURE
    assert the_ack(effects).detail == "the signature is broken"


# --- what cannot be read ---


def test_a_newer_schema_is_answered_with_reason_version() -> None:
    obj = json.loads(encode(manifest()))
    obj["schema"] = "sohoa.manifest/2"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(obj).encode())
    ack = the_ack(receiver.on_undecodable(DEV, caught.value))
    assert ack.result_id == RID and ack.reason is RejectReason.VERSION
    assert "sohoa.manifest/1" in ack.detail


def test_a_result_changed_in_transit_is_rejected_hash() -> None:
    data = encode(ResultMessage.for_pdf(DEV, PDF, {}, AT))
    with pytest.raises(DecodeError) as caught:
        decode(data[:-1] + b"!")
    assert the_ack(receiver.on_undecodable(DEV, caught.value)).reason is RejectReason.HASH


def test_garbage_naming_no_result_has_nobody_to_answer() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"\xff not a message")
    (effect,) = receiver.on_undecodable(DEV, caught.value)
    assert isinstance(effect, Ignore)


def test_other_messages_on_the_result_topic() -> None:
    ack = Ack(RID, AckStatus.ACCEPTED)
    assert result_id_of(ack) == RID
    assert the_ack(receiver.on_message(DEV, ack, TransferState())).reason is RejectReason.SCHEMA
    beat = Heartbeat(DEV, LinkState.ONLINE)
    assert result_id_of(beat) is None
    (effect,) = receiver.on_message(DEV, beat, TransferState())
    assert isinstance(effect, Ignore)
