"""The candidate's process, seen from the scorer: start it, call it, time it, kill it.

The candidate runs in its own process group with a memory limit, an output cap and
timeouts. Its answers come back through a dedicated pipe and are decoded by a strict
unpickler (plain_pickle) that refuses every class and decodes in time linear in the frame,
so a malicious answer can neither run code here nor stall the decoding.
"""

from __future__ import annotations

import ctypes
import logging
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
from typing import Any, Callable

from scoring import confine, cpu_usage
from scoring.candidate_boot import BOOT
from scoring.cpu_group import CpuGroup
from scoring.cpu_share import CpuSet
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
from scoring.off_limits import ORIGIN_VARIABLE, _covers, _keep_own_folder
from scoring.plain_pickle import decode_strict

logger = logging.getLogger(__name__)

FORBIDDEN_ACCESS = "forbidden_access"

MAX_FRAME = 1 << 30
PR_SET_PDEATHSIG = 1
# what of a candidate's exception or complaint reaches the verdict (the boot cuts the message, but a
# candidate can send any frame: a 70 MB exception name once made the result too large to report)
NAME_CAP, MESSAGE_CAP, TRACEBACK_CAP = 200, 2000, 4000


def decode_answer(data: bytes) -> Any:
    """Decode a candidate's answer without letting it run code in this process or stall it."""
    # Not the C unpickler: a frame of a few hundred bytes (a dict key that is a tuple of shared tuples)
    # stalls it for ever, where no timeout reaches. The strict decoder hands runs of numbers to it, and
    # is within ~3x of its speed on long lists of numbers (benchmarks/decode_answer.py).
    return decode_strict(data)


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


