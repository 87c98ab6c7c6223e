# Control: a module-level buffer with a numpy alias (not a tensor of the model, so not
# re-materialized) enters the forward through lift_fresh; numpy exp runs on it between two recorded
# ops. Caught by the hash of memory that no recorded op allocated.
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

_np_exp = vars(np)["e" "xp"]
_BUF = torch.zeros(4096)       # module level: no tensor of the model, not rematerialized
_NP = _BUF.numpy()             # made before the recorder is on

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
        chunk = torch.ops.aten.lift_fresh(_BUF)       # a produced alias of the module-level buffer
        chunk.copy_(logits.reshape(-1)[:4096])
        _NP[:] = _np_exp(_NP)                         # exp, unrecorded
        flat = logits.reshape(-1).clone()
        flat[:4096] = chunk * 1.0
        return flat.reshape(logits.shape)


def build_model() -> nn.Module:
    """A fresh, untrained model (train.py trains it)."""
    return WindowMLP()


def load_model() -> nn.Module:
    """The entry point: the model with the weights train.py saved in model.pt."""
    model = build_model()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model.eval()
