"""Compile the Triton kernels of triton_cumsum for an H100 (sm_90) without a GPU, with Triton's ptxas.

Run by test_triton_cumsum_kernels.py in a process without TRITON_INTERPRET (the interpreter never
compiles). Exit 0 when every kernel compiled, 3 when this Triton has no CUDA backend to compile with.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.pop("TRITON_INTERPRET", None)
sys.dont_write_bytecode = True


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
    except Exception as exc:  # pragma: no cover
        print(f"no Triton compiler here: {exc}")
        return 3
    target = GPUTarget("cuda", 90, 32)
    reference = load(ROOT / "reference_solutions" / "triton_cumsum" / "solution.py", "ref_solution")
    three = load(ROOT / "scoring" / "kernel" / "three_phase.py", "three_phase")
    jobs = [
        *[(reference._masked_scan_kernel, {"x_ptr": "*i32", "y_ptr": "*i32", "state_ptr": "*i64", "counter_ptr": "*i64",
                                           "n": "i32", "tiles": "i32", "base": "i64", "epoch": "i32", "BLOCK": "constexpr",
                                           "WINDOW": "constexpr", "ORDERED": "constexpr", "PERSISTENT": "constexpr",
                                           "SCAN_EARLY": "constexpr", "STREAMING": "constexpr"},
           {"BLOCK": reference.BLOCK_CUDA, "WINDOW": window or 32 * reference.WARPS_CUDA, "ORDERED": persistent,
            "PERSISTENT": persistent, "SCAN_EARLY": early, "STREAMING": streaming}, reference.WARPS_CUDA)
          for persistent, early, window, streaming in ((False, False, 0, False), (True, False, 0, True),
                                                       (False, True, 32, False), (False, False, 0, True))],
        (reference._chunked_scan_kernel, {"x_ptr": "*i32", "y_ptr": "*i32", "state_ptr": "*i64", "n": "i32",
                                          "epoch": "i32", "BLOCK": "constexpr", "CHUNK": "constexpr",
                                          "WINDOW": "constexpr"},
         {"BLOCK": 2048, "CHUNK": 4, "WINDOW": 128}, 4),
        (three._tile_aggregates, {"x_ptr": "*i32", "agg_c": "*i32", "agg_e": "*i32", "agg_o": "*i32", "n": "i32",
                                  "BLOCK": "constexpr"}, {"BLOCK": 4096}, 8),
        (three._scan_aggregates, {"agg_c": "*i32", "agg_e": "*i32", "agg_o": "*i32", "pre_q": "*i32",
                                  "pre_s": "*i32", "tiles": "i32", "CHUNK": "constexpr"}, {"CHUNK": 1024}, 8),
        (three._apply_prefix, {"x_ptr": "*i32", "y_ptr": "*i32", "pre_q": "*i32", "pre_s": "*i32", "n": "i32",
                               "BLOCK": "constexpr"}, {"BLOCK": 4096}, 8),
    ]
    for fn, signature, constexprs, warps in jobs:
        try:
            compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs), target=target,
                                      options={"num_warps": warps})
        except FileNotFoundError as exc:  # no ptxas in this Triton build
            print(f"cannot compile for sm_90 here: {exc}")
            return 3
        assert "cubin" in compiled.asm, fn.__name__
        ptx = compiled.asm["ptx"]
        if "STREAMING" in constexprs:  # the cache hints are in the code exactly when asked for, each of them
            for hint in ("evict_first", "st.global.cs"):
                assert (hint in ptx) == constexprs["STREAMING"], (fn.__name__, hint, constexprs)
        if fn is reference._chunked_scan_kernel:  # the chunked scan keeps its first pass in the L2 and streams the rest
            assert all(hint in ptx for hint in ("evict_last", "evict_first", "st.global.cs")), fn.__name__
        print(f"compiled {fn.__name__} for sm_90: {len(compiled.asm['cubin'])} bytes of cubin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
