"""Control: a division hidden inside a custom torch.autograd.Function (the operator is fetched by
a built name, so the source has no '/'). The dispatch recorder sees aten.div."""
import operator

import torch
from torch import nn

halve = vars(operator)["true" + "div"]


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return halve(x, x.abs().sum(-1, keepdim=True) + 1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        return self.out(Scale.apply(self.embed(tokens)))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
