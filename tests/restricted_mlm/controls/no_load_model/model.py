"""Control: model.py without the entry point load_model."""
import torch
from torch import nn


def build_model():
    return nn.Sequential(nn.Embedding(49, 16), nn.Linear(16, 48))
