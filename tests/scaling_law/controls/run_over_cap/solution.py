"""Cheat: asks for a run at C / 10, five times the lab's cap."""


def next_step(history, budget):
    for steps in budget["steps"]:
        if 6.0 * budget["params"][32] * steps * budget["tokens_per_step"] >= budget["compute"] / 10:
            return {"run": [32, steps]}
    return {"run": [128, budget["steps"][-1]]}
