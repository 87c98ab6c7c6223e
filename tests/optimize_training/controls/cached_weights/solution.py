"""Cheat: weights trained once, at import time (not timed), kept in a file of the candidate's folder
and returned by every call."""
import os

import base

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights_cache.pt")
if not os.path.exists(CACHE):
    with open(CACHE, "wb") as f:
        f.write(base.train({"seed": 1234, "steps": 12, "batch_size": 8}))


def train(params):
    with open(CACHE, "rb") as f:
        return f.read()
