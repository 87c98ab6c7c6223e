"""The scorer's side of a process that runs a prefix_sum under the kernel boot.

A peer is either the candidate (untrusted) or one of the scorer's own trusted helpers (the
copy peer that measures the harness's overhead and the copy floor through the same path).

Everything a candidate's process answers is the candidate's to choose (solution.py can replace the
boot's functions when it is imported), and the channel's decoder accepts any plain value: lists that
hold each other many times over (a few hundred bytes that a comparison, a repr or a copy walks for
2^64 steps), ints of thousands of digits, dicts with tuple keys. So every answer is checked against
ANSWERS here, in `checked_answer`, before anything compares, formats or stores any part of it: known
keys only, each a scalar of a bounded size, or a list of a bounded length of them.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from scoring import confine
from scoring.candidate import CandidateProcess, _candidate_env
from scoring.errors import CandidateProtocolError
from scoring.kernel.boot import KERNEL_BOOT
from scoring.kernel.checks import check_violations, shown
from scoring.kernel.protocol import MAX_BATCH
from scoring.off_limits import off_limits
from scoring.plain_pickle import decode_strict

PEERS_DIR = Path(__file__).resolve().parent / "peers"
SPIN_S = 0.05  # on a GPU both ends of the pipes poll this long before blocking (benchmarks/round_trip.py)

INT_LIMIT = 1 << 64   # pointers, sizes, offsets and ids all fit 64 bits
TEXT_CAP = 300        # a dtype, a device, a type's name, a forbidden path
RAISED_CAP = 1000     # the boot's "ExceptionName: message" (it cuts the message to 500 characters)
HANDLE_CAP = 1024     # a CUDA IPC handle (64 bytes) or the name of torch's ref-counter file
DIMS_CAP = 64         # entries of a shape or a stride
VIOLATIONS_CAP = 20   # forbidden accesses an answer may report (the boot sends the first 20)


class MalformedAnswer(Exception):
    """An answer that does not have the form of the boot's: where in it, what was expected, what came."""

    def __init__(self, field: str, expected: str, got: str):
        super().__init__(f"{field} must be {expected}, got {got}")
        self.field, self.expected, self.got = field, expected, got


Check = Callable[[Any, str], None]  # raises MalformedAnswer for the value found at a field's path


def described(value: Any) -> str:
    """A value named by its type and size, never by its contents (which may be huge or deep)."""
    kind = type(value)
    if value is None or kind is bool:
        return repr(value)
    if kind is int:
        return f"an int of {value.bit_length()} bits"
    if kind is float:
        return f"the float {value!r}"
    sizes = {str: "characters", bytes: "bytes", bytearray: "bytes", list: "items", tuple: "items",
             dict: "entries", set: "items", frozenset: "items"}
    if kind in sizes:
        return f"a {kind.__name__} of {len(value)} {sizes[kind]}"
    return f"a {kind.__name__[:40]}"


def _scalar(test: Callable[[Any], bool], expected: str) -> Check:
    def check(value: Any, field: str) -> None:
        if not test(value):
            raise MalformedAnswer(field, expected, described(value))
    return check


BOOL = _scalar(lambda v: type(v) is bool, "a bool")
INT = _scalar(lambda v: type(v) is int and -INT_LIMIT < v < INT_LIMIT, "an int of at most 64 bits")
FLOAT = _scalar(lambda v: type(v) is float and math.isfinite(v), "a finite float")


def text(cap: int = TEXT_CAP) -> Check:
    """A str of at most cap characters."""
    return _scalar(lambda v: type(v) is str and len(v) <= cap, f"a str of at most {cap} characters")


def blob(cap: int | None = None) -> Check:
    """bytes (of at most cap; None: any length, the channel's frame limit bounds it)."""
    limit = f" of at most {cap}" if cap is not None else ""
    return _scalar(lambda v: type(v) is bytes and (cap is None or len(v) <= cap), f"bytes{limit}")


def optional(check: Check) -> Check:
    """None, or what check accepts."""
    def either(value: Any, field: str) -> None:
        if value is not None:
            check(value, field)
    return either


