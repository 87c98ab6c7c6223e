"""Control: the forward pops the recording dispatch mode (reached by a built name) and computes
with a sigmoid while nobody watches. The boot sees its mode gone after the call."""
import operator

import torch
from torch import nn

dispatch = vars(torch.utils)["_python" + "_dispatch"]
squash = operator.attrgetter("special." + "exp" + "it")(torch)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        vars(dispatch)["_pop" + "_mode"]()
        return self.out(squash(self.embed(tokens)))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
