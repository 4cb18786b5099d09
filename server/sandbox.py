"""Verification that cannot take the server down: untrusted PDFs are parsed and verified in a
small pool of long-lived verifier processes with CPU-time and memory limits.

Rules of this module:
- A verifier process is a fresh interpreter (`python -c` importing this module, with the
  server's import path), never a fork of the server (whose threads would leave their locks held
  in the child, and whose memory it would share); it gets its `VerifierSpec` and limits over a
  socket pair, builds its `server.verify.Verifier`, sets RLIMIT_AS (its address space, for its
  whole life) and RLIMIT_CORE 0, then verifies one PDF at a time. Before each PDF it moves its
  soft RLIMIT_CPU to the CPU time it has used plus `cpu_s`, so each verification gets `cpu_s`
  (to the second above) and the kernel ends it with SIGXCPU beyond.
- What a verification that hits a limit gets is a verdict, never an exception: `too_complex`
  (RLIMIT_CPU: the process died of SIGXCPU; RLIMIT_AS: pyHanko got a MemoryError, or the process
  died of it; or pyHanko's own decoding limits). The same bytes would hit the same limit again,
  so the result is rejected. A process that ran out of CPU or memory is not reused: it is dead,
  or exits, and a fresh one is started (about half a second of CPU: the imports).
- What is not the PDF's fault is a `VerificationError` (the ingest worker leaves the result
  unanswered and the device sends it again later): a verifier process that cannot start, one
  killed by someone else (SIGKILL: the OOM killer, an operator), and one still not done after
  `wall_s` while the kernel's CPU limit has not struck (a starved or stuck process, which is
  killed).
- `verify` blocks the calling thread until a process is free: at most `processes`
  verifications run at once, whatever the number of ingest workers. A device has at most one
  verification running: its next result waits for it, or, once it has run `DEVICE_BUSY_S`, is
  deferred (`VerificationError`: not answered, the device sends it again), so a device sending
  PDFs that each take a verifier's whole CPU limit holds one verifier, never all.
- Overhead per result, on top of pyHanko's 10-20 ms: sending the PDF over a socket and the
  verdict back, about 2 ms for a 200-500 KB result (`python -m bench.attack`).
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from protocol.reasons import RejectReason
from server.errors import VerificationError
from server.verdict import TOO_MUCH_MEMORY, Verdict
from server.verify import VerifierSpec, verifier_from_settings

if TYPE_CHECKING:
    from server.config import ServerSettings

log = logging.getLogger(__name__)

_READY = "ready"
_JOBS_PER_PROCESS = 1000
"""A verifier process is replaced after this many PDFs (whatever pyHanko caches goes with it)."""
_START_TIMEOUT_S = 60.0
DEVICE_BUSY_S = 1.0
"""A device's verification that has run this long in a process is not waited for by the
device's next result (which is deferred): more than a result takes (20 ms; 0.4 s for the
largest, 32 MiB), less than a PDF at the CPU limit."""


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
    cpu_s: int = 2
    memory_bytes: int = 512 * 1024 * 1024
    wall_s: float | None = None

    @property
    def wall_timeout_s(self) -> float:
        """`wall_s`, or its default."""
        return self.wall_s if self.wall_s is not None else max(60.0, 10.0 * self.cpu_s)


class _Child:
    """One verifier process and the parent's end of its socket pair."""

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.jobs = 0

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def exit_code(self, wait_s: float = 5.0) -> int | None:
        """The process's exit code (negative: the signal that ended it), once it has ended."""
        try:
            return self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            return None

    def end(self) -> None:
        """Kill the process (if alive) and reap it."""
        self.conn.close()
        if self.alive:
            self.process.kill()
        self.exit_code()


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
        self.deferred = 0
        """Verifications refused because the device had another one running (`_enter`)."""
        self._devices: dict[str, float | None] = {}
        """Devices with a verification under way: since when it runs in a process (None: it
        waits for one)."""

    def verify(self, pdf: bytes, *, device_id: str) -> Verdict:
        """The verdict on `pdf`, sent by `device_id`, from a verifier process.

        Returns:
            The verdict; `too_complex` when the verification hit a limit.

        Raises:
            VerificationError: no verifier process could run it (not the PDF's fault): the
                caller answers nothing, so the device sends it again later.
        """
        self._enter(device_id)
        try:
            child = self._take()
            with self._cond:
                self._devices[device_id] = time.monotonic()  # its clock starts in a process
            reuse = False
            try:
                verdict, reuse = self._run(child, pdf, device_id)
                return verdict
            finally:
                self._give_back(child, reuse)
        finally:
            self._leave(device_id)

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
            launched = [self._launch() for _ in range(missing)]  # they import side by side
            for child in launched:
                started.append(self._await_ready(child))
        finally:
            with self._cond:
                self._busy -= missing
                self._idle.extend(started)
                self._cond.notify_all()

    def child_pids(self) -> list[int]:
        """The process ids of the idle verifier processes (for measurements)."""
        with self._cond:
            return [c.process.pid for c in self._idle]

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

    def _enter(self, device_id: str) -> None:
        """Wait until `device_id` has no verification in a verifier process (its results are
        verified one at a time); but once that one has run for `DEVICE_BUSY_S`, longer than a
        result ever needs, give up: a device whose PDF keeps a verifier busy does not get a
        second one, so the others keep the rest (one hostile appliance holds one verifier and
        one worker, not all).

        Raises:
            VerificationError: the device's other verification still runs (this result waits
                for the device's next send; the ingest worker answers nothing).
        """
        with self._cond:
            while device_id in self._devices:
                since = self._devices[device_id]
                if since is not None and time.monotonic() - since > DEVICE_BUSY_S:
                    self._bump_locked("deferred")
                    raise VerificationError(
                        f"device {device_id} already has a verification running for more "
                        f"than {DEVICE_BUSY_S} s: this result of it waits for its next send"
                    )
                self._cond.wait(0.05)
            self._devices[device_id] = None

    def _leave(self, device_id: str) -> None:
        with self._cond:
            self._devices.pop(device_id, None)
            self._cond.notify_all()

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
            return self._await_ready(self._launch())
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise

    def _give_back(self, child: _Child, reuse: bool) -> None:
        child.jobs += 1
        keep = reuse and child.jobs < _JOBS_PER_PROCESS and child.alive
        with self._cond:
            self._busy -= 1
            keep = keep and not self._closed
            if keep:
                self._idle.append(child)
            self._cond.notify()
        if not keep:
            child.end()

    def _launch(self) -> _Child:
        """Start a verifier process (a fresh interpreter) and send it its configuration."""
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The child imports what the server imported, from where the server did.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C on the server's terminal is the server's
            )
        except OSError as e:
            ours.close()
            raise VerificationError(f"cannot start a verifier process: {e}") from e
        finally:
            theirs.close()
        child = _Child(process, Connection(ours.detach()))
        child.conn.send((self.spec, self.limits.memory_bytes, self.limits.cpu_s))
        return child

    def _await_ready(self, child: _Child) -> _Child:
        """`child` once it says it is ready.

        Raises:
            VerificationError: it did not start; says what to check.
        """
        try:
            if not child.conn.poll(_START_TIMEOUT_S):
                raise VerificationError(
                    f"a verifier process did not start within {_START_TIMEOUT_S:.0f} s: "
                    "the server is overloaded"
                )
            hello = child.conn.recv()
        except (EOFError, OSError) as e:
            child.end()
            raise VerificationError(
                f"a verifier process ended as it started (exit code {child.exit_code()}): "
                f"check verify_memory_mb (now {self.limits.memory_bytes // 2**20} MiB) and "
                "the server's log"
            ) from e
        except VerificationError:
            child.end()
            raise
        if hello != _READY:
            child.end()
            raise VerificationError(f"a verifier process could not start: {hello}")
        self._bump("started")
        return child

    def _run(self, child: _Child, pdf: bytes, device_id: str) -> tuple[Verdict, bool]:
        """The verdict on `pdf` from `child`, and whether `child` may verify again."""
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
            return self._died(child, device_id), False
        verdict, keep = answer
        if not isinstance(verdict, Verdict):
            raise VerificationError(f"a verifier process answered {type(verdict).__name__}")
        if verdict.reason is RejectReason.TOO_COMPLEX:
            self._bump("limit_hits")
        return verdict, bool(keep)

    def _bump(self, counter: str) -> None:
        with self._cond:
            self._bump_locked(counter)

    def _bump_locked(self, counter: str) -> None:
        setattr(self, counter, getattr(self, counter) + 1)

    def _died(self, child: _Child, device_id: str) -> Verdict:
        """The verdict when a verifier process died on a PDF, or an error if not its fault."""
        code = child.exit_code()
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
        if code in (-signal.SIGKILL, 0, None):
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


_BOOT = "import sys; from server.sandbox import child_main; child_main(int(sys.argv[1]))"
"""What a verifier process runs (`python -c`), with its socket's descriptor as argument."""


def child_main(fd: int) -> None:
    """A verifier process: its configuration, limits and verifier, then one PDF after another
    until the socket closes or a limit is hit. Not for use outside `VerifierPool`."""
    conn = Connection(fd)
    # No logging configuration reaches this process: Python's last-resort handler would print
    # pyHanko's warnings, one per bad form field (millions in a bomb), on the server's stderr.
    # The server logs every refusal itself.
    logging.disable(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        spec, memory_bytes, cpu_s = conn.recv()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        verifier = spec.build()
    except (EOFError, pickle.UnpicklingError):
        return
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
            conn.send((_too_complex("the PDF is larger than a verifier process may hold"), False))
            return
        used = os.times()
        soft = int(used.user + used.system) + 1 + cpu_s
        if cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
        verdict = verifier.verify(pdf, device_id=device_id)
        del pdf
        # After a MemoryError the heap is not to be trusted: this process ends, a fresh one
        # takes its place.
        keep = verdict.detail != TOO_MUCH_MEMORY
        conn.send((verdict, keep))
        if not keep:
            return