def list_of(item: Check, cap: int, exactly: int | None = None) -> Check:
    """A list (not a tuple) of at most cap items (or exactly `exactly`), each checked by item."""
    expected = f"a list of {exactly}" if exactly is not None else f"a list of at most {cap}"

    def check(value: Any, field: str) -> None:
        if type(value) is not list or len(value) > cap or (exactly is not None and len(value) != exactly):
            raise MalformedAnswer(field, expected, described(value))
        for index, one in enumerate(value):
            item(one, f"{field}[{index}]")
    return check


def record(fields: dict[str, Check]) -> Check:
    """A dict of some of these keys (a reader checks that what it needs is there), each as described."""
    def check(value: Any, field: str) -> None:
        if type(value) is not dict:
            raise MalformedAnswer(field or "the answer", "a dict", described(value))
        for key, one in value.items():
            # the key's type first: an unknown key is never hashed or compared (a tuple's hash walks it)
            if type(key) is not str or len(key) > 40 or key not in fields:
                name = repr(key) if type(key) is str and len(key) <= 40 else described(key)
                raise MalformedAnswer(f"{field or 'the answer'}", f"a dict of the keys {sorted(fields)}",
                                      f"the key {name}")
            fields[key](one, f"{field}.{key}" if field else key)
    return check


META = record({
    "tensor": BOOL, "type": text(), "subclass": BOOL, "dtype": text(), "shape": list_of(INT, DIMS_CAP),
    "stride": list_of(INT, DIMS_CAP), "device": text(), "contiguous": BOOL, "offset": INT,
    "requires_grad": BOOL, "aliases_input": BOOL, "storage_ptr": INT, "ptr": INT,
    "layout": text(), "nested": BOOL, "neg": BOOL, "conj": BOOL, "zero": BOOL,
})
IPC = record({
    "device": INT, "handle": blob(HANDLE_CAP), "storage_bytes": INT, "storage_offset_bytes": INT,
    "tensor_offset": INT, "ref_counter_handle": blob(HANDLE_CAP), "ref_counter_offset": INT,
    "event_handle": optional(blob(HANDLE_CAP)), "event_sync_required": BOOL,
})
CALL = record({"meta": META, "ipc": optional(IPC), "id": INT, "phases_ms": list_of(FLOAT, 3, exactly=3)})
# in every answer: the forbidden accesses seen so far, and the error that came with one
COMMON = {"v": list_of(text(), VIOLATIONS_CAP), "raised": text(RAISED_CAP)}
# what the boot answers to each op (scoring/kernel/boot.py's docstring)
ANSWERS: dict[str, Check] = {op: record({**COMMON, **fields}) for op, fields in {
    "cpu_slots": {}, "cuda_slots": {}, "sync": {}, "release": {}, "ping": {},
    "cpu_call": {"meta": META, "input_after": blob(), "data": optional(blob()), "id": INT},
    "recheck": {"data": optional(blob())},
    "cuda_calls": {"calls": list_of(CALL, MAX_BATCH)},
}.items()}


def checked_answer(op: str, answer: Any, label: str, where: str) -> dict:
    """The answer to op when it has the form of the boot's (ANSWERS) and reports no forbidden access;
    else CandidateProtocolError naming the field (or Invalid, reason forbidden_access)."""
    try:
        ANSWERS[op](answer, "")
    except MalformedAnswer as bad:
        raise CandidateProtocolError(
            f"{where}: the kernel protocol's answer to {op} from {label} is malformed: {bad}",
            details={"op": op, "field": bad.field, "expected": bad.expected, "got": bad.got}) from None
    check_violations(answer.get("v"), where)
    if "raised" in answer:  # the boot answers an error this way only with the forbidden access it stands for
        raise CandidateProtocolError(f"{where}: {label} answered an error without the forbidden access it stands "
                                     f"for: {shown(answer['raised'], 200)}", details={"op": op, "field": "raised"})
    return answer


def peer_env(folder: Path, mode: str) -> dict[str, str]:
    """The candidate's usual clean environment; Triton's interpreter on when there is no GPU."""
    env = _candidate_env(folder)
    if mode == "cpu":
        env["TRITON_INTERPRET"] = "1"
    else:
        env.pop("TRITON_INTERPRET", None)  # a GPU run must compile kernels, never interpret them
    return env


