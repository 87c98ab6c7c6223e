"""Cheat: trains 90% of the steps."""
import base


def train(params):
    return base.train({**params, "steps": int(params["steps"] * 0.9)})
