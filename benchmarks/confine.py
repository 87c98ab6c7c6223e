"""What confining a candidate costs at its start (scoring/confine.py; root only).

Starts a trivial tripwire candidate (`ctx.candidate(..., tripwire=True)`, one call) many times in
three ways, alternated in the same run: confined as on the CPU path (own PID and network
namespaces, read-only file system, uid 65534, a private /dev), confined as on the GPU path (mount namespace and dropped
capabilities only), and not confined (the tripwire alone). Prints the median start-to-answer
time of each and the differences.

    python benchmarks/confine.py [--runs 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from scoring import confine
    from scoring.api import ScoringContext

    print(machine_line())
    if not confine.available():
        print("confinement is not available here (needs root, unshare, setpriv): nothing to measure")
        return 2
    folders = {}  # a folder per way: the CPU path's candidate owns its folder after (confine.USER)
    real_wrap, real_available = confine.wrap, confine.available
    modes = {
        "tripwire only": lambda argv, off, **where: argv,
        "confined, GPU path": lambda argv, off, pieces=None, **where: real_wrap(argv, off, pieces=confine.GPU_PATH,
                                                                                **where),
        "confined, CPU path": lambda argv, off, pieces=None, **where: real_wrap(argv, off, pieces=confine.CPU_PATH,
                                                                                **where),
    }
    for name in modes:
        folders[name] = Path(tempfile.mkdtemp(prefix="rearena-confine-bench-"))
        (folders[name] / "solution.py").write_text("def f(x):\n    return x\n")
    times: dict[str, list[float]] = {name: [] for name in modes}
    try:
        for _ in range(args.runs):
            for name, wrap in modes.items():
                confine.wrap = wrap
                ctx = ScoringContext(environment="bench", variant="tiny", params={}, candidate_dir=folders[name],
                                     deadline=time.monotonic() + 60, rng=random.Random(1))
                started = time.perf_counter()
                with ctx.candidate("solution.py", "f", tripwire=True) as proc:
                    assert proc.call(1, timeout=30) == 1
                times[name].append((time.perf_counter() - started) * 1e3)
    finally:
        confine.wrap, confine.available = real_wrap, real_available
    base = statistics.median(times["tripwire only"])
    print(f"start of a tripwire candidate and one call, median of {args.runs} (alternated):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:20s} {median:7.1f} ms  (+{median - base:5.1f} ms; range {min(values):.1f}-{max(values):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
