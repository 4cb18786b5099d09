"""Verification that cannot take the server down: untrusted PDFs are parsed and verified in a
small pool of long-lived verifier processes with CPU-time and memory limits.

Rules of this module:
- A verifier process is forked from a single-threaded fork server that has pyHanko loaded
  (multiprocessing's "forkserver"), never from the server itself (whose threads would leave
  their locks held in the child); it builds its `server.verify.Verifier` from a `VerifierSpec`,
  sets RLIMIT_AS (its address space, for its whole life) and RLIMIT_CORE 0, then verifies one
  PDF at a time. Before each PDF it moves its soft RLIMIT_CPU to the CPU time it has used plus
  `cpu_s`, so each verification gets `cpu_s` (to the second above) and the kernel ends it with
  SIGXCPU beyond.
- What a verification that hits a limit gets is a verdict, never an exception: `too_complex`
  (RLIMIT_CPU: the process died of SIGXCPU; RLIMIT_AS: pyHanko got a MemoryError, or the process
  died of it). The same bytes would hit the same limit again, so the result is rejected. A
  process that hit a limit is not reused: it exits (or is dead) and the next verification forks
  a fresh one.
- What is not the PDF's fault is a `VerificationError` (the ingest worker leaves the result
  unanswered and the device sends it again later): a verifier process that cannot start, one
  killed by someone else (SIGKILL: the OOM killer, an operator), and one still not done after
  `wall_s` while the kernel's CPU limit has not struck (a starved or stuck process, which is
  killed).
- `verify` blocks the calling thread until a process is free: at most `processes`
  verifications run at once, whatever the number of ingest workers.
- Overhead per result, on top of pyHanko's 10-20 ms: sending the PDF over a pipe and the
  verdict back (about 1 ms for a small result; see `bench/attack.py`).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from protocol.reasons import RejectReason
from server.errors import VerificationError
from server.verify import Verdict, VerifierSpec, verifier_from_settings

if TYPE_CHECKING:
    from server.config import ServerSettings

log = logging.getLogger(__name__)

_READY = "ready"
_JOBS_PER_PROCESS = 1000
"""A verifier process is replaced after this many PDFs (whatever pyHanko caches goes with it)."""
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SandboxLimits:
    """What one verification may use.

    Attributes:
        processes: verifier processes (verifications at once).
        cpu_s: CPU seconds per verification (RLIMIT_CPU, whole seconds).
        memory_bytes: address space of a verifier process (RLIMIT_AS).
        wall_s: how long a verification may take by the clock before its process is
            considered stuck (not the PDF's fault: the CPU limit is what judges the PDF);
            default `max(60, 10 * cpu_s)`.
    """

    processes: int = 2
    cpu_s: int = 4
    memory_bytes: int = 768 * 1024 * 1024
    wall_s: float | None = None

    @property
    def wall_timeout_s(self) -> float:
        """`wall_s`, or its default."""
        return self.wall_s if self.wall_s is not None else max(60.0, 10.0 * self.cpu_s)


class _Child:
    """One verifier process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: multiprocessing.connection.Connection) -> None:
        self.process = process
        self.conn = conn
        self.jobs = 0

    def end(self) -> None:
        """Kill the process (if alive) and reap it."""
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)


