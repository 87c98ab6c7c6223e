"""Control: nn.functional.softmax fetched by a built name, so the source never spells it. The
dispatch recorder sees aten._softmax."""
import operator

import torch
from torch import nn

attention = operator.attrgetter("functional.soft" + "max")(nn)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        return self.out(attention(self.embed(tokens), dim=-1))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