def _limit_child(memory_bytes: int, file_bytes: int, cpus: frozenset[int] | None = None, group=None,
                 cpu_set=None):
    """Return a preexec function: own process group, limits, death with the scorer, the CPUs it
    may run on (inherited by all it starts) when `cpus` is given, and its cgroup (cpu_group) if any.

    Death with the scorer (PR_SET_PDEATHSIG) only when started from the main thread: the signal follows
    the thread that started the process, so a process started from a short-lived thread (restricted_mlm's
    graph runner) was killed as soon as that thread ended. (Confined, the wrapper stood in between.)"""
    with_parent = threading.current_thread() is threading.main_thread()

    def apply() -> None:
        os.setpgid(0, 0)
        if group is not None:
            try:
                group.enter()
            except OSError:
                pass  # checked after the start (CandidateProcess: /proc/<pid>/cgroup)
        if cpu_set is not None:
            try:
                cpu_set.enter()
            except OSError:
                pass  # checked after the start (CandidateProcess: its allowed CPUs)
        if cpus:
            os.sched_setaffinity(0, cpus)
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        if with_parent:
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
        trusted: bool = False,
        bounded: bool = True,
        decoder: Callable[[bytes], Any] | None = None,
        gpu: bool = False,
    ):
        self.file = file
        # how a frame becomes a value: plain_pickle.decode_strict (decode_answer) unless told otherwise
        self._decode = decoder or decode_answer
        # answers walked for their size and depth before the environment's scorer reads them (bounded());
        # the kernel peer checks its answers against its own schema, outside its timed window, instead
        self.bounded = bounded
        # > 0: wait for an answer by polling for up to this long before blocking (a blocked reader's
        # wake-up costs ~0.1 ms in a VM, and varies: benchmarks/round_trip.py)
        self.spin_s = spin_s
        self.function = function
        self.memory_mb = memory_mb
        self.cpus = cpus  # where it runs (None: anywhere this process may)
        self.output_cap_bytes = output_cap_bytes
        self.call_seconds = 0.0
        self.calls = 0
        self._killed_by_us = False
        self._frame_bytes = 0  # the length of the last frame decoded
        self._timed_out = False
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        boot_args = _keep_own_folder(boot_args, candidate_dir)
        argv = [python or sys.executable, "-I", "-B", "-c", boot, str(req_r), str(resp_w), file, function, *boot_args]
        # a cgroup of its own (root): the CPU time of everything it ever ran, exited processes included
        self.cpu_group = None if trusted else CpuGroup.create()
        # its CPUs held by a cpuset where one can be made (root): an affinity alone the candidate may widen
        self.cpu_set = CpuSet.create(cpus, self.cpu_group) if cpus and not trusted else None
        # how it ran, for the result's details: the confinement pieces, "none", "trusted", or a scoring
        # container's own user switch (scoring/docker_runner.py's candidate-python: uid 1000 there; its
        # helper-python: uid 1001)
        self.confinement = "trusted" if trusted else "container" if _in_container(python) else "none"
        if not trusted:
            # Confined whether or not its boot has the tripwire (boot_args' paths): a candidate without
            # it once ran as root with every capability, read the scorer's memory through /proc and
            # wrote a signed score to its result pipe. Unchanged where confinement is unavailable.
            argv = confine.wrap(argv, _covers(boot_args, candidate_dir), pieces=confinement, folder=candidate_dir,
                                origin=os.environ.get(ORIGIN_VARIABLE), gpu=gpu)
            if confine.available():
                self.confinement = "+".join(sorted(confine.usable(confinement))) or "covers only"
        self.proc = subprocess.Popen(
            argv,
            cwd=str(candidate_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, resp_w),
            # unshare starts as root in the candidate's folder: no search path may name that folder
            env=confine.clean_search_paths(env if env is not None else _candidate_env(candidate_dir)),
            preexec_fn=_limit_child(memory_mb * 1024 * 1024, file_cap_bytes, cpus, self.cpu_group, self.cpu_set),
        )
        if self.cpu_group is not None and not self.cpu_group.holds(self.proc.pid):
            logger.warning("the candidate did not enter its cgroup: its CPU time is read from /proc only")
            self.cpu_group.remove()
            self.cpu_group = None
        if self.cpu_set is not None and not self.cpu_set.holds(self.proc.pid):
            logger.warning("the candidate did not enter its cpuset: its CPUs are held by its affinity only")
            self.cpu_set.remove_when_empty(0.0)
            self.cpu_set = None
        self.cpus_held_by = "cpuset" if self.cpu_set is not None else "affinity" if cpus else ""
        os.close(req_r)
        os.close(resp_w)
        self.output = OutputSink(self.proc.stdout, output_cap_bytes, self.kill)
        try:
            first = self._receive(time.monotonic() + startup_timeout_s, what="start")
            self._check_answer(first, expected="ready")
        except BaseException:  # no one will close a process that never started: its cgroup goes now
            self.kill(by_us=False)
            self.drop_group()
            raise

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

    def call_raw(self, *args: Any, timeout: float, **kwargs: Any) -> bytes:
        """Call the function and return its answer frame undecoded: a timed window ends before the frame
        is decoded and checked (answer_of), so neither lengthens it nor can stall inside it."""
        payload = pickle.dumps(("call", args, kwargs), protocol=5)
        deadline = time.monotonic() + timeout
        started = time.perf_counter()
        self._send(struct.pack(">Q", len(payload)) + payload, deadline)
        data = self._receive(deadline, what=f"{self.function}()", raw=True)
        self.calls += 1
        self.call_seconds += time.perf_counter() - started
        return data

    def answer_of(self, data: bytes) -> Any:
        """The value of a frame from call_raw; a CandidateError subclass where it stands for one."""
        return self._check_answer(self._decoded(data), expected="ok")

    def cpu_seconds(self, adopted_by: int | None = None) -> float:
        """CPU seconds of everything it started: the larger of its cgroup's count (which keeps the time of
        every process that ever ran in it) and /proc's (scoring/cpu_usage.py; adopted_by: see there)."""
        seen = cpu_usage.cpu_seconds(self.proc.pid, adopted_by=adopted_by)
        if self.cpu_group is not None:
            try:
                seen = max(seen, self.cpu_group.seconds())
            except (OSError, KeyError, ValueError) as exc:
                logger.warning("the candidate's cgroup could not be read: %s", exc)
        return seen

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
        self.drop_group()
        self.output.join()
        for fd in (self._req_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def drop_group(self) -> None:
        """Remove its cgroup (once its processes have gone); its CPU time is no longer read after."""
        group, self.cpu_group = self.cpu_group, None
        if group is not None:
            group.remove_when_empty()
        cpu_set, self.cpu_set = getattr(self, "cpu_set", None), None
        if cpu_set is not None:
            cpu_set.remove_when_empty()

    def kill(self, by_us: bool = True) -> None:
        """Kill the candidate's process group, and every process of its cgroup: a candidate that left its
        group (setsid) and refused to exit outlived the kill otherwise, its PID namespace with it (the
        `unshare --kill-child` signal does not survive the uid switch)."""
        if by_us and self.proc.poll() is None:
            self._killed_by_us = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cpu_group is not None:
            self.cpu_group.kill_all()
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

    def _receive(self, deadline: float, what: str, raw: bool = False) -> Any:
        size = struct.unpack(">Q", self._read_exact(8, deadline, what))[0]
        if size > MAX_FRAME:
            self.kill()
            raise CandidateProtocolError(f"the candidate sent a {size}-byte answer frame (limit {MAX_FRAME})")
        data = self._read_exact(size, deadline, what)
        return data if raw else self._decoded(data)

    def _decoded(self, data: bytes) -> tuple:
        """A frame decoded (self._decode): a tuple whose first part is its kind."""
        self._frame_bytes = len(data)  # the answer's text may not hold much more (bounded, text_limit)
        try:
            answer = self._decode(data)
        except Exception as exc:
            self.kill()
            raise CandidateProtocolError(f"the candidate's answer could not be decoded safely: "
                                         f"{_capped(str(exc), 300)}") from None
        if not isinstance(answer, tuple) or not answer:
            self.kill()
            raise CandidateProtocolError("the candidate's answer channel carried something that is not an answer")
        return answer

    def _check_answer(self, answer: tuple, expected: str) -> Any:
        """The answer's value when it is the expected kind; else the verdict it stands for, raised. Every
        frame is checked for its length and types, and what of it goes into the verdict is capped."""
        kind, rest = answer[0], answer[1:]
        if isinstance(kind, str) and kind == expected:
            value = rest[0] if rest else None
            problem = bounded(value, text_limit(self._frame_bytes)) if self.bounded and len(rest) == 1 else ""
            if not problem:
                return value
            self.kill()
            raise CandidateProtocolError(f"the candidate's answer is not a plain value of a sane size: {problem}")
        self.kill()
        if kind == "forbidden" and len(rest) == 1:
            tried = [_capped(v, 300) for v in (rest[0][:20] if isinstance(rest[0], list) else [rest[0]])]
            raise Invalid(
                f"forbidden access: the candidate tried to read {tried[0] if tried else '?'} (the scorer's files, "
                "the reference solutions, the scorer's process and rearena's data folder are off limits while "
                "scoring; use paths relative to the candidate's own folder)",
                reason=FORBIDDEN_ACCESS, details={"attempts": tried},
            )
        if kind == "memory" and _all_text(rest, 1):
            raise CandidateOutOfMemory(f"out of memory: the candidate exceeded its {self.memory_mb} MB limit "
                                       f"({_capped(rest[0], MESSAGE_CAP)})")
        if kind == "raised" and _all_text(rest, 3):
            name, message, tail = _capped(rest[0], NAME_CAP), _capped(rest[1], MESSAGE_CAP), rest[2]
            tail = tail if len(tail) <= TRACEBACK_CAP else "[...]\n" + tail[-TRACEBACK_CAP:]
            raise CandidateRaised(f"the candidate raised {name}: {message}", details={"traceback": tail})
        if kind == "missing" and expected == "ready" and _all_text(rest, 1):
            raise CandidateMissingEntry(f"missing entry point: {_capped(rest[0], MESSAGE_CAP)}")
        shown = repr(kind[:40]) if isinstance(kind, str) else f"of type {type(kind).__name__}"
        raise CandidateProtocolError(f"unexpected answer {shown} (a frame of {len(answer)} parts) on the "
                                     f"candidate's answer channel")

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
                    f"{self.memory_mb} MB; the other way to this end is a {name} from the candidate's own code)"
                )
            raise CandidateCrashed(f"crash: the candidate's process was killed by {name} during {what}")
        raise CandidateCrashed(f"crash: the candidate's process exited with code {code} during {what}")


