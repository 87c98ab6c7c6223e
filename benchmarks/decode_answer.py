"""Decoding a candidate's answer frames: the C unpickler, and the strict decoder op by op and with runs.

    python benchmarks/decode_answer.py [--repeat 5] [--kinds floats_1e6,ints_mixed_1e6,...]

Every answer is pickled as the candidate's boot pickles it (("ok", value), protocol 5) and decoded, in
the same run, by: the C unpickler refusing every class (the scorer's decoder before the strict one
became its default: fast, but a hash bomb of a few hundred bytes stalls it for ever); the strict
decoder op by op (scoring.plain_pickle.decode_strict(runs=False): every opcode in Python, as the
kernel peer decoded until runs); and the strict decoder (runs of number opcodes handed whole to the
C unpickler). Prints the best of --repeat timings of each and the ratios to the C unpickler's time.
The kinds: long lists of floats and ints (each int distribution gives other opcodes: BININT1/2/4,
LONG1, mixed within one batch), the environments' answers, and for scale two kinds with no number
runs (pairs, strings), which the strict decoder still takes op by op. No GPU needed.
"""

from __future__ import annotations

import argparse
import io
import pickle
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.plain_pickle import decode_strict  # noqa: E402


class _CUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"answer refers to {module}.{name}")


def decode_c(data: bytes) -> Any:
    """The C unpickler refusing every class (what candidate.decode_answer was)."""
    return _CUnpickler(io.BytesIO(data)).load()


def answers(r: random.Random) -> dict[str, Any]:
    """Each kind's value, as a candidate's function would return it."""
    floats = lambda n: [r.uniform(-1e3, 1e3) for _ in range(n)]  # noqa: E731
    ops = {f"aten.{name}.default": r.randrange(1, 5000) for name in (
        "mm", "addmm", "bmm", "add", "mul", "relu", "view", "reshape", "permute", "transpose", "expand",
        "clone", "embedding", "t", "sum", "sub", "where", "gt", "clamp", "unsqueeze", "squeeze", "_to_copy")}
    return {
        "floats_1e5": floats(100_000),
        "floats_1e6": floats(1_000_000),
        "ints_range_1e6": list(range(1_000_000)),                                  # BININT1, then 2, then 4
        "ints_mixed_1e6": [r.randrange(1000) for _ in range(1_000_000)],          # BININT1 and 2, mixed
        "ints_signed_1e6": [r.randrange(-1000, 1000) for _ in range(1_000_000)],  # BININT1, 2 and 4, mixed
        "ints_32bit_1e6": [r.randrange(-2**31, 2**31) for _ in range(1_000_000)],
        "ints_64bit_1e5": [r.randrange(-2**63, 2**63) for _ in range(100_000)],   # LONG1 of 8 bytes
        "bools_1e6": [r.random() < 0.5 for _ in range(1_000_000)],
        "matrix_1000x1000": [floats(1000) for _ in range(1000)],                  # an array's tolist()
        "rolling_median (n 20000 window 1001)": floats(20_000 - 1001 + 1),
        "restricted_mlm record (batch 64)": {
            "type": "Tensor", "shape": [64, 64, 48], "dtype": "torch.float32", "logits": r.randbytes(64 * 64 * 48 * 4),
            "ops": ops, "escapes": [], "unchecked": [], "bitcasts": []},
        "weights (torch.save bytes 0.46 MB)": r.randbytes(460_000),
        "scaling_law run": {"run": [256, 12_000]},
        "scaling_law answer": {"answer": {"width": 256, "steps": 12_000, "predicted_loss": 3.2518}},
        "pairs_1e5 (no runs)": [(r.random(), r.random()) for _ in range(100_000)],
        "strings_1e5 (no runs)": [f"token{r.randrange(10**6)}" for _ in range(100_000)],
    }


def best_time(decode: Callable[[bytes], Any], data: bytes, repeat: int) -> float:
    """Seconds per decode: the best of `repeat` timings, each of enough decodes to last ~20 ms."""
    start = time.perf_counter()
    decode(data)
    number = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            decode(data)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all); see answers()")
    args = parser.parse_args()
    values = answers(random.Random(1))
    kinds = [k for k in args.kinds.split(",") if k] or list(values)
    unknown = sorted(set(kinds) - set(values))
    if unknown or args.repeat < 1:
        parser.error(f"--repeat >= 1 and kinds among {', '.join(values)}; unknown {unknown}")
    from benchmarks.machine import machine_line

    print("decoding answer frames (('ok', value), pickled with protocol 5 as the boot does); best of "
          f"{args.repeat}, per decode")
    print(machine_line())
    print(f"{'answer':40s} {'bytes':>10s} {'C':>10s} {'op by op':>10s} {'strict':>10s}  {'op/C':>6s} {'strict/C':>8s}")
    for kind in kinds:
        data = pickle.dumps(("ok", values[kind]), protocol=5)
        assert decode_strict(data) == decode_strict(data, runs=False) == decode_c(data)
        c, old, new = (best_time(f, data, args.repeat) for f in (decode_c, lambda d: decode_strict(d, runs=False),
                                                                 decode_strict))
        print(f"{kind:40s} {len(data):10,d} {_ms(c)} {_ms(old)} {_ms(new)}  {old / c:5.1f}x {new / c:7.1f}x")
    return 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:7.1f} µs"


if __name__ == "__main__":
    sys.exit(main())
