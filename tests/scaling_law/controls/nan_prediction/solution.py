"""Broken: predicts NaN."""


def next_step(history, budget):
    return {"answer": {"width": 48, "steps": 6400, "predicted_loss": float("nan")}}
