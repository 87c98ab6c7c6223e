"""The candidate's process, seen from the scorer: start it, call it, time it, kill it.

The candidate runs in its own process group with a memory limit, an output cap and
timeouts. Its answers come back through a dedicated pipe and are decoded by an
unpickler that refuses every class, so a malicious answer cannot run code here.
"""

from __future__ import annotations

import ctypes
import io
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from scoring import confine
from scoring.candidate_boot import BOOT
from scoring.errors import (
    CandidateCrashed,
    CandidateMissingEntry,
    CandidateOutOfMemory,
    CandidateOutputFlood,
    CandidateProtocolError,
    CandidateRaised,
    CandidateTimeout,
    Invalid,
)

FORBIDDEN_ACCESS = "forbidden_access"
REPO_ROOT = Path(__file__).resolve().parents[1]

MAX_FRAME = 1 << 30
PR_SET_PDEATHSIG = 1


class _PlainUnpickler(pickle.Unpickler):
    """Decodes only built-in values (lists, numbers, strings...): no class can be loaded."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"answer refers to {module}.{name}; only plain values are accepted")


def decode_answer(data: bytes) -> Any:
    """Decode a candidate's answer without letting it run code in this process."""
    return _PlainUnpickler(io.BytesIO(data)).load()


class OutputSink:
    """Drains a pipe, keeping the head and tail and counting bytes; calls on_flood past the cap."""

    def __init__(self, stream, cap_bytes: int, on_flood, keep: int = 16_384):
        self.cap_bytes = cap_bytes
        self.total = 0
        self.flooded = False
        self._head = bytearray()
        self._tail = bytearray()
        self._keep = keep
        self._on_flood = on_flood
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def pin(self, cpus: frozenset[int]) -> None:
        """Run the draining thread on `cpus` (Linux: a thread's affinity is set by its id)."""
        native = self._thread.native_id
        if native is not None and self._thread.is_alive():
            try:
                os.sched_setaffinity(native, cpus)
            except OSError:  # it ended in between (its process closed its output)
                pass

    def _drain(self, stream) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            self.total += len(chunk)
            if len(self._head) < self._keep:
                self._head.extend(chunk[: self._keep - len(self._head)])
            self._tail.extend(chunk)
            del self._tail[: max(0, len(self._tail) - self._keep)]
            if self.total > self.cap_bytes and not self.flooded:
                self.flooded = True
                self._on_flood()

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the pipe to close (bounded)."""
        self._thread.join(timeout)

    def text(self) -> str:
        """The kept output: all of it if small, else head, an elision mark and tail."""
        head = bytes(self._head)
        rest = self.total - len(head)
        if rest <= 0:
            return head.decode("utf-8", "replace")
        tail = bytes(self._tail)[-rest:]
        skipped = rest - len(tail)
        middle = f"\n[... {skipped} bytes elided ...]\n" if skipped else ""
        return head.decode("utf-8", "replace") + middle + tail.decode("utf-8", "replace")


def _limit_child(memory_bytes: int, file_bytes: int, cpus: frozenset[int] | None = None):
    """Return a preexec function: own process group, limits, death with the scorer, and the CPUs it
    may run on (inherited by all it starts) when `cpus` is given."""

    def apply() -> None:
        os.setpgid(0, 0)
        if cpus:
            os.sched_setaffinity(0, cpus)
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        try:
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:
            pass

    return apply


class CandidateProcess:
    """A running candidate that answers calls to one function of one file."""

    def __init__(
        self,
        candidate_dir: Path,
        file: str,
        function: str,
        *,
        memory_mb: int,
        output_cap_bytes: int,
        startup_timeout_s: float,
        python: str | None = None,
        env: dict[str, str] | None = None,
        file_cap_bytes: int = 1 << 30,
        boot: str = BOOT,
        boot_args: tuple[str, ...] = (),
        confinement: frozenset[str] = confine.CPU_PATH,
        spin_s: float = 0.0,
        cpus: frozenset[int] | None = None,
    ):
        self.file = file
        # > 0: wait for an answer by polling for up to this long before blocking (a blocked reader's
        # wake-up costs ~0.1 ms in a VM, and varies: benchmarks/round_trip.py)
        self.spin_s = spin_s
        self.function = function
        self.memory_mb = memory_mb
        self.output_cap_bytes = output_cap_bytes
        self.call_seconds = 0.0
        self.calls = 0
        self._killed_by_us = False
        self._timed_out = False
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        argv = [python or sys.executable, "-I", "-B", "-c", boot, str(req_r), str(resp_w), file, function, *boot_args]
        off = [arg for arg in boot_args if os.path.isabs(arg)]  # the tripwire's paths: confine it too, where possible
        if off:
            argv = confine.wrap(argv, off, pieces=confinement)
        self.proc = subprocess.Popen(
            argv,
            cwd=str(candidate_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, resp_w),
            env=env if env is not None else _candidate_env(candidate_dir),
            preexec_fn=_limit_child(memory_mb * 1024 * 1024, file_cap_bytes, cpus),
        )
        os.close(req_r)
        os.close(resp_w)
        self.output = OutputSink(self.proc.stdout, output_cap_bytes, self.kill)
        first = self._receive(time.monotonic() + startup_timeout_s, what="start")
        if first[0] == "missing":
            self.kill()
            raise CandidateMissingEntry(f"missing entry point: {first[1]}")
        self._check_answer(first, expected="ready")

    # -- calls ---------------------------------------------------------------------------

    def call(self, *args: Any, timeout: float, **kwargs: Any) -> Any:
        """Call the candidate's function; raise a CandidateError subclass if it misbehaves."""
        return self.timed_call(*args, timeout=timeout, **kwargs)[0]

    def timed_call(self, *args: Any, timeout: float, **kwargs: Any) -> tuple[Any, float]:
        """Call the function and return (answer, seconds) timed by the scorer's own clock."""
        payload = pickle.dumps(("call", args, kwargs), protocol=5)
        deadline = time.monotonic() + timeout
        started = time.perf_counter()
        self._send(struct.pack(">Q", len(payload)) + payload, deadline)
        answer = self._receive(deadline, what=f"{self.function}()")
        elapsed = time.perf_counter() - started
        self.calls += 1
        self.call_seconds += elapsed
        return self._check_answer(answer, expected="ok"), elapsed

    def close(self) -> None:
        """Ask the candidate to exit, then make sure its whole process group is gone."""
        if self.proc.poll() is None:
            try:
                payload = pickle.dumps(("exit",))
                os.write(self._req_w, struct.pack(">Q", len(payload)) + payload)
                self.proc.wait(timeout=0.5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill(by_us=False)
        self.output.join()
        for fd in (self._req_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def kill(self, by_us: bool = True) -> None:
        """Kill the candidate's process group."""
        if by_us and self.proc.poll() is None:
            self._killed_by_us = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail_timeout("sending input")
            _, writable, _ = select.select([], [self._req_w], [], remaining)
            if not writable:
                continue
            try:
                n = os.write(self._req_w, view[:65536])
            except BrokenPipeError:
                self._fail_dead("while receiving its input")
            view = view[n:]

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        chunks = []
        while n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail_timeout(what)
            if not self._wait_readable(remaining):
                if self.output.flooded:
                    self._fail_dead(what)
                continue
            chunk = os.read(self._resp_r, min(n, 1 << 20))
            if not chunk:
                self._fail_dead(what)
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _wait_readable(self, remaining: float) -> bool:
        fds = [self._resp_r]
        if self.spin_s > 0:
            end = time.perf_counter() + min(self.spin_s, remaining)
            while time.perf_counter() < end:
                if select.select(fds, [], [], 0)[0]:
                    return True
        readable, _, _ = select.select(fds, [], [], min(remaining, 0.5))
        return bool(readable)

    def _receive(self, deadline: float, what: str) -> tuple:
        size = struct.unpack(">Q", self._read_exact(8, deadline, what))[0]
        if size > MAX_FRAME:
            self.kill()
            raise CandidateProtocolError(f"the candidate sent a {size}-byte answer frame (limit {MAX_FRAME})")
        data = self._read_exact(size, deadline, what)
        try:
            answer = decode_answer(data)
        except Exception as exc:
            self.kill()
            raise CandidateProtocolError(f"the candidate's answer could not be decoded safely: {exc}") from None
        if not isinstance(answer, tuple) or not answer:
            self.kill()
            raise CandidateProtocolError("the candidate's answer channel carried something that is not an answer")
        return answer

    def _check_answer(self, answer: tuple, expected: str) -> Any:
        kind = answer[0]
        if kind == expected:
            return answer[1] if len(answer) > 1 else None
        if kind == "forbidden" and len(answer) == 2:
            self.kill()
            tried = [str(v)[:300] for v in (answer[1] if isinstance(answer[1], list) else [answer[1]])]
            raise Invalid(
                f"forbidden access: the candidate tried to read {tried[0] if tried else '?'} (the scorer's files, "
                "the reference solutions and the scorer's process are off limits while scoring)",
                reason=FORBIDDEN_ACCESS, details={"attempts": tried[:20]},
            )
        if kind == "memory":
            self.kill()
            raise CandidateOutOfMemory(f"out of memory: the candidate exceeded its {self.memory_mb} MB limit ({answer[1]})")
        if kind == "raised" and len(answer) == 4:
            _, name, message, tail = answer
            self.kill()
            raise CandidateRaised(f"the candidate raised {name}: {message}", details={"traceback": tail})
        self.kill()
        raise CandidateProtocolError(f"unexpected answer {str(kind)[:40]!r} on the candidate's answer channel")

    def _fail_timeout(self, what: str):
        self._timed_out = True
        self.kill()
        raise CandidateTimeout(f"timeout: the candidate did not finish {what} in time")

    def _fail_dead(self, what: str):
        if self.output.flooded:
            self.kill()
            raise CandidateOutputFlood(
                f"output flood: the candidate printed more than {self.output_cap_bytes // (1024 * 1024)} MB "
                f"(the cap) and was stopped"
            )
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self.output.join(0.5)
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            if -code == signal.SIGKILL and not self._killed_by_us:
                raise CandidateOutOfMemory(
                    f"out of memory: the candidate was killed by {name} during {what} (memory limit "
                    f"{self.memory_mb} MB)"
                )
            raise CandidateCrashed(f"crash: the candidate's process was killed by {name} during {what}")
        raise CandidateCrashed(f"crash: the candidate's process exited with code {code} during {what}")


def off_limits() -> list[str]:
    """What a candidate may not open while scored: the scorer's code, reference solutions, this process."""
    roots = [REPO_ROOT / "reference_solutions", REPO_ROOT / "scoring", REPO_ROOT / "environments",
             REPO_ROOT / ".git", Path(f"/proc/{os.getpid()}"), Path(f"/proc/{os.getppid()}")]
    return sorted({os.path.realpath(p) for p in roots})


# What the candidate's process inherits from the scorer's environment. The GPU-related names let a
# CUDA build of torch and Triton's compiler find the driver and toolchain (they are absent on CPU hosts).
CANDIDATE_ENV_KEEP = (
    "PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET", "OMP_NUM_THREADS",
    "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CUDA_DEVICE_ORDER", "TRITON_PTXAS_PATH",
    "TRITON_LIBCUDA_PATH", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
)


def _candidate_env(candidate_dir: Path) -> dict[str, str]:
    """A small, clean environment for the candidate's process."""
    env = {k: os.environ[k] for k in CANDIDATE_ENV_KEEP if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(candidate_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
