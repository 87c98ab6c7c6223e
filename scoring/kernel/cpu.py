"""The correctness protocol in Triton's interpreter (no GPU): small sizes, never a valid score.

The candidate's process runs with TRITON_INTERPRET=1 on CPU tensors. Inputs go to it as bytes
and outputs come back as bytes with their metadata (plain transfer: sizes are small here).
Every check of the GPU protocol that does not need a GPU runs here too, so CI catches wrong,
stale, aliased, mutated, deferred and replayed outputs, and reads of the scorer's files.
"""

from __future__ import annotations

import time

import numpy as np

from scoring.errors import CandidateProtocolError
from scoring.kernel import checks
from scoring.kernel.checks import reject
from scoring.kernel.inputs import Case, correctness_cases, make_numpy
from scoring.kernel.peer import KernelPeer
from scoring.kernel.protocol import ENTRY_FILE, ENTRY_FUNCTION, KernelSpec
from scoring.kernel.reference import masked_prefix_sum_numpy
from scoring.kernel.stats import median

RECHECK_PAUSES_S = (0.0, 0.05, 0.25)  # after a wrong read: is the output still changing?


class _Held:
    """An output the candidate returned and still holds: its id, storage and the bytes first read."""

    def __init__(self, ident: int, storage_ptr, data: bytes, where: str):
        self.ident, self.storage_ptr, self.data, self.where = ident, storage_ptr, data, where


def score_in_interpreter(ctx, spec: KernelSpec) -> dict:
    rng = np.random.default_rng(ctx.rng.getrandbits(64))
    cases = correctness_cases(spec.cpu_n)
    capacity = max(c.n for c in cases)
    peer = KernelPeer(ctx, ctx.candidate_dir, ENTRY_FILE, ENTRY_FUNCTION, "cpu")
    state = {"held": None, "answers": [], "checks": 0}
    try:
        peer.op("cpu_slots", capacity, timeout=_timeout(ctx, spec), where="while starting")
        for case in cases:
            _checked_call(ctx, spec, peer, rng, case, f"case '{case.label}'", state)
        ctx.log(f"interpreter: {len(cases)} correctness cases passed")
        times = []
        total = 1 + spec.cpu_reps  # one warm-up call, then the timed ones: indistinguishable
        for k in range(total):
            case = Case("timed", spec.cpu_n, "env", checks.WRONG_ON_TIMED_CALL)
            where = f"timed call {k + 1} of {total} (n={spec.cpu_n:,})"
            seconds = _checked_call(ctx, spec, peer, rng, case, where, state)
            if k:
                times.append(seconds)
        _release(ctx, spec, peer, state)
    finally:
        peer.close()
    return {
        "device": "cpu (Triton interpreter)",
        "checks": state["checks"],
        "cases": [c.label for c in cases],
        "cpu_n": spec.cpu_n,
        "interpreter_median_ms": median(times) * 1000,
        "interpreter_times_ms": [round(t * 1000, 3) for t in times],
        "note": "interpreter times are not scores: timing needs a CUDA GPU",
    }


def _timeout(ctx, spec: KernelSpec) -> float:
    return max(0.1, min(ctx.remaining(), spec.call_timeout_s))


def _checked_call(ctx, spec, peer: KernelPeer, rng, case: Case, where: str, state: dict) -> float:
    x = make_numpy(rng, case.n, case.kind)
    expected = masked_prefix_sum_numpy(x)
    slot = ctx.rng.randrange(2)
    started = time.perf_counter()
    answer = peer.op("cpu_call", slot, x.tobytes(), timeout=_timeout(ctx, spec), where=f"on {where}")
    seconds = time.perf_counter() - started
    # the answer has the boot's form here (KernelPeer.op checks it: no part of it is too big to compare)
    if type(answer.get("id")) is not int:
        raise CandidateProtocolError(f"{where}: the kernel boot's answer names no output to hold")
    meta = answer.get("meta")
    checks.check_meta(meta, case.n, "cpu", where)
    held = state["held"]
    ptr = meta.get("storage_ptr")
    if held is not None and ptr is not None and ptr == held.storage_ptr:
        reject(checks.STALE_OUTPUT, f"{where}: the output is the same buffer as the output of {held.where}, "
               "which the caller still holds; return a new tensor every call", call=where)
    if answer.get("input_after") != x.tobytes():
        reject(checks.INPUT_MUTATED, f"{where}: the input was changed by the call; inputs are read-only",
               call=where)
    data = answer.get("data")
    if not isinstance(data, bytes) or len(data) != 4 * case.n:
        reject(checks.WRONG_SHAPE, f"{where}: the output's data did not come back ({case.n} int32 values expected)",
               call=where)
    got = np.frombuffer(data, dtype=np.int32)
    if not np.array_equal(got, expected):
        _explain_wrong(ctx, spec, peer, answer["id"], x, got, expected, case, where, state)
    later = _recheck(ctx, spec, peer, answer["id"], where)
    if later != data:
        reject(checks.OUTPUT_CHANGED, f"{where}: the output changed after it was read (it was still being "
               "written after the call returned)", call=where)
    if held is not None:
        again = _recheck(ctx, spec, peer, held.ident, where)
        if again != held.data:
            reject(checks.STALE_OUTPUT, f"{where}: the output of {held.where} changed during this call "
                   "(a buffer reused from call to call)", call=where)
        peer.op("release", held.ident, timeout=_timeout(ctx, spec))
    state["held"] = _Held(answer["id"], meta.get("storage_ptr"), data, where)
    state["answers"].append(expected)
    del state["answers"][:-8]
    state["checks"] += 1
    return seconds


def _recheck(ctx, spec, peer: KernelPeer, ident: int, where: str) -> bytes | None:
    peer.op("sync", timeout=_timeout(ctx, spec), where=f"on {where}")
    return peer.op("recheck", ident, timeout=_timeout(ctx, spec), where=f"on {where}").get("data")


def _explain_wrong(ctx, spec, peer, ident, x, got, expected, case: Case, where: str, state: dict) -> None:
    last, changed = got.tobytes(), False
    for pause in RECHECK_PAUSES_S:  # is the output still being written? wait until it settles
        time.sleep(pause)
        later = _recheck(ctx, spec, peer, ident, where)
        if later != last:
            last, changed = later, True
        elif changed:
            break
    if changed:
        if last is not None and np.array_equal(np.frombuffer(last, dtype=np.int32), expected):
            reject(checks.DEFERRED_WORK, f"{where}: the output was wrong when the call returned and right "
                   "later: work was left running after the return", call=where)
        reject(checks.OUTPUT_CHANGED, f"{where}: the output was wrong and kept changing after the call "
               "returned", call=where)
    for earlier in state["answers"]:
        if len(earlier) == len(got) and earlier.any() and np.array_equal(earlier, got):
            reject(checks.REPLAYED_RESULT, f"{where}: the output is the answer to an earlier call's input "
                   "(results cached by shape, identity or call count are replayed on fresh inputs)", call=where)
    message, details = checks.describe_mismatch(where, x, got, expected)
    if case.reason == checks.PRECISION_LOSS:
        message += "; partial sums here pass 2^24: exact int32 arithmetic is needed (float32 rounds)"
    elif case.reason == checks.NO_WRAPAROUND:
        message += "; the sums here overflow int32 and must wrap around (two's complement)"
    reject(case.reason, message, **details)


def _release(ctx, spec, peer: KernelPeer, state: dict) -> None:
    held = state["held"]
    if held is not None:
        peer.op("release", held.ident, timeout=_timeout(ctx, spec))
        state["held"] = None