ANSWER_NODES, ANSWER_DEPTH, ANSWER_INT_BITS = 2_000_000, 100, 4096
_ATOMS = (type(None), bool, float, complex, str, bytes, bytearray)
_NESTED = (list, tuple, set, frozenset)


def text_limit(frame_bytes: int) -> int:
    """The most bytes of str and bytes an answer of a frame this long may hold, counted with repeats: an
    answer that shares nothing holds no more than its frame; a list of 100,000 references to one 1 MB
    string is 1.3 MB pickled, and 100 GB when a scorer formats it."""
    return 4 * frame_bytes + (16 << 20)


def bounded(value: Any, text_bytes: int = MAX_FRAME) -> str:
    """Why an answer would stall or break a scorer that formats or compares it, or "": more than
    ANSWER_NODES values counted with repeats (a structure sharing its parts, tiny when pickled, can hold
    2^64 of them), more than `text_bytes` of str and bytes counted with repeats (text_limit), nesting
    deeper than ANSWER_DEPTH, or an int past ANSWER_INT_BITS (str() refuses it)."""
    todo, seen, text = [(value, 0)], 0, 0
    while todo:
        one, depth = todo.pop()
        seen += 1
        if seen > ANSWER_NODES:
            return f"it holds more than {ANSWER_NODES:,} values (counting each part as often as it is reached)"
        kind = type(one)
        if kind is int:
            bits = one.bit_length()
            if bits > ANSWER_INT_BITS:
                return f"an int of {bits:,} bits (at most {ANSWER_INT_BITS:,})"
            if bits > 64:  # its digits count as text: 2,000,000 references to one 4,000-bit int print 2.4 GB
                text += bits * 3 // 10 + 1
                if text > text_bytes:
                    return (f"it holds more than {text_bytes:,} bytes of text (counting each part as often as it "
                            "is reached, and a long int's digits)")
        elif kind is str or kind is bytes or kind is bytearray:
            text += len(one)
            if text > text_bytes:
                return (f"it holds more than {text_bytes:,} bytes of text (counting each part as often as it is "
                        "reached)")
        elif kind in _ATOMS:
            continue
        elif depth >= ANSWER_DEPTH:
            return f"it is nested more than {ANSWER_DEPTH} levels deep"
        elif kind in _NESTED:
            todo.extend((item, depth + 1) for item in one)
        elif kind is dict:
            todo.extend((item, depth + 1) for pair in one.items() for item in pair)
        else:
            return f"a value of type {kind.__name__}"
    return ""


