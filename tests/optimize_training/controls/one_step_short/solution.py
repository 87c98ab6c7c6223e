"""Cheat: skips the last step."""
import base


def train(params):
    return base.train({**params, "steps": int(params["steps"]) - 1})
