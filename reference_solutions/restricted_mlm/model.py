"""The reference masked language model: a wider window and residual ReLU MLP blocks.

Same contract as the starting model.py: `load_model()` returns the model with model.pt's weights;
forward(tokens [B, T], MASK = 48) returns float32 logits [B, T, 48], using only matmuls,
additions, multiplications and ReLU. Trained by the starting train.py for a fixed number of steps:
`python train.py --steps 2500` (environments/restricted_mlm/make_assets.py does it on one thread,
reproducibly).
"""

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 48
MASK = 48
WEIGHTS = Path(__file__).with_name("model.pt")


class ResidualMLP(nn.Module):
    """Window of embeddings -> ReLU layer -> `blocks` residual ReLU blocks -> logits."""

    def __init__(self, window: int = 4, dim: int = 32, hidden: int = 320, blocks: int = 2):
        super().__init__()
        self.window = window
        self.embed = nn.Embedding(VOCAB + 1, dim)
        self.inp = nn.Linear((2 * window + 1) * dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(blocks))
        self.out = nn.Linear(hidden, VOCAB)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, T, (2 * window + 1) * dim]: each position's window of embeddings."""
        w, t = self.window, tokens.shape[1]
        padded = F.pad(self.embed(tokens), (0, 0, w, w))
        return torch.cat([padded[:, i:i + t] for i in range(2 * w + 1)], dim=-1)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Window features -> logits; each block adds relu(W h) to h, scaled down by 0.5."""
        h = torch.relu(self.inp(x))
        for block in self.blocks:
            h = h + 0.5 * torch.relu(block(h))
        return self.out(h)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens))


def build_model() -> nn.Module:
    """A fresh, untrained model (train.py trains it)."""
    return ResidualMLP()


def load_model() -> nn.Module:
    """The entry point: the model with the weights train.py saved in model.pt."""
    model = build_model()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model.eval()