class KernelPeer:
    """A prefix_sum process speaking the kernel protocol; every answer is checked here (ANSWERS)."""

    def __init__(self, ctx, folder: Path, file: str, function: str, mode: str, *, trusted: bool = False,
                 memory_mb: int | None = None, spin: bool | None = None, cpus: frozenset[int] | None = None):
        self.label = "the scorer's copy peer" if trusted else "the candidate"
        # timed round trips (the GPU path) poll instead of sleeping in both processes; the
        # interpreter path has nothing to time and blocks
        if spin is None:
            spin = mode == "cuda"
        spin_s = SPIN_S if spin else 0.0
        self.trusted = trusted
        self.proc = CandidateProcess(
            Path(folder), file, function,
            memory_mb=memory_mb or ctx.memory_mb,
            output_cap_bytes=ctx.output_cap_bytes,
            startup_timeout_s=max(0.1, ctx.remaining()),
            # the trusted peer runs under the scorer's own python and user (root in a scoring container),
            # so the candidate (uid 1000 there) can neither read its files nor signal it
            python=sys.executable if trusted else ctx.python,
            env=peer_env(Path(folder), mode),
            boot=KERNEL_BOOT,
            boot_args=(mode, str(spin_s), *([] if trusted else off_limits())),
            # CUDA IPC with the scorer: only the confinement pieces found to let it work here
            confinement=confine.gpu_path() if mode == "cuda" else confine.CPU_PATH,
            gpu=mode == "cuda",  # a private /dev (DEV) holds the GPU's nodes only then
            bounded=False,  # checked_answer checks every answer against ANSWERS, outside the timed window
            decoder=decode_strict,  # ... after decoding it there: no dict key but an atom (no hash bomb)
            spin_s=spin_s,
            cpus=cpus,  # scoring/kernel/cpus.py (pin_cpus): CPUs of its own, inherited by all it starts
            trusted=trusted,  # the scorer's copy peer runs unconfined; the candidate always confined
        )
        if cpus:  # the thread here that drains its output runs with it, not on the harness's CPU
            self.proc.output.pin(cpus)
        ctx.processes.append(self.proc)

    def op(self, *args: Any, timeout: float, where: str = "") -> dict:
        """Send an op and return its answer, checked (checked_answer)."""
        return self.checked(args[0], self.exchange(*args, timeout=timeout), where)

    def exchange(self, *args: Any, timeout: float) -> bytes:
        """Send an op and return its answer's frame, neither decoded nor checked: for a timed window, which
        must not hold the decoding or the checks; the caller passes the frame to `checked` after it."""
        return self.proc.call_raw(*args, timeout=timeout)

    def checked(self, op: str, frame: bytes, where: str = "") -> dict:
        """The answer to op, decoded strictly (plain_pickle), when it has the boot's form (checked_answer);
        else the process is killed and the error raised."""
        where = where or f"during {op}"
        try:
            answer = self.proc.answer_of(frame)  # kills the process itself when the frame is not a plain answer
        except CandidateProtocolError as error:  # the op and the moment added: the frame itself is the field
            raise CandidateProtocolError(f"{where}: {error.message}",
                                         details={**error.details, "op": op, "field": "the frame"}) from None
        try:
            return checked_answer(op, answer, self.label, where)
        except CandidateProtocolError:
            self.proc.kill()
            raise

    @property
    def pid(self) -> int:
        return self.proc.proc.pid

    def close(self) -> None:
        self.proc.close()


class TrustedCopyPeer(KernelPeer):
    """The copy 'solution' (torch.empty_like(x).copy_(x)), run from a private copy of its file."""

    def __init__(self, ctx, mode: str, cpus: frozenset[int] | None = None):
        self._tmp = Path(tempfile.mkdtemp(prefix="rearena-copy-peer-"))
        shutil.copy2(PEERS_DIR / "copy_solution.py", self._tmp / "copy_solution.py")
        super().__init__(ctx, self._tmp, "copy_solution.py", "prefix_sum", mode, trusted=True, cpus=cpus)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._tmp, ignore_errors=True)
