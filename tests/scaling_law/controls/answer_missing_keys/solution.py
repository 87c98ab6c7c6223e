"""Broken: the answer lacks predicted_loss."""


def next_step(history, budget):
    return {"answer": {"width": 8, "steps": 800}}
