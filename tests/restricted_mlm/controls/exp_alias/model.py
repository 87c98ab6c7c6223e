"""Control: exp through an alias the static check cannot read (operator.attrgetter of a built
string reaching torch.special.expit, a sigmoid). The dispatch recorder sees aten.sigmoid."""
import operator

import torch
from torch import nn

squash = operator.attrgetter("special." + "exp" + "it")(torch)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(49, 16)
        self.out = nn.Linear(16, 48)

    def forward(self, tokens):
        return self.out(squash(self.embed(tokens)))


def load_model():
    torch.manual_seed(0)
    return Model().eval()
