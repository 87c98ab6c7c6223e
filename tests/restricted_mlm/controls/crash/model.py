"""Control: the forward kills its own process (exit code 3)."""
import os

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, tokens):
        os._exit(3)


def load_model():
    return Model().eval()
