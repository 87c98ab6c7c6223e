"""Control: the forward pops the recording dispatch mode, computes with a sigmoid unseen, pushes
the mode back and returns `logits + 0` so that the returned tensor comes from a recorded op. The
recorder sees an input that no recorded op produced."""
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
        mode = vars(dispatch)["_pop" + "_mode"]()
        logits = self.out(squash(self.embed(tokens)))
        vars(dispatch)["_push" + "_mode"](mode)
        return logits + 0.0


def load_model():
    torch.manual_seed(0)
    return Model().eval()
