"""Are the Triton scans right on this GPU, and do they finish? Run before timing anything.

    python benchmarks/triton_cumsum_smoke.py

Checks the reference solution (single pass, decoupled look-back) and the plain three-phase
scan against the trusted int64 torch result at sizes 1 .. 100,000,000 on several shapes of
data, then 20 more times at the full size on fresh inputs (a race shows as an error that
moves between runs). benchmarks/triton_cumsum.py runs this in a subprocess with a time limit,
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


def inputs(torch, n: int, gen):
    i32 = torch.iinfo(torch.int32)
    yield "random [-10, 10)", torch.randint(-10, 10, (n,), dtype=torch.int32, device="cuda", generator=gen)
    yield "all positive", torch.randint(1, 100, (n,), dtype=torch.int32, device="cuda", generator=gen)
    yield "all negative", torch.randint(-100, 0, (n,), dtype=torch.int32, device="cuda", generator=gen)
    yield "zeros", torch.zeros(n, dtype=torch.int32, device="cuda")
    yield "extremes", torch.randint(i32.min, i32.max, (n,), dtype=torch.int32, device="cuda", generator=gen)


def main() -> int:
    import importlib.util

    import torch

    from scoring.kernel.reference import masked_prefix_sum_torch

    def load(path: Path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    reference = load(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "reference")
    scans = {
        "reference": reference.prefix_sum,
        "reference, tile counter order": lambda x: reference.masked_prefix_sum(x, ordered=True),
        "three-phase": load(REPO / "scoring" / "kernel" / "three_phase.py", "three_phase").prefix_sum,
    }
    gen = torch.Generator(device="cuda")
    gen.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    failures = 0
    for name, scan in scans.items():
        started = time.monotonic()
        checked = wrong = 0
        for n in SIZES:
            for shape, x in inputs(torch, n, gen):
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
            x = torch.randint(-10, 10, (SIZES[-1],), dtype=torch.int32, device="cuda", generator=gen)
            moving += not torch.equal(scan(x), masked_prefix_sum_torch(x))
        failures += wrong + moving
        print(f"{name}: {checked - wrong} of {checked} size/shape cases right; "
              f"{REPEATS_AT_FULL_SIZE - moving} of {REPEATS_AT_FULL_SIZE} fresh full-size inputs right "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    print("smoke: all right" if failures == 0 else f"smoke: {failures} wrong results", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
