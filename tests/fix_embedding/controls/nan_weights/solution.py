"""An embedding with a NaN in it."""
import torch

from model import HERE, to_bytes


def fixed_weights(params):
    state = torch.load(HERE / "big_corrupted.pt", weights_only=True)
    state["tok_emb.weight"][3, 5] = float("nan")
    return to_bytes(state)
