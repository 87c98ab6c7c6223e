"""The model of this environment: a small GPT over 48 tokens, used at two widths.

BIG (d=96) is the model whose token embedding was corrupted (big_corrupted.pt); SMALL (d=32) is an
intact model trained on the same text (small.pt). Both predict the next token from up to
CONTEXT previous ones. The token embedding (`tok_emb.weight`) and the output head (`head.weight`)
are separate tensors (not tied).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

VOCAB = 48
CONTEXT = 64
BIG = {"d": 96, "n_head": 4}
SMALL = {"d": 32, "n_head": 2}
HERE = Path(__file__).resolve().parent


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention, then a 4x MLP."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, n_head, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token embedding + learned positions, two blocks, a final LayerNorm and an untied head."""

    def __init__(self, d: int, n_head: int, n_layer: int = 2, vocab: int = VOCAB, context: int = CONTEXT):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, T, vocab): position t predicts token t + 1 from tokens 0..t."""
        t = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb(torch.arange(t, device=tokens.device))
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), diagonal=1)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


def big_model() -> GPT:
    return GPT(**BIG)


def small_model() -> GPT:
    return GPT(**SMALL)


def load(model: GPT, path: Path) -> GPT:
    """Load a state dict saved by torch.save (weights only) into model; returns the model."""
    model.load_state_dict(torch.load(Path(path), map_location="cpu", weights_only=True))
    return model


def to_bytes(model_or_state) -> bytes:
    """What fixed_weights must return: torch.save(state_dict) into memory."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def corpus(path: Path = HERE / "train.bin") -> np.ndarray:
    """The training text: one long run of uint8 tokens (values < VOCAB)."""
    return np.fromfile(path, dtype=np.uint8)


def batch(data: np.ndarray, rng: np.random.Generator, size: int = 32, length: int = CONTEXT) -> torch.Tensor:
    """size random windows of length + 1 tokens (int64): inputs are [:, :-1], targets [:, 1:]."""
    starts = rng.integers(0, len(data) - length - 1, size=size)
    return torch.from_numpy(np.stack([data[s:s + length + 1] for s in starts]).astype(np.int64))


def loss_on(model: GPT, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of model on a batch from `batch`."""
    logits = model(tokens[:, :-1])
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
