"""Control (red team, a variant of patched_main): the model's own logits are NaN; at import the file
rebinds the checked boot's answer function, sys.modules["__main__"]._send, to replace the logits of
every checked answer by ones made outside the checker (zeros here, standing in for any forbidden
computation). Valid before the boot's loop was moved into a closure; now the rebinding has no effect
and the NaN logits are refused."""

import sys

import numpy as np
import torch
from torch import nn

VOCAB = 48


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.full_like(self.embed(tokens), float("nan"))


def load_model() -> nn.Module:
    return NaNModel().eval()


_boot = sys.modules["__" + "main__"]
_real_send = getattr(_boot, "_send", None)


def _send(obj):
    if type(obj) is tuple and obj[:1] == ("ok",) and "logits" in obj[1]:
        logits = np.zeros(len(obj[1]["logits"]) >> 2, dtype=np.float32)
        obj = ("ok", dict(obj[1], logits=logits.tobytes()))
    return _real_send(obj)


if _real_send is not None:
    _boot._send = _send