class VerifierPool:
    """Verifies PDFs in verifier processes with CPU and memory limits (`ResultVerifier` of
    `server.ingest`); thread-safe, shared by the ingest workers of a process.

    Args:
        spec: the verifier each process builds (`Verifier.spec`).
        limits: what one verification may use.
    """

    def __init__(self, spec: VerifierSpec, limits: SandboxLimits) -> None:
        self.spec = spec
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        # The fork server imports pyHanko once; each verifier process is a cheap fork of it.
        self._context.set_forkserver_preload(["server.sandbox"])
        self._cond = threading.Condition()
        self._idle: list[_Child] = []
        self._busy = 0
        self._closed = False
        self.started = 0
        """Verifier processes started so far (replacements included)."""
        self.verified = 0
        """PDFs handed to a verifier process so far."""
        self.limit_hits = 0
        """Verifications ended by a limit so far."""

    def verify(self, pdf: bytes, *, device_id: str) -> Verdict:
        """The verdict on `pdf`, sent by `device_id`, from a verifier process.

        Returns:
            The verdict; `too_complex` when the verification hit a limit.

        Raises:
            VerificationError: no verifier process could run it (not the PDF's fault): the
                caller answers nothing, so the device sends it again later.
        """
        child = self._take()
        reuse = False
        try:
            verdict = self._run(child, pdf, device_id)
            reuse = verdict.reason is not RejectReason.TOO_COMPLEX
            return verdict
        finally:
            self._give_back(child, reuse)

    def start(self) -> None:
        """Start the verifier processes now, so that the first results do not wait for them
        and a setting they cannot start with (`verify_memory_mb`) fails the server's start.

        Raises:
            VerificationError: a verifier process could not start; says what to check.
        """
        with self._cond:
            missing = self.limits.processes - len(self._idle) - self._busy
            self._busy += missing
        started: list[_Child] = []
        try:
            for _ in range(missing):
                started.append(self._start())
        finally:
            with self._cond:
                self._busy -= missing
                self._idle.extend(started)
                self._cond.notify_all()

    def child_pids(self) -> list[int]:
        """The process ids of the idle verifier processes (for measurements)."""
        with self._cond:
            return [c.process.pid for c in self._idle if c.process.pid is not None]

    def close(self) -> None:
        """End every idle verifier process; busy ones end when their verification does."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.end()

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- internals ---

    def _take(self) -> _Child:
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or bool(self._idle) or self._busy < self.limits.processes
            )
            if self._closed:
                raise VerificationError("the verifier pool is closed: the server is stopping")
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return self._start()
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise

    def _give_back(self, child: _Child, reuse: bool) -> None:
        child.jobs += 1
        keep = reuse and child.jobs < _JOBS_PER_PROCESS and child.process.is_alive()
        with self._cond:
            self._busy -= 1
            keep = keep and not self._closed
            if keep:
                self._idle.append(child)
            self._cond.notify()
        if not keep:
            child.end()

    def _start(self) -> _Child:
        parent, remote = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main,
            args=(remote, self.spec, self.limits.memory_bytes, self.limits.cpu_s),
            name="sohoa-verifier",
            daemon=True,
        )
        process.start()
        remote.close()
        child = _Child(process, parent)
        try:
            if not parent.poll(_START_TIMEOUT_S):
                raise VerificationError(
                    f"a verifier process did not start within {_START_TIMEOUT_S:.0f} s: "
                    "the server is overloaded"
                )
            hello = parent.recv()
        except (EOFError, OSError) as e:
            child.end()
            raise VerificationError(
                f"a verifier process ended as it started (exit code {process.exitcode}): "
                f"check verify_memory_mb (now {self.limits.memory_bytes // 2**20} MiB) and "
                "the server log"
            ) from e
        except VerificationError:
            child.end()
            raise
        if hello != _READY:
            child.end()
            raise VerificationError(f"a verifier process could not start: {hello}")
        self._bump("started")
        return child

    def _run(self, child: _Child, pdf: bytes, device_id: str) -> Verdict:
        wall_s = self.limits.wall_timeout_s
        self._bump("verified")
        try:
            child.conn.send((device_id, pdf))
            if not child.conn.poll(wall_s):
                child.end()
                raise VerificationError(
                    f"a verification of a result of device {device_id} took more than "
                    f"{wall_s:.0f} s by the clock without reaching its CPU limit: the server "
                    "is overloaded; the device sends it again"
                )
            answer = child.conn.recv()
        except (EOFError, OSError):
            return self._died(child, device_id)
        if not isinstance(answer, Verdict):
            raise VerificationError(f"a verifier process answered {type(answer).__name__}")
        if answer.reason is RejectReason.TOO_COMPLEX:
            self._bump("limit_hits")
        return answer

    def _bump(self, counter: str) -> None:
        with self._cond:
            setattr(self, counter, getattr(self, counter) + 1)

    def _died(self, child: _Child, device_id: str) -> Verdict:
        """The verdict when a verifier process died on a PDF, or an error if not its fault."""
        child.process.join(5.0)
        code = child.process.exitcode
        if code == -signal.SIGXCPU:
            self._bump("limit_hits")
            log.warning(
                "a verification of a result of device %s used more than %d s of CPU: rejected",
                device_id,
                self.limits.cpu_s,
            )
            return _too_complex(
                f"verifying the PDF needs more than the {self.limits.cpu_s} s of CPU time the "
                "server allows for a result: capture and sign the document again"
            )
        if code == -signal.SIGKILL or code is None:
            raise VerificationError(
                f"the verifier process was killed while verifying a result of device "
                f"{device_id} (out of memory on the server?); the device sends it again"
            )
        self._bump("limit_hits")
        log.warning(
            "the verifier process ended (exit code %s) on a result of device %s: rejected",
            code,
            device_id,
        )
        return _too_complex(
            f"the verifier ended abnormally on this PDF (exit code {code}), beyond the memory "
            f"({self.limits.memory_bytes // 2**20} MiB) or the checks the server allows: "
            "capture and sign the document again"
        )


def pool_from_settings(settings: ServerSettings) -> VerifierPool:
    """The pool the settings describe (`verify_processes`, `verify_cpu_s`, `verify_memory_mb`)
    around the verifier they describe (`server.verify.verifier_from_settings`).

    Raises:
        ConfigError: as `verifier_from_settings`.
    """
    return VerifierPool(
        verifier_from_settings(settings).spec,
        SandboxLimits(
            processes=settings.verify_processes,
            cpu_s=settings.verify_cpu_s,
            memory_bytes=settings.verify_memory_mb * 1024 * 1024,
            wall_s=settings.verify_wall_s,
        ),
    )


def _too_complex(detail: str) -> Verdict:
    return Verdict(valid=False, reason=RejectReason.TOO_COMPLEX, detail=detail)


def _child_main(
    conn: multiprocessing.connection.Connection,
    spec: VerifierSpec,
    memory_bytes: int,
    cpu_s: int,
) -> None:
    """A verifier process: limits, a verifier, then one PDF after another until the pipe
    closes or a limit is hit."""
    # Ctrl-C on the server's terminal reaches the whole process group: the server stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # No logging configuration reaches this process: Python's last-resort handler would print
    # pyHanko's warnings, one per bad form field (millions in a bomb), on the server's stderr.
    # The server logs every refusal itself.
    logging.disable(logging.WARNING)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        verifier = spec.build()
    except (VerificationError, ValueError, OSError, MemoryError) as e:
        conn.send(f"{type(e).__name__}: {e}")
        return
    conn.send(_READY)
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        try:
            device_id, pdf = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            conn.send(_too_complex("the PDF is larger than a verifier process may hold"))
            return
        used = os.times()
        soft = int(used.user + used.system) + 1 + cpu_s
        if cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
        verdict = verifier.verify(pdf, device_id=device_id)
        del pdf
        conn.send(verdict)
        if verdict.reason is RejectReason.TOO_COMPLEX:
            return  # after a MemoryError the heap is no longer to be trusted: a fresh process
