"""The reference's look-back over published tile states that only a GPU's concurrency produces.

Triton's interpreter runs a launch's programs one after another, so in a whole scan every earlier
tile has already published its inclusive prefix when a tile looks back. Here the look-back itself
(reference_solutions/triton_cumsum `_look_back`) runs on states laid out by hand: a prefix several
windows back with aggregates after it, prefixes mid-window, words left by earlier calls (older
epochs) and unpublished tiles before the nearest prefix, values that wrap around int32."""

from __future__ import annotations

import random

import pytest

from triton_cumsum_support import REF_DIR, load_module, require_kernel_stack

require_kernel_stack()

import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

reference = load_module(REF_DIR / "solution.py", "triton_cumsum_reference_look_back")
_look_back = reference._look_back
WINDOW = 128
EPOCH = 7
MASK = 0xFFFFFFFF


@triton.jit
def _probe(state_ptr, out_ptr, tile, epoch, WINDOW: tl.constexpr):
    zero = tile * 0
    q, s = _look_back(state_ptr, tile, epoch, zero, zero, WINDOW)
    tl.store(out_ptr, q)
    tl.store(out_ptr + 1, s)


def _wrap(v: int) -> int:
    v &= MASK
    return v - (1 << 32) if v >= 1 << 31 else v


def _tiles(count: int, rng: random.Random):
    """Random tile aggregates (c, e, o) and the true (parity, sum) after each tile."""
    aggs, prefixes, q, s = [], [], 0, 0
    for _ in range(count):
        c, e, o = rng.randrange(2), rng.randrange(-(1 << 31), 1 << 31), rng.randrange(-(1 << 31), 1 << 31)
        s = _wrap(s + (o if q else e))
        q ^= c
        aggs.append((c, e, o))
        prefixes.append((q, s))
    return aggs, prefixes


def _state(aggs, prefixes, kinds):
    words = [0] * (2 * len(aggs))
    for j, kind in enumerate(kinds):
        c, e, o = aggs[j]
        if kind == "A":
            words[2 * j] = (EPOCH << 35) | (1 << 33) | (c << 32) | (e & MASK)
            words[2 * j + 1] = (EPOCH << 32) | (o & MASK)
        elif kind == "P":
            q, s = prefixes[j]
            words[2 * j] = (EPOCH << 35) | (2 << 33) | (q << 32) | (s & MASK)
            words[2 * j + 1] = (EPOCH << 32) | (o & MASK)
        elif kind == "old":  # left by an earlier call: a prefix with another epoch, wrong values
            words[2 * j] = ((EPOCH - 1) << 35) | (2 << 33) | (1 << 32) | 12345
            words[2 * j + 1] = ((EPOCH - 1) << 32) | 999
        # "none": never written (zeros)
    return torch.tensor(words, dtype=torch.int64)


def _run(kinds, seed, window=WINDOW):
    aggs, prefixes = _tiles(len(kinds), random.Random(seed))
    state, out = _state(aggs, prefixes, kinds), torch.zeros(2, dtype=torch.int32)
    _probe[(1,)](state, out, len(kinds), EPOCH, WINDOW=window)
    return tuple(out.tolist()), prefixes[-1]


@pytest.mark.parametrize("kinds", [
    ["P"] + ["A"] * 299,                                  # the only prefix is tile 0: three windows of aggregates
    ["old"] * 40 + ["P"] + ["A"] * 200,                   # stale words before the prefix are never read as state
    ["none"] * 10 + ["P"] + ["A"] * (WINDOW - 1),         # unpublished tiles before the prefix do not stop the fold
    ["P"] * 50 + ["A"] * 60 + ["P"] + ["A"] * 17,         # the nearest prefix wins over earlier ones
    ["P"] * 5,                                            # the predecessor's prefix: nothing to fold
    ["P"] + ["A"] * (WINDOW - 1) + ["A"],                 # the prefix exactly one window back
    ["P"] + ["A"] * (2 * WINDOW - 1),                     # ... and two windows back
])
def test_look_back_folds_aggregates_after_the_nearest_prefix(kinds):
    got, want = _run(kinds, seed=len(kinds))
    assert got == want, (got, want)


@pytest.mark.parametrize("window", [WINDOW, 32])  # one tile per thread of 4 warps; one warp's worth (swept)
def test_look_back_on_random_layouts(window):
    rng = random.Random(20261123)
    for trial in range(25):
        count = rng.randrange(1, 3 * window)
        nearest = rng.randrange(count)           # the nearest published prefix
        kinds = [rng.choice(["P", "A", "old", "none"]) for _ in range(nearest)] + ["P"]
        kinds += [rng.choice(["A", "A", "A"]) for _ in range(count - nearest - 1)]
        got, want = _run(kinds, seed=trial, window=window)
        assert got == want, (trial, kinds.count("A"), got, want)
