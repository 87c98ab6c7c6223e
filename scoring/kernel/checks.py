"""Reason codes of the kernel protocol, output-metadata checks, and the diagnosis of wrong outputs.

Every rejection raises `Invalid` (or `WrongAnswer`) with one of these reason codes, a message
that says what was expected and what came back, and details naming the call.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from scoring.errors import Invalid, WrongAnswer

# reasons (besides the runner's: timeout, crash, out_of_memory, output_flood, candidate_exception,
# missing_entry_point, protocol_error, scorer_tampered, result_forged, result_too_large, scorer_died,
# folder_too_large, copy_failed, normalization_failed; a protocol_error for an answer not of the form of scoring/kernel/peer.py
# ANSWERS has details op, field, expected and got)
NEEDS_GPU = "needs_gpu"                    # correct in the interpreter; timing needs a CUDA GPU
WRONG_ANSWER = "wrong_answer"              # wrong values in the correctness phase
PRECISION_LOSS = "precision_loss"          # wrong only once sums pass 2^24: float arithmetic
NO_WRAPAROUND = "no_wraparound"            # right below 2^31, wrong where int32 must wrap around
WRONG_ON_TIMED_CALL = "wrong_on_timed_call"  # right in the correctness phase, wrong on a warm-up/timed call
REPLAYED_RESULT = "replayed_result"        # the output is the answer to an earlier call's input
NOT_A_TENSOR = "not_a_tensor"
WRONG_DTYPE = "wrong_dtype"
WRONG_SHAPE = "wrong_shape"
WRONG_DEVICE = "wrong_device"
NOT_CONTIGUOUS = "not_contiguous"
WRONG_LAYOUT = "wrong_layout"              # memory that does not hold the values: sparse, nested, neg/conj view
OUTPUT_ALIASES_INPUT = "output_aliases_input"
STALE_OUTPUT = "stale_output"              # an output buffer returned again, or changed by a later call
INPUT_MUTATED = "input_mutated"
DEFERRED_WORK = "deferred_work"            # the output was finished after the call had returned
OUTPUT_CHANGED = "output_changed"          # the output changed after it had been read
IMPOSSIBLE_TIME = "impossible_time"        # faster than the memory-copy floor measured in the same run
GPU_BUSY = "gpu_busy"                      # the GPU was busy between calls (work in the background)
PEER_INTERFERENCE = "peer_interference"    # the scorer's copy peer was slowed while the candidate was alive
FORBIDDEN_ACCESS = "forbidden_access"      # tried to read the scorer's files or process


def reject(reason: str, message: str, **details: Any) -> None:
    """Raise the rejection for a reason code (WrongAnswer for wrong values, Invalid otherwise)."""
    wrong_values = {WRONG_ANSWER, PRECISION_LOSS, NO_WRAPAROUND, WRONG_ON_TIMED_CALL, REPLAYED_RESULT}
    cls = WrongAnswer if reason in wrong_values else Invalid
    raise cls(message, reason=reason, details=details)


def shown(value: Any, cap: int = 80) -> str:
    """A value the candidate reported, as message text: a str or a list of ints (a shape) at most `cap`
    characters long (and a mark where it was cut), control characters escaped; anything else by its type."""
    if type(value) is str:
        cut = value[:cap]
        text = cut if cut.isprintable() else repr(cut)[1:-1]
        longer = len(value) > cap
    elif type(value) in (list, tuple) and len(value) <= cap and all(type(v) is int for v in value):
        if any(v.bit_length() > 64 for v in value):
            return f"<a list of {len(value)} ints, some of more than 64 bits>"
        text, longer = str(tuple(value)), False
    else:
        return f"<{type(value).__name__[:40]}>"
    return text[:cap] + "[...]" if longer or len(text) > cap else text


def check_meta(meta: Any, n: int, device: str, where: str) -> None:
    """The output must be a fresh, dense, contiguous 1-D int32 tensor of n values on the input's device.
    meta has the boot's form (scoring/kernel/peer.py ANSWERS): what it reports is shown cut short."""
    if not isinstance(meta, dict) or not meta.get("tensor"):
        got = shown(meta.get("type", "?")) if isinstance(meta, dict) else type(meta).__name__
        reject(NOT_A_TENSOR, f"{where}: prefix_sum must return a torch.Tensor, got {got}", call=where)
    if meta.get("subclass"):
        reject(NOT_A_TENSOR, f"{where}: prefix_sum must return a plain torch.Tensor, got a subclass "
               f"({shown(meta.get('type'))})", call=where)
    _check_dense(meta, where)
    if meta.get("dtype") != "torch.int32":
        reject(WRONG_DTYPE, f"{where}: expected dtype torch.int32 (the input's), got {shown(meta.get('dtype'))}",
               call=where, got=meta.get("dtype"))
    if list(meta.get("shape", [])) != [n]:
        reject(WRONG_SHAPE, f"{where}: expected shape ({n},) (the input's), got {shown(meta.get('shape', []))}",
               call=where, got=meta.get("shape"))
    if meta.get("device") != device:
        reject(WRONG_DEVICE, f"{where}: expected the output on {device} (the input's device), got "
               f"{shown(meta.get('device'))}", call=where, got=meta.get("device"))
    if not meta.get("contiguous") or (n > 1 and list(meta.get("stride", [])) != [1]):
        reject(NOT_CONTIGUOUS, f"{where}: the output must be contiguous (stride (1,)), got stride "
               f"{shown(meta.get('stride', []))}", call=where, got=meta.get("stride"))
    if meta.get("aliases_input"):
        reject(OUTPUT_ALIASES_INPUT, f"{where}: the output shares memory with the input; return a new tensor",
               call=where)
    if meta.get("requires_grad"):
        reject(WRONG_DTYPE, f"{where}: the output must not require grad", call=where)


