"""Control: logits over 49 ids (the input vocabulary, MASK included) instead of the 48 tokens."""
import torch
from torch import nn


def load_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(49, 16), nn.Linear(16, 49)).eval()
