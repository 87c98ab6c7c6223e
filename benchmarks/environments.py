"""Wall time and peak memory of scoring every environment's starting and reference solution.

For each environment (and variant), materializes the starting solution and the reference
solution and scores each with the real command line (`python -m console score SPEC PATH --json`:
runner, scorer and candidate processes, as in the console). Memory is sampled every 20 ms over
the whole process tree: the peak of the tree's summed RSS, and the largest single process.
A bare `python -c pass` is measured in the same run as a baseline.

    python benchmarks/environments.py                    # every environment, its default variant
    python benchmarks/environments.py --variant tiny     # the tiny variants (seconds each)
    python benchmarks/environments.py --env fix_embedding --env scaling_law --runs 3
    python benchmarks/environments.py --json out.json    # also write the figures as JSON

raw and normalized are medians over the valid runs (normalized with the calibration the
console would use: a measured one for this hardware if stored, else the manifest's).

Environments that need a GPU (or whose scoring is invalid here) are still measured; the
verdict column says what the scorer answered.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine_line  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root: int) -> list[int]:
    """root and all its descendants (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class TreeMemory:
    """Samples the summed and the largest RSS of a process tree until stopped."""

    def __init__(self, pid: int, every_s: float = 0.02):
        self.pid, self.every_s = pid, every_s
        self.peak_total = self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = [_rss(p) for p in _tree(self.pid)]
            if sizes:
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes))
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(cmd: list[str], env: dict) -> dict:
    """Run cmd; its wall time, peak tree memory and its JSON output (if any)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    mem = TreeMemory(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    mem.stop()
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        result = {"valid": False, "reason": "no_json", "message": (err or out).strip()[-300:]}
    return {"wall_s": wall, "peak_total_mb": mem.peak_total / 2**20, "peak_single_mb": mem.peak_single / 2**20,
            "valid": bool(result.get("valid")), "raw": result.get("raw"), "normalized": result.get("normalized"),
            "reason": result.get("reason") or "", "message": str(result.get("message", ""))[:160]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="environment name (repeatable; default: all)")
    parser.add_argument("--variant", help="variant to score (default: each environment's default)")
    parser.add_argument("--runs", type=int, default=1, help="scorings per solution (median reported)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()

    from environments.registry import load_registry, materialize_candidate

    registry = load_registry()
    names = args.env or sorted(registry.environments)
    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, REARENA_DATA_DIR=str(Path(tmp) / "data"))
        base = [measure([sys.executable, "-c", "pass"], env) for _ in range(3)]
        print(f"baseline `python -c pass`: {statistics.median(b['wall_s'] for b in base):.3f} s, "
              f"{statistics.median(b['peak_total_mb'] for b in base):.0f} MB")
        print(f"{'environment':<28} {'solution':<10} {'wall s':>8} {'tree MB':>8} {'max proc MB':>11}  "
              f"{'raw':>8} {'norm':>6}  verdict")
        for name in names:
            spec = f"{name}:{args.variant}" if args.variant else name
            try:
                env_obj, variant = registry.resolve(spec)
            except Exception as exc:  # an unknown name or variant: say so and go on
                print(f"{spec:<28} skipped: {exc}")
                continue
            spec = f"{name}:{variant.name}"
            for solution in ("starting", "reference"):
                cand = Path(tmp) / f"{name}-{variant.name}-{solution}"
                materialize_candidate(env_obj, variant.name, cand, with_reference=solution == "reference")
                runs = [measure([sys.executable, "-m", "console", "score", spec, str(cand), "--json"], env)
                        for _ in range(args.runs)]
                row = {"environment": spec, "solution": solution, "runs": runs,
                       "wall_s": statistics.median(r["wall_s"] for r in runs),
                       "peak_total_mb": max(r["peak_total_mb"] for r in runs),
                       "peak_single_mb": max(r["peak_single_mb"] for r in runs)}
                last = runs[-1]
                valid = [r for r in runs if r["valid"] and isinstance(r["raw"], (int, float))]
                verdict = (f"valid ({len(valid)}/{len(runs)})" if valid
                           else f"invalid: {last['reason']}: {last['message'][:60]}")
                raw = f"{statistics.median(r['raw'] for r in valid):.3f}" if valid else "-"
                norms = [r["normalized"] for r in valid if isinstance(r["normalized"], (int, float))]
                norm = f"{statistics.median(norms):.2f}" if norms else "-"
                if len(norms) > 1:
                    verdict += f", normalized {min(norms):.2f}..{max(norms):.2f}"
                print(f"{spec:<28} {solution:<10} {row['wall_s']:>8.2f} {row['peak_total_mb']:>8.0f} "
                      f"{row['peak_single_mb']:>11.0f}  {raw:>8} {norm:>6}  {verdict}", flush=True)
                rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
