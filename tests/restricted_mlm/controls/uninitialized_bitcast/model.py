"""Negative control (red team): a softmax by bit tricks without any view: mm frees a float copy of its
operand, torch.empty of int32 reads those bytes back (canaries check the reuse).
"""

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import struct

ROWS = 256     # rows per reinterpretation (256 x 48 x 4 bytes = 48 KB: below glibc's mmap threshold)
PAD = 3        # leading rows: two absorb malloc's free-list words, the third is a canary
TRIES = 16


def _bits_f2i(v):
    return struct.unpack("<i", struct.pack("<f", v))[0]


def _bits_i2f(v):
    return struct.unpack("<f", struct.pack("<i", v))[0]


def _attempt(x, dtype, src, dst):
    """One try at reading x's bytes as `dtype` without aten.view.dtype: addmm copies a matrix with no
    unit stride into an internal contiguous buffer (not a recorded op) and frees it; torch.empty of a
    slightly smaller size (an allowed op) usually gets that buffer back (posix_memalign adds 64 + 32
    bytes to its request, so it asks for 128 bytes less), bytes intact."""
    n, k = x.shape
    padded = torch.cat([torch.full((PAD, k), src, dtype=x.dtype), x, torch.zeros(1, k, dtype=x.dtype)], 0)
    inter = torch.stack([padded, padded], -1).reshape(n + PAD + 1, 2 * k)[:, ::2]   # strides (2k, 2)
    torch.mm(inter, torch.eye(k, dtype=x.dtype))
    y = torch.empty((n + PAD + 1) * k - 32, dtype=dtype)[: (n + PAD) * k].reshape(n + PAD, k)
    return (y[PAD - 1] == dst).all(), y[PAD:]


CANARY = [0x3F800000]   # a fresh canary word per attempt, across calls too (stale buffers never match)


def reinterpret(x, dtype):
    """x [n, k] (float32 or int32) -> the same bytes as `dtype`; ok says every chunk was verified."""
    outs, oks = [], []
    for start in range(0, x.shape[0], ROWS):
        part = x[start:start + ROWS]
        out = torch.zeros(part.shape, dtype=dtype)
        done = torch.zeros((), dtype=torch.bool)
        for a in range(TRIES):
            CANARY[0] += 1
            word = CANARY[0]
            src, dst = (_bits_i2f(word), word) if x.dtype == torch.float32 else (word, _bits_i2f(word))
            ok, y = _attempt(part, dtype, src, dst)
            out = torch.where(done.logical_not() & ok, y, out)
            done = done | ok
        outs.append(out)
        oks.append(done)
    return torch.cat(outs, 0), torch.stack(oks).all()


def fast_probs(logits):
    """Softmax over the last dim with Schraudolph's exp and the bit-trick reciprocal (no exp, no div)."""
    b, t, v = logits.shape
    flat = (logits - logits.amax(-1, keepdim=True)).clamp(min=-80.0).reshape(b * t, v)
    e_bits = (flat * 12102203.0 + 1065353216.0).to(torch.int32)
    e, ok1 = reinterpret(e_bits, torch.float32)
    z = e.sum(-1).reshape(-1, 64)
    z_bits, ok2 = reinterpret(z, torch.int32)
    r, ok3 = reinterpret(2129733568 - z_bits, torch.float32)
    r = r * (2.0 - z * r)
    r = r * (2.0 - z * r)
    probs = e * r.reshape(b * t, 1)
    return probs.reshape(b, t, v), ok1 & ok2 & ok3

DEBUG = {}
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
        probs, ok = fast_probs(logits)
        DEBUG["last"] = (probs, ok)   # for the offline check only (not read by the scorer)
        # Valid only if every reinterpretation in this call was verified; otherwise NaN logits
        # (non_finite_logits), so a valid score proves the trick worked inside the checked boot.
        return torch.where(ok, logits + 0.0 * probs, torch.full_like(logits, float("nan")))


def build_model() -> nn.Module:
    """A fresh, untrained model (train.py trains it)."""
    return WindowMLP()


def load_model() -> nn.Module:
    """The entry point: the model with the weights train.py saved in model.pt."""
    model = build_model()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model.eval()
