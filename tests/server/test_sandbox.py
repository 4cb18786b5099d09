"""Verification in verifier processes with CPU and memory limits (`server.sandbox`), and pyHanko's
decoding limits tightened for results (`server.decode_limits.RESULT_DECODE_LIMITS`): the
object-stream PDF bomb of issue 14, built here (`harness.bombs`), is refused `too_complex` within
the limits instead of taking the server's CPU and memory, and the pool goes on verifying real
results signed on SoftHSM."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pyhanko.pdf_utils.decode_limits import DecodeLimits

from harness.bombs import MiB, compression_ratio, fields_bomb
from protocol.reasons import RejectReason
from server.errors import VerificationError
from server.sandbox import SandboxLimits, VerifierPool
from server.verify import Verifier
from tests.server.conftest import IngestSigner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """The issue's bomb: about 0.9 MB on the wire, 60 MiB of references once decoded."""
    return fields_bomb(60)


@pytest.fixture
def pool(ingest_signer: IngestSigner) -> Iterator[VerifierPool]:
    verifier = Verifier([ingest_signer.ca.cert])
    with VerifierPool(verifier.spec, SandboxLimits(processes=2, cpu_s=2)) as pool:
        yield pool


@pytest.fixture
def unlimited_pyhanko_pool(ingest_signer: IngestSigner) -> Iterator[VerifierPool]:
    """A pool whose verifiers read with pyHanko's default decoding limits, so that the bomb
    reaches the parser and only the process's own limits stop it."""
    verifier = Verifier([ingest_signer.ca.cert], decode_limits=DecodeLimits())
    with VerifierPool(verifier.spec, SandboxLimits(processes=2, cpu_s=1)) as pool:
        yield pool


def test_the_bomb_is_what_the_issue_describes(bomb: bytes) -> None:
    # Under pyHanko's default limits: one object stream of < 64 MiB at a ratio < 100:1.
    assert 0.7 * MiB < len(bomb) < 1.2 * MiB
    ratio = compression_ratio(bomb)
    assert 50 < ratio < 100
    assert 59 * MiB < ratio * len(bomb) < 64 * MiB


def test_a_signed_result_verifies_the_same_through_the_pool(
    pool: VerifierPool, ingest_signer: IngestSigner
) -> None:
    direct = Verifier([ingest_signer.ca.cert]).verify(
        ingest_signer.small, device_id=ingest_signer.device_id
    )
    sandboxed = pool.verify(ingest_signer.small, device_id=ingest_signer.device_id)
    assert sandboxed == direct and sandboxed.valid
    # Refusals come back as they are made, with their reason.
    other = pool.verify(ingest_signer.small, device_id="test-someone-else")
    assert other.reason is RejectReason.SIGNER_NOT_REGISTERED


def test_the_bomb_is_refused_by_the_decoding_limits_at_once(
    bomb: bytes, pool: VerifierPool
) -> None:
    # In a verifier process all the same: were the limits gone, the bomb would cost this test
    # its CPU limit, not the 81 s and 2.3 GB it costs in-process.
    pool.start()
    started = time.monotonic()
    verdict = pool.verify(bomb, device_id="test-attacker-01")
    assert verdict.reason is RejectReason.TOO_COMPLEX, verdict.detail
    assert "decodes to more data" in verdict.detail
    assert time.monotonic() - started < 0.5
    assert pool.started == 2  # the process that refused it goes on


def test_past_the_decoding_limits_the_cpu_limit_ends_it_and_the_pool_goes_on(
    bomb: bytes, unlimited_pyhanko_pool: VerifierPool, ingest_signer: IngestSigner
) -> None:
    pool = unlimited_pyhanko_pool
    started = time.monotonic()
    verdict = pool.verify(bomb, device_id="test-attacker-01")
    elapsed = time.monotonic() - started
    assert verdict.reason is RejectReason.TOO_COMPLEX, verdict.detail
    assert "CPU time" in verdict.detail or "memory" in verdict.detail
    assert elapsed < 10.0  # 1 s of CPU (2 at most, RLIMIT_CPU counts whole seconds)
    assert pool.limit_hits == 1
    # A fresh process takes the dead one's place.
    ok = pool.verify(ingest_signer.small, device_id=ingest_signer.device_id)
    assert ok.valid, ok.detail


def test_the_memory_limit_ends_a_verification_that_needs_more(
    bomb: bytes, ingest_signer: IngestSigner
) -> None:
    # Room for the verifier (about 70 MiB) and a result, not for 60 MiB of references.
    verifier = Verifier([ingest_signer.ca.cert], decode_limits=DecodeLimits())
    limits = SandboxLimits(processes=1, cpu_s=60, memory_bytes=160 * MiB)
    with VerifierPool(verifier.spec, limits) as pool:
        ok = pool.verify(ingest_signer.small, device_id=ingest_signer.device_id)
        assert ok.valid, ok.detail
        verdict = pool.verify(bomb, device_id="test-attacker-01")
        assert verdict.reason is RejectReason.TOO_COMPLEX, verdict.detail
        assert "memory" in verdict.detail
        again = pool.verify(ingest_signer.small, device_id=ingest_signer.device_id)
        assert again.valid, again.detail
        assert pool.started == 2


def test_verifications_run_side_by_side(
    unlimited_pyhanko_pool: VerifierPool, bomb: bytes, ingest_signer: IngestSigner
) -> None:
    # While one process burns its CPU second on the bomb, the other verifies a real result.
    pool = unlimited_pyhanko_pool
    pool.start()
    assert pool.started == 2
    attack = threading.Thread(target=pool.verify, args=(bomb,), kwargs={"device_id": "x-1"})
    attack.start()
    time.sleep(0.2)
    started = time.monotonic()
    ok = pool.verify(ingest_signer.extra[0], device_id=ingest_signer.device_id)
    took = time.monotonic() - started
    attack.join()
    assert ok.valid, ok.detail
    assert took < 0.8, f"a real result waited {took:.2f} s behind the bomb"


def test_a_device_busy_with_a_bomb_gets_no_second_verifier(
    unlimited_pyhanko_pool: VerifierPool, bomb: bytes, ingest_signer: IngestSigner
) -> None:
    pool = unlimited_pyhanko_pool
    pool.start()
    attack = threading.Thread(target=pool.verify, args=(bomb,), kwargs={"device_id": "x-1"})
    attack.start()
    time.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(VerificationError, match="already has a verification running"):
        pool.verify(bomb, device_id="x-1")
    assert time.monotonic() - started < 1.5
    attack.join()
    assert (pool.deferred, pool.limit_hits) == (1, 1)


def test_results_of_one_device_at_once_are_verified_one_after_the_other(
    pool: VerifierPool, ingest_signer: IngestSigner
) -> None:
    verdicts: list[bool] = []

    def verify(pdf: bytes) -> None:
        verdicts.append(pool.verify(pdf, device_id=ingest_signer.device_id).valid)

    threads = [threading.Thread(target=verify, args=(pdf,)) for pdf in ingest_signer.extra[:4]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts == [True] * 4 and pool.deferred == 0