# torch's flags for tensors whose memory is not their values, and what to return instead
_LAZY = (("neg", "a lazy negative view (torch's neg bit, as from _neg_view()): its memory holds the negated "
          "values", ".resolve_neg()"),
         ("conj", "a lazy conjugate view (torch's conj bit): its memory holds the unconjugated values",
          ".resolve_conj()"),
         ("zero", "a zero tensor without memory (torch._efficientzerotensor)", "torch.zeros"),
         ("nested", "a nested tensor", "a plain tensor"))


def _check_dense(meta: dict, where: str) -> None:
    """The output's memory must hold its values: a strided tensor with no lazy view bit. The scorer reads
    the memory (the interpreter path's bytes, the GPU path's CUDA IPC mapping), never torch's view of it."""
    for key, what, instead in _LAZY:
        if meta.get(key):
            reject(WRONG_LAYOUT, f"{where}: the output is {what}; return a plain tensor whose memory holds "
                   f"its values (e.g. {instead})", call=where, got=key)
    if meta.get("layout") != "torch.strided":
        reject(WRONG_LAYOUT, f"{where}: expected a dense tensor (layout torch.strided), got layout "
               f"{shown(meta.get('layout', '?'))}; return a plain tensor (e.g. .to_dense())", call=where,
               got=meta.get("layout"))


def check_violations(violations: Iterable[str], where: str) -> None:
    """The candidate's process tried to open the scorer's files or process (the boot's tripwire);
    violations: the boot's list of strings (scoring/kernel/peer.py checks its form)."""
    found = [shown(v, 300) for v in violations or ()][:20]
    if found:
        reject(FORBIDDEN_ACCESS, f"forbidden access {where}: the candidate tried to read {found[0]} "
               "(the scorer's files, the reference solution, the scorer's process, its user's Triton cache and "
               "rearena's data folder are off limits; use paths relative to the candidate's own folder)",
               attempts=found[:20])


def first_difference(got: np.ndarray, expected: np.ndarray) -> int:
    return int(np.flatnonzero(got != expected)[0])


def describe_mismatch(where: str, x: np.ndarray, got: np.ndarray, expected: np.ndarray) -> tuple[str, dict]:
    """A message and details for a wrong output: first index, counts, and what it looks like."""
    wrong = got != expected
    i = int(np.flatnonzero(wrong)[0])
    count = int(wrong.sum())
    hints = []
    if not got.any() and expected.any():
        hints.append("the output is all zeros (never written?)")
    elif np.array_equal(got, x):
        hints.append("the output equals the input")
    message = (f"wrong answer on {where}: index {i}: expected {int(expected[i])}, got {int(got[i])} "
               f"({count:,} of {len(expected):,} values wrong)")
    if hints:
        message += "; " + "; ".join(hints)
    details = {"call": where, "index": i, "expected": int(expected[i]), "got": int(got[i]), "wrong_values": count}
    return message, details
