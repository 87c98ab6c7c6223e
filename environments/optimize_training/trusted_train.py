"""The scorer's trusted training run: the starting script's maths, done fast, in the scorer's process.

Self-contained on purpose: official scoring copies the environment folder WITHOUT starting/, so the
model, its initialisation, the data order, the hyper-parameters and the corpus (train.bin here, a
copy of starting/train.bin written by make_assets.py) are restated here. The tests check that they
agree with starting/solution.py: the same parameter names and shapes, the same initial weights, the
same batch offsets, the same bytes of corpus, and weights within the bound after training.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "train.bin"

VOCAB = 48
SEQ_LEN = 64
D_MODEL = 64
N_HEADS = 4
N_LAYERS = 2
LR = 3e-3
BETAS = (0.9, 0.99)
WEIGHT_DECAY = 0.01


class Attention(nn.Module):
    """All heads in one batched matmul; `mask` is the additive causal mask, built once per run."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)

    def forward(self, x, mask):
        b, t, d = x.shape
        hd = d // N_HEADS
        q, k, v = self.qkv(x).view(b, t, 3, N_HEADS, hd).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask[:t, :t]
        return self.proj((torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.out = nn.Linear(4 * D_MODEL, D_MODEL)

    def forward(self, x):
        return self.out(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.attn = Attention()
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.mlp = MLP()

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """The starting GPT: the same parameter names and shapes, the same maths."""

    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, D_MODEL)
        self.pos_emb = nn.Parameter(torch.zeros(SEQ_LEN, D_MODEL))
        self.blocks = nn.ModuleList([Block() for _ in range(N_LAYERS)])
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB)

    def forward(self, idx, mask):
        x = self.tok_emb(idx) + self.pos_emb[: idx.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


def init_weights(model: nn.Module, seed: int) -> None:
    """The starting file's initialisation: every parameter, in name order, from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.startswith("ln") or ".ln" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def batch_offsets(seed: int, steps: int, batch_size: int, n_train: int) -> np.ndarray:
    """The starting file's data order: row s holds the start of every sequence of step s."""
    return np.random.default_rng(seed).integers(0, n_train - SEQ_LEN - 1, size=(steps, batch_size))


@lru_cache(maxsize=1)
def training_tokens() -> torch.Tensor:
    """The training part of the corpus (its first 95%), as int64."""
    data = np.frombuffer(CORPUS.read_bytes(), dtype=np.uint8)
    return torch.from_numpy(data[: len(data) * 95 // 100].astype(np.int64))


def new_model(seed: int) -> GPT:
    """The GPT with its initialisation for `seed`."""
    model = GPT()
    init_weights(model, seed)
    return model


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, as the candidate's state dict must have them."""
    return {k: tuple(v.shape) for k, v in GPT().state_dict().items()}


def train_trusted(seed: int, steps: int, batch_size: int, lr: float = LR) -> dict[str, torch.Tensor]:
    """The weights after `steps` AdamW steps for `seed` (lr: only to measure the bound's margins)."""
    torch.set_num_threads(1)  # the same result and speed whatever else runs on the machine
    tokens = training_tokens()
    model = new_model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=BETAS, weight_decay=WEIGHT_DECAY)
    offsets = torch.from_numpy(batch_offsets(seed, steps, batch_size, len(tokens)))
    window = torch.arange(SEQ_LEN + 1)
    mask = torch.full((SEQ_LEN, SEQ_LEN), float("-inf")).triu(1)
    for step in range(steps):
        batch = tokens[offsets[step, :, None] + window]
        logits = model(batch[:, :-1], mask)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
