"""Reference solution: re-learn the big model's token embedding with everything else frozen.

1. Map: the embedding is the small model's embedding times a learned 32 x 96 matrix (the small
   model already knows which tokens behave alike), trained for a quarter of the steps.
2. Embedding: starting from that map, the 48 x 96 embedding itself is trained for the rest.
Both stages minimise the cross-entropy on train.bin plus a distillation term (KL from the small
model's predictions, a lower-variance signal), with Adam and a cosine learning-rate decay.
The amount of work is params["train_steps"] (a step count, so the result does not depend on the
machine's load); single-threaded and seeded, so it is the same at every scoring.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from model import CONTEXT, HERE, VOCAB, batch, big_model, corpus, load, small_model, to_bytes

LR = 3e-2
DISTILL = 1.0


def logits_from(big, embedded: torch.Tensor) -> torch.Tensor:
    """The big model's forward pass from already-embedded tokens (batch, T, d)."""
    t = embedded.shape[1]
    x = embedded + big.pos_emb.weight[:t]
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    for block in big.blocks:
        x = block(x, mask)
    return big.head(big.ln_f(x))


def train(big, small, embedding, params: list, steps: int, data: np.ndarray, rng: np.random.Generator) -> None:
    """Adam on params for steps batches; embedding() gives the current (VOCAB, d) token embedding."""
    opt = torch.optim.Adam(params, lr=LR)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * step / steps))
        tokens = batch(data, rng, length=CONTEXT)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        logits = logits_from(big, embedding()[inputs])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        with torch.no_grad():
            teacher = F.log_softmax(small(inputs), dim=-1)
        loss = loss + DISTILL * F.kl_div(F.log_softmax(logits, dim=-1), teacher, log_target=True,
                                         reduction="batchmean") / inputs.shape[1]
        opt.zero_grad()
        loss.backward()
        opt.step()


def fixed_weights(params: dict) -> bytes:
    steps = max(4, int(params.get("train_steps") or 400))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    big = load(big_model(), HERE / "big_corrupted.pt")
    small = load(small_model(), HERE / "small.pt")
    for p in [*big.parameters(), *small.parameters()]:
        p.requires_grad_(False)
    data = corpus()
    source_emb = small.tok_emb.weight
    mapping = torch.nn.Parameter(torch.randn(source_emb.shape[1], big.tok_emb.weight.shape[1]) * 0.1)
    map_steps = steps // 4
    train(big, small, lambda: source_emb @ mapping, [mapping], map_steps, data, rng)
    embedding = torch.nn.Parameter((source_emb @ mapping).detach().clone())
    train(big, small, lambda: embedding, [embedding], steps - map_steps, data, rng)
    state = dict(big.state_dict())
    state["tok_emb.weight"] = embedding.detach().clone()
    return to_bytes(state)
