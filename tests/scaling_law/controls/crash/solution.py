"""Broken: the process dies in the middle of the lab (after one run)."""
import os


def next_step(history, budget):
    if history:
        os._exit(3)
    return {"run": [1, 50]}
