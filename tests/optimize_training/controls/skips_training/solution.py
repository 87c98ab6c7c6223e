"""Cheat: returns the initial weights without training (instant)."""
import base


def train(params):
    model = base.GPT()
    base.init_weights(model, int(params["seed"]))
    return base.state_bytes(model.state_dict())
