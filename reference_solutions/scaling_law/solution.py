"""Scaling law experiment: the reference solution.

Plan: run each of the lab's mid-sized widths at the longest step count the cap allows and at half
of it (two points per width, up to the run limit), fit L(N, D) = E + A / N**alpha + B / D**beta
(N parameters, D training tokens) by least squares, and answer the grid point on the budget with
the lowest fitted loss, predicting that fitted loss.

The fit is a grid search over (alpha, beta); for each pair the loss is linear in (E, A, B), solved
with numpy's least squares. Only numpy; no run larger than the cap is ever made.
"""

from __future__ import annotations

import numpy as np

FIT_WIDTHS = (4, 6, 8, 12, 16, 24)   # widths that can train long enough under the cap to show a trend


def plan(budget: dict) -> list[tuple[int, int]]:
    """The runs to make, most informative first: (width, longest steps under the cap), then half of it."""
    runs, halves = [], []
    for width in FIT_WIDTHS:
        fitting = [s for s in budget["steps"] if run_flops(budget, width, s) <= budget["run_cap"]]
        if not fitting:
            continue
        runs.append((width, fitting[-1]))
        if len(fitting) >= 3:
            halves.append((width, fitting[-3]))
    return (runs + halves)[: budget["max_runs"]]


def run_flops(budget: dict, width: int, steps: int) -> float:
    """The lab's FLOP count: 6 * parameters * tokens."""
    return 6.0 * budget["params"][width] * steps * budget["tokens_per_step"]


def fit(history: list[dict], budget: dict) -> tuple[float, float, float, float, float]:
    """(E, A, alpha, B, beta) of the least-squares fit of L = E + A / N**alpha + B / D**beta."""
    n = np.array([budget["params"][r["width"]] for r in history], dtype=float)
    d = np.array([r["steps"] * budget["tokens_per_step"] for r in history], dtype=float)
    loss = np.array([r["loss"] for r in history], dtype=float)
    best = None
    for alpha in np.linspace(0.05, 2.0, 40):
        for beta in np.linspace(0.05, 2.0, 40):
            design = np.stack([np.ones_like(n), n ** -alpha, d ** -beta], axis=1)
            coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
            if coef.min() < 0:
                continue
            error = float(((design @ coef - loss) ** 2).sum())
            if best is None or error < best[0]:
                best = (error, coef[0], coef[1], alpha, coef[2], beta)
    if best is None:
        raise RuntimeError("no fit with non-negative coefficients")
    return best[1:]


def next_step(history: list[dict], budget: dict) -> dict:
    """Ask for the next planned run, or answer when the plan is done."""
    todo = plan(budget)
    if len(history) < len(todo):
        width, steps = todo[len(history)]
        return {"run": [width, steps]}
    e, a, alpha, b, beta = fit(history, budget)
    best = None
    for width in budget["widths"]:
        for steps in budget["steps"]:
            if run_flops(budget, width, steps) > budget["compute"]:
                continue
            predicted = e + a * budget["params"][width] ** -alpha + b * (steps * budget["tokens_per_step"]) ** -beta
            if best is None or predicted < best[2]:
                best = (width, steps, predicted)
    width, steps, predicted = best
    return {"answer": {"width": width, "steps": steps, "predicted_loss": float(predicted)}}
