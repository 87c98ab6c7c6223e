"""triton_cumsum's kernels compiled for an H100 (sm_90) without a GPU: registers, spills, occupancy.

    python benchmarks/triton_cumsum_occupancy.py [--out benchmarks/results]

A scan is memory-bound only if enough of its tiles are on the SMs at once to keep loads in flight
while other tiles scan and look back. Registers decide how many fit: this script compiles each
kernel with Triton's own compiler and ptxas (no GPU, no driver), reads the resources with
cuobjdump, and prints per configuration the registers per thread, local memory (spills), the
tiles an SM can hold (an H100 SM: 65,536 registers, 64 warps, 32 blocks, 228 KB shared memory)
and the bytes of input those tiles hold.

The baseline, compiled in the same run, is the reference's previous layout: 64-bit offsets and a
64-bit mask per element (its tile code is the reference's own `_scan_tile`). Times need a GPU:
benchmarks/triton_cumsum.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from scoring.api import load_module  # noqa: E402

REGS_PER_SM, WARPS_PER_SM, BLOCKS_PER_SM, SHARED_PER_SM = 65536, 64, 32, 228 * 1024
CONFIGS = [(2048, 4), (4096, 4), (4096, 8), (8192, 8), (8192, 16), (16384, 16)]
reference = load_module(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "occupancy_reference")
three = load_module(REPO / "scoring" / "kernel" / "three_phase.py", "occupancy_three_phase")
_scan_tile = reference._scan_tile  # a global of this module, so the baseline kernel can call it


@triton.jit
def _baseline_kernel(x_ptr, y_ptr, state_ptr, counter_ptr, n, base, epoch, BLOCK: tl.constexpr,
                     WINDOW: tl.constexpr, ORDERED: tl.constexpr = True):
    """The reference's tile code behind its previous addressing: a 64-bit offset and mask per element."""
    tile = tl.program_id(0)
    offs = tile.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0)
    _scan_tile(y_ptr, state_ptr, x, offs, mask, tile, epoch, WINDOW)


SCAN_SIGNATURE = {"x_ptr": "*i32", "y_ptr": "*i32", "state_ptr": "*i64", "counter_ptr": "*i64", "n": "i32",
                  "base": "i64", "epoch": "i32", "BLOCK": "constexpr", "WINDOW": "constexpr", "ORDERED": "constexpr"}


def resources(fn, signature: dict, constexprs: dict, warps: int) -> dict:
    """Compile for sm_90; registers, local and shared bytes from cuobjdump."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                              target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    tools = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([str(tools / "cuobjdump"), "-res-usage", cubin.name], capture_output=True,
                               text=True, check=True).stdout
    found = re.search(r"REG:(\d+).*?SHARED:(\d+) LOCAL:(\d+)", usage)
    if not found:
        raise RuntimeError(f"cuobjdump printed no resource usage: {usage[-300:]}")
    regs, shared, local = map(int, found.groups())
    per_warp = 32 * -(-regs // 8) * 8  # registers are allocated per warp, 8 per thread at a time
    blocks = min(REGS_PER_SM // per_warp // warps, WARPS_PER_SM // warps, BLOCKS_PER_SM,
                 SHARED_PER_SM // max(shared, 1))
    return {"regs": regs, "local": local, "shared": shared, "blocks": blocks, "warps_per_sm": blocks * warps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump").exists():
        print("this Triton has no CUDA tools (cuobjdump) to compile and inspect with", file=sys.stderr)
        return 2
    from benchmarks.machine import machine_line

    lines = [f"triton_cumsum kernels compiled for sm_90 (H100), {dt.date.today().isoformat()}; triton "
             f"{triton.__version__}", machine_line(), "",
             "kernel, BLOCK/warps: registers per thread, local (spill) bytes, shared bytes -> tiles per SM "
             "(warps per SM), KB of input on an SM"]
    print("\n".join(lines))
    rows = []
    for label, fn in (("reference", reference._masked_scan_kernel), ("baseline: 64-bit offsets", _baseline_kernel)):
        for block, warps in CONFIGS:
            r = resources(fn, SCAN_SIGNATURE, {"BLOCK": block, "WINDOW": 32 * warps, "ORDERED": False}, warps)
            rows.append((label, block, warps, r))
    three_jobs = [("three-phase: tile aggregates", three._tile_aggregates,
                   {"x_ptr": "*i32", "agg_c": "*i32", "agg_e": "*i32", "agg_o": "*i32", "n": "i32", "BLOCK": "constexpr"}),
                  ("three-phase: apply prefix", three._apply_prefix,
                   {"x_ptr": "*i32", "y_ptr": "*i32", "pre_q": "*i32", "pre_s": "*i32", "n": "i32", "BLOCK": "constexpr"})]
    for label, fn, signature in three_jobs:
        for block, warps in ((4096, 8), (8192, 8)):
            rows.append((label, block, warps, resources(fn, signature, {"BLOCK": block}, warps)))
    baseline = {(b, w): r for label, b, w, r in rows if label.startswith("baseline")}
    for label, block, warps, r in rows:
        extra = ""
        if label == "reference":
            base = baseline[(block, warps)]
            extra = f"   ({r['blocks'] / base['blocks']:.1f}x the baseline's tiles per SM)" if base["blocks"] else ""
        line = (f"{label:30s} {block:5d}/{warps:<2d}: {r['regs']:3d} regs, local {r['local']}, shared {r['shared']:5d} "
                f"-> {r['blocks']:2d} tiles/SM ({r['warps_per_sm']:2d} warps), {r['blocks'] * block * 4 // 1024:3d} KB"
                + extra)
        print(line)
        lines.append(line)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"triton_cumsum_occupancy_sm90_{dt.date.today().isoformat()}.txt"
    path.write_text("\n".join(lines) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
