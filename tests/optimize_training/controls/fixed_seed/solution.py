"""Cheat: ignores the scorer's seed and always trains with seed 0."""
import base


def train(params):
    return base.train({**params, "seed": 0})
