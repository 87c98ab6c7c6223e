"""Cheat: answers the widest model trained for the most steps, far over the budget."""


def next_step(history, budget):
    return {"answer": {"width": max(budget["widths"]), "steps": max(budget["steps"]), "predicted_loss": 1.7}}
