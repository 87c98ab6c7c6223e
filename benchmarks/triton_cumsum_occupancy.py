"""triton_cumsum's kernels compiled for an H100 (sm_90) without a GPU: registers, spills, occupancy.

    python benchmarks/triton_cumsum_occupancy.py [--out benchmarks/results]

A scan is memory-bound only if enough of its tiles are on the SMs at once to keep loads in flight
while other tiles scan and look back. Registers decide how many fit: this script compiles each
kernel with Triton's own compiler and ptxas (no GPU, no driver), reads the resources with
cuobjdump, and prints per configuration the registers per thread, local memory (spills), the
tiles an SM can hold (an H100 SM: 65,536 registers, 64 warps, 32 blocks, 228 KB shared memory)
and the bytes of input those tiles hold, and the vector width of the tile's loads.

Each kernel is compiled as the launch at n = 100,000,000 specializes it: pointers 16-byte aligned
and n divisible by 16 (without these hints Triton emits scalar loads and many more registers, so
a compile without them says little about the timed kernel). Times need a GPU:
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

from scoring.api import load_module  # noqa: E402

REGS_PER_SM, WARPS_PER_SM, BLOCKS_PER_SM, SHARED_PER_SM = 65536, 64, 32, 228 * 1024
CONFIGS = [(2048, 4), (4096, 4), (4096, 8), (8192, 8), (8192, 16), (16384, 16)]
PERSISTENT_CONFIGS = [(1024, 4), (2048, 4), (2048, 8), (4096, 4), (4096, 8)]
OPTION_CONFIGS = [(2048, 4), (2048, 8), (4096, 4), (4096, 8)]  # a one-warp look-back window; scans early; hints
CHUNKED_CONFIGS = [(1024, 4, 4), (2048, 4, 4), (2048, 8, 4), (4096, 4, 2)]  # (BLOCK, warps, CHUNK)
CHUNKED_SIGNATURE = {"x_ptr": "*i32", "y_ptr": "*i32", "state_ptr": "*i64", "n": "i32", "epoch": "i32",
                     "BLOCK": "constexpr", "CHUNK": "constexpr", "WINDOW": "constexpr"}
reference = load_module(REPO / "reference_solutions" / "triton_cumsum" / "solution.py", "occupancy_reference")
three = load_module(REPO / "scoring" / "kernel" / "three_phase.py", "occupancy_three_phase")


SCAN_SIGNATURE = {"x_ptr": "*i32", "y_ptr": "*i32", "state_ptr": "*i64", "counter_ptr": "*i64", "n": "i32",
                  "tiles": "i32", "base": "i64", "epoch": "i32", "BLOCK": "constexpr", "WINDOW": "constexpr",
                  "ORDERED": "constexpr", "PERSISTENT": "constexpr", "SCAN_EARLY": "constexpr",
                  "STREAMING": "constexpr"}


def resources(fn, signature: dict, constexprs: dict, warps: int) -> dict:
    """Compile for sm_90 as the launch at n = 1e8 specializes it; registers, local and shared bytes
    from cuobjdump, and the widest vector load in the PTX."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    # the launch's specialization: 16-byte aligned pointers, n divisible by 16 (base, epoch: not specialized)
    names = list(signature)
    attrs = {(names.index(name),): [["tt.divisibility", 16]] for name, kind in signature.items()
             if kind.startswith("*") or name == "n"}
    compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs),
                              target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    tools = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([str(tools / "cuobjdump"), "-res-usage", cubin.name], capture_output=True,
                               text=True, check=True).stdout
        sass = subprocess.run([str(tools / "cuobjdump"), "-sass", cubin.name], capture_output=True,
                              text=True, check=True).stdout
    found = re.search(r"REG:(\d+).*?SHARED:(\d+) LOCAL:(\d+)", usage)
    if not found:
        raise RuntimeError(f"cuobjdump printed no resource usage: {usage[-300:]}")
    regs, shared, local = map(int, found.groups())
    per_warp = 32 * -(-regs // 8) * 8  # registers are allocated per warp, 8 per thread at a time
    blocks = min(REGS_PER_SM // per_warp // warps, WARPS_PER_SM // warps, BLOCKS_PER_SM,
                 SHARED_PER_SM // max(shared, 1))
    ptx = compiled.asm["ptx"]
    width = "v4" if re.search(r"ld\.global\S*\.v4", ptx) else "v2" if re.search(r"ld\.global\S*\.v2", ptx) else "scalar"
    hints = [name for name, pattern in (("evict_last", r"ld\.global\S*evict_last"),
                                        ("evict_first", r"ld\.global\S*evict_first"), ("st.cs", r"st\.global\.cs"))
             if re.search(pattern, ptx)]
    # in the machine code: memory fences (each waits for all of a thread's outstanding memory
    # operations) and barriers between a program's warps (reductions, scans, broadcasts)
    return {"regs": regs, "local": local, "shared": shared, "blocks": blocks, "warps_per_sm": blocks * warps,
            "loads": width, "hints": hints, "fences": len(re.findall(r"\bMEMBAR\b", sass)), "barriers": sass.count("BAR.SYNC")}


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
             "kernel, BLOCK/warps: registers per thread, local (spill) bytes, shared bytes -> programs per SM "
             "(warps per SM), KB of input those programs hold (a persistent program holds twice as much: its "
             "current tile and the next one, loading); MEMBAR fences and BAR.SYNC barriers in the machine code"]
    print("\n".join(lines))
    rows = []
    for block, warps in CONFIGS:
        r = resources(reference._masked_scan_kernel, SCAN_SIGNATURE,
                      {"BLOCK": block, "WINDOW": 32 * warps, "ORDERED": False, "PERSISTENT": False,
                       "SCAN_EARLY": False, "STREAMING": False}, warps)
        rows.append(("reference", block, warps, r))
    for block, warps in PERSISTENT_CONFIGS:  # a tile per SM slot holds two tiles: current and prefetched
        r = resources(reference._masked_scan_kernel, SCAN_SIGNATURE,
                      {"BLOCK": block, "WINDOW": 32 * warps, "ORDERED": True, "PERSISTENT": True,
                       "SCAN_EARLY": False, "STREAMING": False}, warps)
        rows.append(("reference, persistent", block, warps, r))
    for label, window, early, streaming in (("reference, window 32", 32, False, False),
                                            ("reference, scan_early", 0, True, False),
                                            ("reference, streaming", 0, False, True)):
        for block, warps in OPTION_CONFIGS:
            r = resources(reference._masked_scan_kernel, SCAN_SIGNATURE,
                          {"BLOCK": block, "WINDOW": window or 32 * warps, "ORDERED": False, "PERSISTENT": False,
                           "SCAN_EARLY": early, "STREAMING": streaming}, warps)
            rows.append((label, block, warps, r))
    for block, warps, chunk in CHUNKED_CONFIGS:
        r = resources(reference._chunked_scan_kernel, CHUNKED_SIGNATURE,
                      {"BLOCK": block, "CHUNK": chunk, "WINDOW": 32 * warps}, warps)
        rows.append((f"reference, chunked x{chunk}", block, warps, r))
    three_jobs = [("three-phase: tile aggregates", three._tile_aggregates,
                   {"x_ptr": "*i32", "agg_c": "*i32", "agg_e": "*i32", "agg_o": "*i32", "n": "i32", "BLOCK": "constexpr"}),
                  ("three-phase: apply prefix", three._apply_prefix,
                   {"x_ptr": "*i32", "y_ptr": "*i32", "pre_q": "*i32", "pre_s": "*i32", "n": "i32", "BLOCK": "constexpr"})]
    for label, fn, signature in three_jobs:
        for block, warps in ((4096, 8), (8192, 8)):
            rows.append((label, block, warps, resources(fn, signature, {"BLOCK": block}, warps)))
    for label, block, warps, r in rows:
        line = (f"{label:30s} {block:5d}/{warps:<2d}: {r['regs']:3d} regs, local {r['local']}, shared {r['shared']:5d} "
                f"-> {r['blocks']:2d} programs/SM ({r['warps_per_sm']:2d} warps), "
                f"{r['blocks'] * block * 4 * (2 if 'persistent' in label else 1) // 1024:3d} KB; "  # a tile's, even chunked
                f"{r['loads']} loads{''.join(', ' + hint for hint in r['hints'])}; {r['fences']} fences, {r['barriers']} barriers")
        print(line)
        lines.append(line)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"triton_cumsum_occupancy_sm90_{dt.date.today().isoformat()}.txt"
    path.write_text("\n".join(lines) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
