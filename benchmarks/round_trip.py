"""The kernel protocol's round trip on this machine, with both ends blocking or polling.

    python benchmarks/round_trip.py [--calls 2000] [--gaps 0,2,10] [--pin-runs 8 | --blocks 8]

On a GPU every timed call's interval includes two pipe hand-offs: the scorer's request waking the
peer's process, and the answer waking the scorer. A process blocked in read() or select() is woken
by the kernel, which in a virtual machine (Firecracker here and on the lent H100) can cost ~0.1 ms
and varies from call to call and from process to process. scoring/kernel/peer.py makes both ends
poll for up to SPIN_S before blocking on the GPU path.

This script starts the real kernel boot (scoring/kernel/boot.py) in the interpreter mode with the
trusted copy solution, sends `ping` requests through the real CandidateProcess, and times each
round trip with perf_counter, with a busy gap between requests as the harness's checks make:
median, p10, p90, p99 (µs) and the ratio of blocking to polling, measured in the same run.
With --pin-runs N it instead starts N fresh peers each way, alternately left to the scheduler and
pinned (this process on one CPU, the peer on another, as the scorer's `pin_cpus` does on the GPU
path), and prints each peer's median and the coefficient of variation of those medians: the
scorer's run-to-run spread is such a level moving from one fresh set of processes to the next.
With --blocks N it times one peer in N consecutive blocks, then N fresh peers: whether a level
belongs to the process or to the moment.
No GPU needed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring.api import ScoringContext  # noqa: E402
from scoring.kernel.cpus import Pinned  # noqa: E402
from scoring.kernel.peer import PEERS_DIR, KernelPeer  # noqa: E402


def round_trips(folder: Path, spin: bool, calls: int, gap_s: float, peer_cpus: frozenset[int] | None = None,
                harness_cpus: frozenset[int] | None = None) -> list[float]:
    peer = _start_peer(folder, spin, peer_cpus)
    try:
        with Pinned(harness_cpus):
            return _timed(peer, calls, gap_s)
    finally:
        peer.close()


def _start_peer(folder: Path, spin: bool, cpus: frozenset[int] | None = None) -> KernelPeer:
    """The real kernel boot with the trusted copy solution, in the interpreter mode."""
    ctx = ScoringContext(environment="round_trip", variant="bench", params={}, candidate_dir=folder,
                         deadline=time.monotonic() + 600, rng=random.Random(1))
    return KernelPeer(ctx, folder, "copy_solution.py", "prefix_sum", "cpu", trusted=True, spin=spin, cpus=cpus)


def _timed(peer: KernelPeer, calls: int, gap_s: float) -> list[float]:
    for _ in range(20):  # warm-up
        peer.op("ping", timeout=30)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        peer.op("ping", timeout=30)
        times.append((time.perf_counter() - start) * 1e6)
        end = time.perf_counter() + gap_s
        while time.perf_counter() < end:  # the harness busy between calls (its checks)
            pass
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"median": statistics.median(ordered), "p10": pick(0.10), "p90": pick(0.90), "p99": pick(0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--gaps", default="0,2,10", help="busy milliseconds between requests, comma-separated")
    parser.add_argument("--pin-runs", type=int, default=0,
                        help="instead: this many fresh peers per way, polling, alternately not pinned and pinned (the "
                             "scorer and the peer on CPUs of their own, as pin_cpus does), and the CV of their medians")
    parser.add_argument("--blocks", type=int, default=0,
                        help="instead: one polling peer timed in this many consecutive blocks of --calls, then as many "
                             "fresh peers: does a level belong to the process or to the moment?")
    args = parser.parse_args()
    try:
        gaps = [float(g) / 1e3 for g in args.gaps.split(",") if g.strip()]
    except ValueError:
        parser.error(f"--gaps takes milliseconds separated by commas, got {args.gaps!r}")
    if args.calls < 10 or not gaps or min(gaps) < 0:
        parser.error("need --calls >= 10 and gaps >= 0")
    if args.pin_runs and args.blocks or min(args.pin_runs, args.blocks) < 0 or 1 in (args.pin_runs, args.blocks):
        parser.error("--pin-runs and --blocks take 2 or more (a spread needs two medians), and one at a time")
    from benchmarks.machine import machine_line

    print(f"kernel protocol round trip (ping through scoring/kernel/boot.py), {args.calls} calls per row")
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy2(PEERS_DIR / "copy_solution.py", folder / "copy_solution.py")
        if args.pin_runs:
            return pin_runs(folder, args.pin_runs, args.calls, gaps)
        if args.blocks:
            return blocks(folder, args.blocks, args.calls, gaps)
        for gap in gaps:
            rows = {spin: summary(round_trips(folder, spin, args.calls, gap)) for spin in (False, True)}
            for spin, row in rows.items():
                print(f"gap {gap * 1e3:4.0f} ms, {'polling' if spin else 'blocking'}: median {row['median']:7.1f} µs, "
                      f"p10 {row['p10']:7.1f}, p90 {row['p90']:7.1f}, p99 {row['p99']:7.1f}")
            block, poll = rows[False], rows[True]
            print(f"   blocking / polling: median {block['median'] / poll['median']:.1f}x, "
                  f"p90 - p10 spread {(block['p90'] - block['p10']) / max(poll['p90'] - poll['p10'], 1e-9):.1f}x")
    return 0


def blocks(folder: Path, count: int, calls: int, gaps: list[float]) -> int:
    from scoring.kernel.stats import coefficient_of_variation

    for gap in gaps:
        peer = _start_peer(folder, True)
        try:
            same = [statistics.median(_timed(peer, calls, gap)) for _ in range(count)]
        finally:
            peer.close()
        fresh = [statistics.median(round_trips(folder, True, calls, gap)) for _ in range(count)]
        for label, values in (("one peer, consecutive blocks", same), ("fresh peers", fresh)):
            print(f"gap {gap * 1e3:4.0f} ms, {label:28s}: medians " + " ".join(f"{v:6.1f}" for v in values)
                  + f" µs; CV {coefficient_of_variation(values):.1%}")
    return 0


def pin_runs(folder: Path, runs: int, calls: int, gaps: list[float]) -> int:
    """Fresh peers (as each scoring starts its own), alternately not pinned and pinned: the median of
    each, and the coefficient of variation of those medians (the scorer's run-to-run spread comes
    from such levels)."""
    import os

    from scoring.kernel.stats import coefficient_of_variation

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("pinning needs 2 CPUs")
        return 2
    harness, peer = frozenset({cpus[-1]}), frozenset({cpus[0]})
    print(f"{runs} fresh peers per way, polling; pinned: this process on CPU {cpus[-1]}, the peer on CPU {cpus[0]}")
    for gap in gaps:
        medians: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(runs):
            for pinned in (False, True):
                times = round_trips(folder, True, calls, gap, peer if pinned else None, harness if pinned else None)
                medians[pinned].append(statistics.median(times))
        for pinned, values in medians.items():
            print(f"gap {gap * 1e3:4.0f} ms, {'pinned    ' if pinned else 'not pinned'}: medians "
                  + " ".join(f"{v:6.1f}" for v in values)
                  + f" µs; CV {coefficient_of_variation(values):.1%}, mean {statistics.fmean(values):.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
