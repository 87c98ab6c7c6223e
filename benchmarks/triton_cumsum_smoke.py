"""Are the Triton scans right on this GPU, and do they finish? Run before timing anything.

    python benchmarks/triton_cumsum_smoke.py [--first K] [--list]

Checks every configuration that benchmarks/triton_cumsum.py times (benchmarks/triton_cumsum_sweep.py
smoke_rows: the reference solution as the scorer runs it, then every row of the sweep) against the
trusted int64 torch result at sizes 1 .. 100,000,000 on every kind of data the scorer draws
(scoring/kernel/inputs.py), then 20 more times at the full size on fresh inputs (a race shows as an
error that moves between runs). `--first K` starts at row K; `--list` prints the rows and exits.

Around each row it prints `@@ begin K` and `@@ end K <verdict>`: benchmarks/triton_cumsum.py runs it
through triton_cumsum_sweep.run_smoke, which kills it when a row takes longer than its limit (a kernel
that never finishes: no forward progress between tiles) and starts it again from the next row.
Exit status 0 when every row it ran matched, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.pop("TRITON_INTERPRET", None)

from benchmarks.triton_cumsum_sweep import BEGIN, END, READY, RIGHT, WRONG, scan, smoke_rows  # noqa: E402

SIZES = [1, 2, 1000, 8191, 8192, 8193, 1_000_003, 100_000_000]
REPEATS_AT_FULL_SIZE = 20


def check_row(torch, row_scan, gen, kinds, fill, expected_of) -> tuple[int, int, int]:
    """(cases, wrong cases, wrong fresh full-size inputs) of one configuration."""
    checked = wrong = 0
    for n in SIZES:
        for kind in kinds:  # the scorer's own kinds of data (random, all positive/negative, extremes...)
            x = torch.empty(n, dtype=torch.int32, device="cuda")
            fill(x, gen, kind)
            y = row_scan(x)
            torch.cuda.synchronize()
            if not torch.equal(y, expected_of(x)):
                wrong += 1
                print(f"   WRONG at n={n:,} ({kind})", flush=True)
            checked += 1
    moving = 0
    for _ in range(REPEATS_AT_FULL_SIZE):
        x = torch.empty(SIZES[-1], dtype=torch.int32, device="cuda")
        fill(x, gen, "env")
        moving += not torch.equal(row_scan(x), expected_of(x))
    return checked, wrong, moving


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=0, help="the row to start at (0: the first)")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    args = parser.parse_args()
    rows = smoke_rows()
    if args.list:
        for index, row in enumerate(rows):
            print(index, row.label.strip())
        return 0
    import torch

    from scoring.api import load_module as load
    from scoring.kernel.inputs import KINDS, fill_torch
    from scoring.kernel.reference import masked_prefix_sum_torch

    reference = load(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "reference")
    three_phase = load(REPO / "scoring" / "kernel" / "three_phase.py", "three_phase")
    gen = torch.Generator(device="cuda")
    gen.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    print(READY, flush=True)
    failures = 0
    for index in range(args.first, len(rows)):
        row = rows[index]
        print(f"{BEGIN} {index}", flush=True)
        started = time.monotonic()
        try:
            checked, wrong, moving = check_row(torch, scan(row, reference, three_phase), gen, KINDS, fill_torch,
                                               masked_prefix_sum_torch)
        except Exception as exc:  # the CUDA context may be lost: the watchdog starts a fresh process after it
            print(f"{row.label.strip()}: FAILED: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
            return 4
        failures += wrong + moving
        print(f"{row.label.strip()}: {checked - wrong} of {checked} size/shape cases right; "
              f"{REPEATS_AT_FULL_SIZE - moving} of {REPEATS_AT_FULL_SIZE} fresh full-size inputs right "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        print(f"{END} {index} {RIGHT if wrong + moving == 0 else WRONG}", flush=True)
    print("smoke: all right" if failures == 0 else f"smoke: {failures} wrong results", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
