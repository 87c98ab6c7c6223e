"""Scaling law experiment: the starting solution (naive).

`next_step(history, budget)` is called by the scorer's lab until it answers. It makes one run,
the widest model at the longest step count the lab's cap allows, then answers the widest model
trained as long as the budget allows, and predicts the loss that small run reached.

Bigger is not always better at a fixed budget, and a run 50 times smaller says little about the
loss of the big one: improve both the choice and the prediction (instructions.md).
"""


def flops(budget: dict, width: int, steps: int) -> float:
    """The lab's FLOP count: 6 * parameters * tokens (budget["flops_formula"])."""
    return 6.0 * budget["params"][width] * steps * budget["tokens_per_step"]


def next_step(history: list[dict], budget: dict) -> dict:
    widest = max(budget["widths"])
    if not history:
        small = [s for s in budget["steps"] if flops(budget, widest, s) <= budget["run_cap"]]
        return {"run": [widest, max(small)]}
    steps = max(s for s in budget["steps"] if flops(budget, widest, s) <= budget["compute"])
    return {"answer": {"width": widest, "steps": steps, "predicted_loss": history[-1]["loss"]}}
