"""Cheat: keeps asking for small runs past the lab's run limit."""


def next_step(history, budget):
    return {"run": [1, budget["steps"][len(history) % 5]]}
