"""Scorer of the scaling_law environment: an interactive lab run by the scorer.

The candidate's `solution.py:next_step(history, budget)` is called again and again. It answers
{"run": [width, steps]} to make one small experiment (each at most budget["run_cap"] = C / 50 FLOPs;
its loss is looked up in the hidden sweep, the value the participant's lab.train(width, steps)
computes, and appended to the history) or {"answer": {"width", "steps", "predicted_loss"}} to end:
the run it would train with the whole budget C, and the loss it predicts for it.

raw = (loss of the chosen run - best loss of any run within C) + |predicted_loss - loss of the
chosen run|, from the sweep; lower is better. Scoring is lookups: seconds, whatever the variant.

next_step must decide, not train: after every reply the CPU time of everything the candidate started
(its process tree, its own PID namespace where it is confined, its process group: scoring/cpu_usage.py)
is read from /proc and must stay under cpu_limit_s, so that runs over the cap cannot be trained inside
scoring (the best run at C alone costs about 5 CPU seconds).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from scoring.api import Invalid, ScoringContext

HERE = Path(__file__).resolve().parent
SWEEP = HERE / "sweep.json"
ENTRY_FILE, ENTRY_FUNCTION = "solution.py", "next_step"
FLOPS_FORMULA = "6 * params[width] * steps * tokens_per_step"


class Sweep:
    """The hidden sweep (made by make_sweep.py from starting/lab.py): grids, parameter counts, losses.

    Scoring reads only this file, never starting/ (which the docker runner leaves out).
    """

    def __init__(self, data: dict):
        self.budget = float(data["budget"])
        self.widths = tuple(data["widths"])
        self.steps = tuple(data["steps"])
        self.params = {int(w): int(n) for w, n in data["params"].items()}
        self.tokens_per_step = int(data["tokens_per_step"])
        self.losses = {(r["width"], r["steps"]): float(r["loss"]) for r in data["runs"]}

    def flops(self, width: int, steps: int) -> float:
        """The lab's FLOP count, as lab.flops computes it."""
        return 6.0 * self.params[width] * steps * self.tokens_per_step


def load_sweep(budget: float) -> Sweep:
    """The sweep, refused when it does not cover every run within this budget."""
    sweep = Sweep(json.loads(SWEEP.read_text()))
    missing = [(w, s) for w in sweep.widths for s in sweep.steps
               if sweep.flops(w, s) <= budget and (w, s) not in sweep.losses]
    if missing:
        raise RuntimeError(f"scaling_law: sweep.json ({sweep.budget:.3g} FLOPs) lacks {len(missing)} runs within "
                           f"the variant's budget {budget:.3g}, e.g. {missing[0]}; "
                           f"run make_sweep.py --budget {budget:.3g}")
    return sweep


