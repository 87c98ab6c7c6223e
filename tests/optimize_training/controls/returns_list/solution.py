"""Malformed: returns the weights as nested lists instead of torch.save bytes."""
import io

import torch

import base


def train(params):
    state = torch.load(io.BytesIO(base.train(params)), weights_only=True)
    return {k: v.tolist() for k, v in state.items()}
