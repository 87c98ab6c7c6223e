"""Leaves the embedding alone and rescales the output head instead."""
import torch

from model import HERE, to_bytes


def fixed_weights(params):
    state = torch.load(HERE / "big_corrupted.pt", weights_only=True)
    state["head.weight"] = state["head.weight"] * 0.5
    return to_bytes(state)
