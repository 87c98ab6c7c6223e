"""Control: the forward rewrites a weight in place while the recorder is off (a sigmoid of it) and
restores it before returning, so that the record shows only allowed ops on a "parameter". The
recorder sees the parameter's content change between the start of the call and its use."""
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
        saved = self.embed.weight.clone()
        self.embed.weight.copy_(squash(saved))
        vars(dispatch)["_push" + "_mode"](mode)
        logits = self.out(self.embed(tokens))
        mode = vars(dispatch)["_pop" + "_mode"]()
        self.embed.weight.copy_(saved)
        vars(dispatch)["_push" + "_mode"](mode)
        return logits


def load_model():
    torch.manual_seed(0)
    return Model().eval()
