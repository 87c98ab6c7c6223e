"""Cheat: trains a run over the cap itself, inside next_step, instead of asking the lab."""
import lab


def next_step(history, budget):
    loss = lab.train(12, 800)
    return {"answer": {"width": 12, "steps": 12800, "predicted_loss": loss}}
