"""Broken: the answer lacks predicted_loss."""


def next_step(history, budget):
    return {"answer": {"width": 48, "steps": 6400}}
