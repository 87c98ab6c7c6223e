"""Broken: predicts NaN."""


def next_step(history, budget):
    return {"answer": {"width": 8, "steps": 800, "predicted_loss": float("nan")}}
