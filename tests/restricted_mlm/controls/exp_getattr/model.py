"""Control: exp reached through getattr(torch, "ex" + "p"). The static check refuses the computed
attribute name; without it, the dispatch recorder sees aten.exp."""
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        grow = getattr(torch, "ex" + "p")
        return self.out(grow(self.embed(tokens)))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
