"""Write sweep.json: the loss of every run of the lab's grids whose compute is within the largest budget.

It runs the pristine starting/lab.py (imported by path), one process per width, two at a time;
all step counts of a width train together (lab.train_many), each exactly as lab.train would.
sweep.json holds everything the scorer needs (grids, parameter counts, losses): scoring never
reads starting/ (the docker runner does not copy it). The result is deterministic (fixed seeds,
one thread per process); it takes about 4 minutes on two cores. Run with the repository's venv:

    .venv/bin/python environments/scaling_law/make_sweep.py [--budget 3e11] [--jobs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTING = HERE / "starting"
SWEEP = HERE / "sweep.json"
BUDGET = 3e11        # the largest budget C of any variant (environment.toml)
LAB_FILES = ("lab.py", "train.bin", "valid.bin")


def load_lab():
    """The participant-facing starting/lab.py, imported by path."""
    spec = importlib.util.spec_from_file_location("scaling_law_lab", STARTING / "lab.py")
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    return lab


def lab_digest() -> str:
    """sha256 over the files that decide every loss: the sweep is stale when this changes."""
    digest = hashlib.sha256()
    for name in LAB_FILES:
        digest.update(name.encode() + b"\0" + (STARTING / name).read_bytes())
    return digest.hexdigest()


def runs_within(lab, budget: float) -> dict[int, list[int]]:
    """{width: [steps...]} of every grid point with flops <= budget."""
    runs = {w: [s for s in lab.STEPS if lab.flops(w, s) <= budget] for w in lab.WIDTHS}
    return {w: steps for w, steps in runs.items() if steps}


def sweep_width(width: int, steps: list[int]) -> tuple[int, dict[int, float], float]:
    """Train every run of one width (in a worker process); returns (width, {steps: loss}, seconds)."""
    started = time.monotonic()
    losses = load_lab().train_many(width, steps)
    return width, losses, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=BUDGET)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    lab = load_lab()
    plan = runs_within(lab, args.budget)
    order = sorted(plan, key=lambda w: -max(plan[w]))  # longest first
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for width, losses, seconds in pool.map(sweep_width, order, [plan[w] for w in order]):
            print(f"width {width:3d}: {len(losses)} runs, up to {max(losses)} steps, {seconds:.0f} s", flush=True)
            rows += [{"width": width, "steps": s, "flops": lab.flops(width, s), "loss": round(loss, 6)}
                     for s, loss in sorted(losses.items())]
    rows.sort(key=lambda r: (r["width"], r["steps"]))
    SWEEP.write_text(json.dumps({
        "budget": args.budget, "widths": list(lab.WIDTHS), "steps": list(lab.STEPS),
        "params": {str(w): lab.n_params(w) for w in lab.WIDTHS}, "tokens_per_step": lab.TOKENS_PER_STEP,
        "lab_sha256": lab_digest(), "runs": rows,
    }, indent=1) + "\n")
    print(f"wrote {SWEEP} ({len(rows)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
