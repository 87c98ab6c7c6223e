"""Returns the state dict itself (tensors become nested lists on the way back), not its bytes."""
import torch

from model import HERE


def fixed_weights(params):
    return {k: v.tolist() for k, v in torch.load(HERE / "big_corrupted.pt", weights_only=True).items()}