def _params(ctx: ScoringContext) -> tuple[float, float, int, float, float]:
    try:
        budget = float(ctx.params["budget"])
        divisor = float(ctx.params["cap_divisor"])
        max_runs = int(ctx.params["max_runs"])
        call_timeout = float(ctx.params["call_timeout_s"])
        cpu_limit = float(ctx.params["cpu_limit_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"scaling_law variant {ctx.variant!r} needs params budget, cap_divisor, max_runs, "
                         f"call_timeout_s, cpu_limit_s; got {ctx.params!r} ({exc})") from None
    if not (budget > 0 and divisor >= 1 and max_runs >= 1 and call_timeout > 0 and cpu_limit > 0):
        raise ValueError(f"scaling_law variant {ctx.variant!r}: budget > 0, cap_divisor >= 1, max_runs >= 1, "
                         f"call_timeout_s > 0 and cpu_limit_s > 0 are required; got {ctx.params!r}")
    return budget, budget / divisor, max_runs, call_timeout, cpu_limit


def check_cpu(cand, cpu_limit: float, where: str, reaper: bool = False) -> float:
    """The candidate's CPU seconds so far; too_much_compute when over the limit (no training in next_step).

    Everything it started counts (scoring/cpu_usage.py): its process tree, its own PID namespace where
    it is confined, its process group, and in scoring.host's process (`reaper`, a child subreaper with
    no other children) the orphans re-parented to it.
    """
    used = cand.cpu_seconds(adopted_by=os.getpid() if reaper else None)
    if used > cpu_limit:
        raise Invalid(f"{where}: the candidate's processes used {used:.1f} CPU seconds, over the limit of "
                      f"{cpu_limit:g} s: next_step must decide from the lab's runs, not train models itself",
                      reason="too_much_compute", details={"cpu_s": used, "cpu_limit_s": cpu_limit})
    return used


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _on_grid(sweep: Sweep, width: Any, steps: Any, what: str) -> tuple[int, int]:
    """(width, steps) as ints; malformed_answer when not integers, off_grid when not on the grids."""
    if not (_is_int(width) and _is_int(steps)):
        raise Invalid(f"{what}: width and steps must be integers, got {_short(width)} and {_short(steps)}",
                      reason="malformed_answer")
    if width not in sweep.widths:
        raise Invalid(f"{what}: width {width} is not on the grid of widths {list(sweep.widths)}", reason="off_grid")
    if steps not in sweep.steps:
        raise Invalid(f"{what}: steps {steps} is not on the grid of step counts {list(sweep.steps)}",
                      reason="off_grid")
    return width, steps


def parse_reply(reply: Any, where: str) -> tuple[str, Any]:
    """("run", [w, s]) or ("answer", {...}); malformed_answer names what is wrong."""
    if not isinstance(reply, dict) or len(reply) != 1 or next(iter(reply)) not in ("run", "answer"):
        raise Invalid(f"{where}: expected a dict with exactly one key, 'run' or 'answer'; got {_short(reply)}",
                      reason="malformed_answer")
    kind, value = next(iter(reply.items()))
    if kind == "run" and not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise Invalid(f"{where}: 'run' must be [width, steps]; got {_short(value)}", reason="malformed_answer")
    if kind == "answer":
        keys = {"width", "steps", "predicted_loss"}
        if not isinstance(value, dict) or set(value) != keys:
            got = sorted(map(str, value)) if isinstance(value, dict) else type(value).__name__
            raise Invalid(f"{where}: 'answer' must be a dict with exactly the keys width, steps, predicted_loss; "
                          f"got {got}", reason="malformed_answer")
    return kind, value


def check_prediction(value: Any) -> float:
    """The predicted loss as a float; bad_prediction when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"answer: predicted_loss must be a finite number, got {_short(value)}", reason="bad_prediction")
    return float(value)


def score(ctx: ScoringContext) -> dict:
    budget, cap, max_runs, call_timeout, cpu_limit = _params(ctx)
    sweep = load_sweep(budget)
    losses = sweep.losses
    within = {k: v for k, v in losses.items() if sweep.flops(*k) <= budget}
    best_point = min(within, key=within.get)
    offer = {
        "compute": budget, "run_cap": cap, "max_runs": max_runs, "widths": list(sweep.widths),
        "steps": list(sweep.steps), "params": dict(sweep.params), "tokens_per_step": sweep.tokens_per_step,
        "flops_formula": FLOPS_FORMULA, "cpu_limit_s": cpu_limit,
    }
    history: list[dict] = []
    with ctx.candidate(ENTRY_FILE, ENTRY_FUNCTION, tripwire=True) as cand:
        while True:
            where = f"reply {len(history) + 1} of next_step"
            reply = cand.call([dict(r) for r in history], {**offer, "runs_left": max_runs - len(history)},
                              timeout=min(call_timeout, ctx.remaining()))
            cpu = check_cpu(cand, cpu_limit, where, reaper=ctx.reaper)
            kind, value = parse_reply(reply, where)
            if kind == "answer":
                break
            width, steps = _on_grid(sweep, *value, what=f"{where}, run")
            flops = sweep.flops(width, steps)
            if flops > cap:
                raise Invalid(f"{where}: run width {width}, {steps} steps needs {flops:.4g} FLOPs, over the lab's "
                              f"cap of {cap:.4g} (budget / {budget / cap:g})", reason="compute_cap_exceeded")
            if len(history) >= max_runs:
                raise Invalid(f"{where}: asked for run {len(history) + 1}, but the lab allows {max_runs} runs; "
                              "answer instead", reason="too_many_runs")
            history.append({"width": width, "steps": steps, "flops": flops, "loss": losses[(width, steps)]})
            ctx.log(f"run {len(history)}: width {width}, {steps} steps, {flops:.3g} FLOPs "
                    f"-> loss {history[-1]['loss']:.4f}")
    width, steps = _on_grid(sweep, value["width"], value["steps"], what="answer")
    flops = sweep.flops(width, steps)
    if flops > budget:
        raise Invalid(f"answer: width {width}, {steps} steps needs {flops:.4g} FLOPs, over the budget of "
                      f"{budget:.4g}", reason="over_budget")
    predicted = check_prediction(value["predicted_loss"])
    true_loss, best_loss = within[(width, steps)], within[best_point]
    regret, error = true_loss - best_loss, abs(predicted - true_loss)
    return {
        "raw": regret + error,
        "message": (f"chose width {width}, {steps} steps: loss {true_loss:.4f} (best within the budget "
                    f"{best_loss:.4f}, regret {regret:.4f}); predicted {predicted:.4f} (error {error:.4f}); "
                    f"{len(history)} runs"),
        "details": {
            "width": width, "steps": steps, "flops": flops, "loss": true_loss, "predicted_loss": predicted,
            "regret": regret, "prediction_error": error, "best": {"width": best_point[0], "steps": best_point[1],
                                                                  "loss": best_loss},
            "budget": budget, "run_cap": cap, "candidate_cpu_s": cpu, "runs": len(history),
            "lab_flops": sum(r["flops"] for r in history), "history": history,
        },
    }
