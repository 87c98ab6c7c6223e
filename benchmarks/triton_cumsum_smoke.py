"""Are the Triton scans right on this GPU, and do they finish? Run before timing anything.

    python benchmarks/triton_cumsum_smoke.py

Checks the reference solution (single pass, decoupled look-back) and the plain three-phase
scan against the trusted int64 torch result at sizes 1 .. 100,000,000 on every kind of data
the scorer draws (scoring/kernel/inputs.py), then 20 more times at the full size on fresh
inputs (a race shows as an error that moves between runs). benchmarks/triton_cumsum.py runs this in a subprocess with a time limit,
so a kernel that never finishes (no forward progress between tiles) is reported, not waited on.
Exit status 0 when everything matched, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.pop("TRITON_INTERPRET", None)

SIZES = [1, 2, 1000, 8191, 8192, 8193, 1_000_003, 100_000_000]
REPEATS_AT_FULL_SIZE = 20


def main() -> int:
    import torch

    from scoring.api import load_module as load
    from scoring.kernel.inputs import KINDS, fill_torch
    from scoring.kernel.reference import masked_prefix_sum_torch

    reference = load(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "reference")
    scans = {
        "reference": reference.prefix_sum,
        "reference, tile counter order": lambda x: reference.masked_prefix_sum(x, ordered=True),
        "reference, persistent": lambda x: reference.masked_prefix_sum(x, persistent=True),
        "reference, persistent, 1024/4": lambda x: reference.masked_prefix_sum(x, block=1024, num_warps=4,
                                                                              persistent=True),
        "reference, chunks of 4 tiles of 2048/4": lambda x: reference.chunked_prefix_sum(x, block=2048, chunk=4,
                                                                                         num_warps=4),
        "three-phase": load(REPO / "scoring" / "kernel" / "three_phase.py", "three_phase").prefix_sum,
    }
    gen = torch.Generator(device="cuda")
    gen.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    failures = 0
    for name, scan in scans.items():
        started = time.monotonic()
        checked = wrong = 0
        for n in SIZES:
            for shape in KINDS:  # the scorer's own kinds of data (random, all positive/negative, extremes...)
                x = torch.empty(n, dtype=torch.int32, device="cuda")
                fill_torch(x, gen, shape)
                try:
                    y = scan(x)
                    torch.cuda.synchronize()
                except Exception:
                    print(f"{name}: FAILED at n={n:,} ({shape}); the CUDA context is lost, stopping", flush=True)
                    raise
                if not torch.equal(y, masked_prefix_sum_torch(x)):
                    wrong += 1
                    print(f"{name}: WRONG at n={n:,} ({shape})", flush=True)
                checked += 1
        moving = 0
        for _ in range(REPEATS_AT_FULL_SIZE):
            x = torch.empty(SIZES[-1], dtype=torch.int32, device="cuda")
            fill_torch(x, gen, "env")
            moving += not torch.equal(scan(x), masked_prefix_sum_torch(x))
        failures += wrong + moving
        print(f"{name}: {checked - wrong} of {checked} size/shape cases right; "
              f"{REPEATS_AT_FULL_SIZE - moving} of {REPEATS_AT_FULL_SIZE} fresh full-size inputs right "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    print("smoke: all right" if failures == 0 else f"smoke: {failures} wrong results", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
