"""The trusted reference against the definition, and every Triton kernel (reference solution, the
benchmark's three-phase scan) against the trusted reference, in Triton's interpreter at small sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from triton_cumsum_support import ENV_DIR, REF_DIR, ROOT, load_module, require_kernel_stack

require_kernel_stack()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from scoring.kernel.inputs import KINDS, correctness_cases, make_numpy  # noqa: E402
from scoring.kernel.reference import (  # noqa: E402
    masked_prefix_sum_loop, masked_prefix_sum_numpy, masked_prefix_sum_torch, unwrapped_prefix_sum_numpy,
)

reference = load_module(REF_DIR / "solution.py", "triton_cumsum_reference_under_test")
starting = load_module(ENV_DIR / "starting" / "solution.py", "triton_cumsum_starting_under_test")
three_phase = load_module(ROOT / "scoring" / "kernel" / "three_phase.py", "triton_cumsum_three_phase_under_test")

RNG = np.random.default_rng(20240601)


def _inputs(sizes, kinds=KINDS):
    for n in sizes:
        for kind in kinds:
            yield n, kind, make_numpy(RNG, n, kind)


def test_trusted_implementations_match_the_definition():
    for n, kind, x in _inputs([1, 2, 3, 17, 200]):
        want = masked_prefix_sum_loop([int(v) for v in x])
        assert masked_prefix_sum_numpy(x).tolist() == want, (n, kind)
        assert masked_prefix_sum_torch(torch.from_numpy(x)).tolist() == want, (n, kind)
    assert masked_prefix_sum_loop([5, 3, -2, 7, 1]) == [0, 3, 3, 3, 4]  # 3 and 1 follow an odd count


def test_wrap_around_is_two_complement():
    x = np.array([1, 2**31 - 1, 2**31 - 1, 5], dtype=np.int32)
    # 1 positive before x[1]: odd, counted; 2 before x[2]: even; 3 before x[3]: odd
    assert masked_prefix_sum_numpy(x).tolist() == [0, 2**31 - 1, 2**31 - 1, -(2**31) + 4]


def test_input_kinds_are_what_they_say():
    x = make_numpy(RNG, 10_000, "env")
    assert x.dtype == np.int32 and x.min() >= -10 and x.max() <= 9
    assert (make_numpy(RNG, 100, "positive") > 0).all() and (make_numpy(RNG, 100, "negative") < 0).all()
    assert not make_numpy(RNG, 100, "zeros").any()
    large = unwrapped_prefix_sum_numpy(make_numpy(RNG, 4099, "large"))
    assert 2**24 < large.max() < 2**31  # beyond float32's exact integers, below int32's wrap-around
    cases = correctness_cases(100_000_000)
    assert {1, 2, 3, 100_000_000} <= {c.n for c in cases}
    assert any(c.n % 2 and c.n > 1000 for c in cases)  # non-powers of two
    assert {c.kind for c in cases} >= {"env", "positive", "negative", "zeros", "extremes"}


@pytest.mark.parametrize("solution", ["reference", "three_phase", "starting"])
def test_solutions_are_exact(solution):
    fn = {"reference": reference.prefix_sum, "three_phase": three_phase.masked_prefix_sum,
          "starting": starting.prefix_sum}[solution]
    for n, kind, x in _inputs([1, 2, 256, 257, 3001], ("env", "extremes", "sparse", "zeros")):
        xt = torch.from_numpy(x.copy())
        y = fn(xt)
        assert y.dtype == torch.int32 and y.shape == xt.shape and y.is_contiguous()
        assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), (solution, n, kind)
        assert np.array_equal(xt.numpy(), x), "the input was modified"


def test_reference_look_back_over_many_tiles_and_repeated_calls():
    """Tiny tiles make every input span many tiles; repeated calls reuse the tile state (epochs), the
    three launch orders one after another share the tile counter. A persistent program takes tile
    after tile (the interpreter runs programs one at a time, so the first takes them all, prefetching
    each next tile), and the counter ends where the next call's tiles begin."""
    for block in (16, 128):
        for n, kind, x in _inputs([1, 16, 17, 333], ("env", "extremes", "positive")):
            for variant in ({}, {"ordered": True}, {"persistent": True}):
                y = reference.masked_prefix_sum(torch.from_numpy(x), block=block, **variant)
                assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), (block, n, kind, variant)
                state = reference._states[("cpu", None, block)]
                assert int(state.counter.item()) == state.base, (block, n, variant)


def test_reference_options_for_the_gpu_sweep_are_exact():
    """The options benchmarks/triton_cumsum.py sweeps: scans before the look-back, a narrower look-back
    window than one tile per thread, cache hints for the data touched once, and these with the
    persistent launch."""
    for variant in ({"scan_early": True}, {"window": 32}, {"window": 32, "num_warps": 2},
                    {"persistent": True, "scan_early": True, "window": 32}, {"streaming": True},
                    {"persistent": True, "streaming": True}):
        for n, kind, x in _inputs([1, 17, 333], ("env", "extremes")):
            y = reference.masked_prefix_sum(torch.from_numpy(x), block=16, **variant)
            assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), (n, kind, variant)


def test_three_phase_scan_over_many_tiles():
    for block in (16, 64):
        for n, kind, x in _inputs([1, 17, 500], ("env", "extremes")):
            y = three_phase.masked_prefix_sum(torch.from_numpy(x), block=block, chunk=8)
            assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), (block, n, kind)


def test_kernels_compile_for_an_h100(tmp_path):
    """Compile (not run) the Triton kernels for sm_90 with Triton's own ptxas: the GPU path's code
    generation is checked here even without a GPU (the interpreter does not compile). The compiled
    reference goes to a cache of the test's own, not the user's ~/.triton (off limits to candidates)."""
    script = ROOT / "tests" / "triton_cumsum" / "compile_for_sm90.py"
    env = {k: v for k, v in __import__("os").environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "triton-cache")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=ROOT)
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip() or proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "compiled" in proc.stdout


def test_reference_state_wraps_around(monkeypatch):
    """The epoch and tile counter are reset when they reach their limits; results stay exact."""
    monkeypatch.setattr(reference, "_EPOCH_LIMIT", 3)
    monkeypatch.setattr(reference, "_COUNTER_LIMIT", 40)
    monkeypatch.setattr(reference, "_states", {})
    for k in range(7):
        x = make_numpy(RNG, 100 + 37 * k, "env" if k % 2 else "extremes")
        y = reference.masked_prefix_sum(torch.from_numpy(x), block=16, persistent=k % 3 == 1, ordered=k % 3 == 2)
        assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), k
    state = next(iter(reference._states.values()))
    assert state.epoch <= 3 and state.base < 40


def test_chunked_scan_is_exact_over_many_chunks_and_repeated_calls():
    """The chunked variant for the GPU sweep (one look-back per chunk of tiles, the input read again
    from the L2): exact for chunks of 1, 2 and 3 tiles, sizes that end inside a chunk and inside a
    tile, and calls that reuse the state words (the epoch)."""
    for chunk in (1, 2, 3):
        for n, kind, x in _inputs([1, 16, 17, 95, 333], ("env", "extremes", "positive")):
            y = reference.chunked_prefix_sum(torch.from_numpy(x), block=16, chunk=chunk, window=32)
            assert np.array_equal(y.numpy(), masked_prefix_sum_numpy(x)), (n, kind, chunk)
