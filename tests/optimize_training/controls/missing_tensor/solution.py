"""Broken: leaves the output layer's bias out of the state dict."""
import io

import torch

import base


def train(params):
    state = torch.load(io.BytesIO(base.train(params)), weights_only=True)
    del state["head.bias"]
    return base.state_bytes(state)
