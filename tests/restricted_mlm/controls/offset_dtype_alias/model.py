# Control: two storages over the same bytes, 4 bytes apart, as float32 and int32 (numpy views
# made at import), both entering through lift_fresh. Caught by the byte-range index of the
# bit-reinterpretation check.
"""The masked language model that gets scored: `load_model()` returns it, trained weights loaded.

forward(tokens) takes a LongTensor [B, T] of token ids (0..47, and 48 = MASK where a token was
hidden) and returns float32 logits [B, T, 48]. The scorer applies log_softmax itself. The forward
pass may use only allowed primitives (no division, no exponentiation; see instructions.md).

This starting model looks at a window of 2 tokens on each side: their embeddings are joined and
go through one ReLU layer.
"""

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
import numpy as np

_NPF = np.zeros(8192, dtype=np.float32)
_F = torch.from_numpy(_NPF[:4096])                    # two storages over the same bytes,
_I = torch.from_numpy(_NPF[1:4097].view(np.int32))   # the second 4 bytes further and as int32

VOCAB = 48
MASK = 48
WEIGHTS = Path(__file__).with_name("model.pt")


class WindowMLP(nn.Module):
    """Embeddings of the 2 * window + 1 tokens around each position -> ReLU layer -> logits."""

    def __init__(self, window: int = 2, dim: int = 24, hidden: int = 96):
        super().__init__()
        self.window = window
        self.embed = nn.Embedding(VOCAB + 1, dim)
        self.hidden = nn.Linear((2 * window + 1) * dim, hidden)
        self.out = nn.Linear(hidden, VOCAB)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, T, (2 * window + 1) * dim]: each position's window of embeddings."""
        w, t = self.window, tokens.shape[1]
        padded = F.pad(self.embed(tokens), (0, 0, w, w))  # zeros beyond both ends
        return torch.cat([padded[:, i:i + t] for i in range(2 * w + 1)], dim=-1)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Window features -> logits over the 48 tokens."""
        return self.out(torch.relu(self.hidden(x)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(tokens))
        f = torch.ops.aten.lift_fresh(_F)
        i = torch.ops.aten.lift_fresh(_I)
        f.copy_(logits.reshape(-1)[1:4097])
        e2 = torch.bitwise_and(i, 0x7F800000).to(torch.float32) * 1.1920928955078125e-07 - 127.0
        flat = logits.reshape(-1).clone()
        flat[:4096] = flat[:4096] + 0.001 * e2
        return flat.reshape(logits.shape)


def build_model() -> nn.Module:
    """A fresh, untrained model (train.py trains it)."""
    return WindowMLP()


def load_model() -> nn.Module:
    """The entry point: the model with the weights train.py saved in model.pt."""
    model = build_model()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model.eval()