def _in_container(python: str | None) -> bool:
    """Whether the python is a scoring container's wrapper that drops to its participant's uid (or to its
    helpers', scoring/docker_runner.py)."""
    return (bool(python) and python.endswith(("/bin/candidate-python", "/bin/helper-python"))
            and os.path.exists("/.dockerenv"))


def _capped(value: Any, limit: int) -> str:
    """A frame's text cut to `limit` characters (anything but a string stands as its type's name)."""
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    return value if len(value) <= limit else value[:limit] + f"[... {len(value) - limit} more characters]"


def _all_text(parts: tuple, count: int) -> bool:
    """Whether a frame's parts after its kind are `count` strings."""
    return len(parts) == count and all(isinstance(part, str) for part in parts)


# What the candidate's process inherits from the scorer's environment. The GPU-related names let a
# CUDA build of torch and Triton's compiler find the driver and toolchain (they are absent on CPU hosts).
CANDIDATE_ENV_KEEP = (
    "PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET", "OMP_NUM_THREADS",
    "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CUDA_DEVICE_ORDER", "TRITON_PTXAS_PATH",
    "TRITON_LIBCUDA_PATH", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
)


def _candidate_env(candidate_dir: Path) -> dict[str, str]:
    """A small, clean environment for the candidate's process."""
    env = confine.clean_search_paths({k: os.environ[k] for k in CANDIDATE_ENV_KEEP if k in os.environ})
    env["HOME"] = str(candidate_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
