"""Train a small GPT on train.bin: the script to make faster without changing what it produces.

Entry point: `train(params) -> bytes`, the bytes of `torch.save(model.state_dict(), buffer)` after
`params["steps"]` AdamW steps. What the result depends on, and must stay as it is (up to float
rounding): the model (GPT below: its parameters' names, shapes and maths), `init_weights`,
`batch_offsets` (which windows of the corpus each step trains on, in which order), the loss and
the optimizer's settings. Everything else here is fair game.
"""

import copy
import io
import math
import os

import numpy as np
import torch
import torch.nn as nn

VOCAB = 48        # tokens are the bytes 0..47 of train.bin
SEQ_LEN = 64      # tokens per training sequence (the model's context)
D_MODEL = 64
N_HEADS = 4
N_LAYERS = 2
LR = 3e-3
BETAS = (0.9, 0.99)
WEIGHT_DECAY = 0.01
EVAL_EVERY = 1    # steps between evaluations on the held-out tail of the corpus
EVAL_SEQS = 32

HERE = os.path.dirname(os.path.abspath(__file__))


class Attention(nn.Module):
    """Causal multi-head self-attention."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)

    def forward(self, x):
        b, t, d = x.shape
        hd = d // N_HEADS
        q, k, v = self.qkv(x).split(d, dim=2)
        # the causal mask: position i may look at positions 0..i
        mask = torch.zeros(t, t)
        for i in range(t):
            for j in range(t):
                if j > i:
                    mask[i, j] = float("-inf")
        heads = []
        for h in range(N_HEADS):
            qh = q[:, :, h * hd:(h + 1) * hd]
            kh = k[:, :, h * hd:(h + 1) * hd]
            vh = v[:, :, h * hd:(h + 1) * hd]
            scores = qh @ kh.transpose(1, 2) / math.sqrt(hd) + mask
            heads.append(torch.softmax(scores, dim=-1) @ vh)
        return self.proj(torch.cat(heads, dim=2))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.out = nn.Linear(4 * D_MODEL, D_MODEL)

    def forward(self, x):
        return self.out(torch.nn.functional.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.attn = Attention()
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, D_MODEL)
        self.pos_emb = nn.Parameter(torch.zeros(SEQ_LEN, D_MODEL))
        self.blocks = nn.ModuleList([Block() for _ in range(N_LAYERS)])
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB)

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def init_weights(model, seed):
    """The initialisation: every parameter, in name order, from one generator seeded by `seed`."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.startswith("ln") or ".ln" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def batch_offsets(seed, steps, batch_size, n_train):
    """The data order: row s holds the start of every sequence of step s (one call, seeded by `seed`)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_train - SEQ_LEN - 1, size=(steps, batch_size))


def load_corpus():
    """train.bin split into the training part and a held-out tail (the last 5%) for evaluation."""
    with open(os.path.join(HERE, "train.bin"), "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8)
    cut = len(data) * 95 // 100
    return data[:cut], data[cut:]


def get_batch(data, offsets):
    """Inputs and next-token targets for the sequences starting at `offsets`."""
    x = torch.zeros(len(offsets), SEQ_LEN, dtype=torch.long)
    y = torch.zeros(len(offsets), SEQ_LEN, dtype=torch.long)
    for i, o in enumerate(offsets):
        for t in range(SEQ_LEN):
            x[i, t] = int(data[o + t])
            y[i, t] = int(data[o + t + 1])
    return x, y


def loss_of(model, x, y):
    """Mean next-token cross-entropy (in float64, to be safe)."""
    logits = model(x).double()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))


def evaluate(model, held_out):
    model.eval()
    with torch.no_grad():
        offsets = np.arange(EVAL_SEQS) * SEQ_LEN
        x, y = get_batch(held_out, offsets)
        loss = loss_of(model, x, y).item()
    model.train()
    return loss


def train(params):
    """Train for params["steps"] steps of params["batch_size"] sequences; return the weights' bytes."""
    torch.set_num_threads(1)  # one thread, to keep runs reproducible
    seed, steps, batch_size = int(params["seed"]), int(params["steps"]), int(params["batch_size"])
    train_data, held_out = load_corpus()
    model = GPT()
    init_weights(model, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    offsets = batch_offsets(seed, steps, batch_size, len(train_data))
    history, best = [], None
    for step in range(steps):
        x, y = get_batch(train_data, offsets[step])
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        if step % EVAL_EVERY == 0:
            val = evaluate(model, held_out)
            if best is None or val < best[0]:
                best = (val, copy.deepcopy(model.state_dict()))  # kept in case training diverges
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()
