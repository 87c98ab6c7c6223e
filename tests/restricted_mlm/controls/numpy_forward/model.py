"""Control: the forward computes in numpy (where exp is free) and wraps the result in a tensor.
The torch function recorder sees the data leave torch (Tensor.numpy)."""
import numpy as np
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        h = self.embed(tokens).numpy()
        h = np.maximum(h, 0.0) * 0.5
        return self.out(torch.from_numpy(h))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
