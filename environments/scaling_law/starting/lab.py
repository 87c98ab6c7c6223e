"""The lab: the model family of this environment, its FLOP count, and how one run is trained.

A run is (width, steps): a factored trigram language model. Each pair of previous tokens has a
learned vector of `width` numbers; the next token's logits are that vector times a
(width x VOCAB) output matrix plus a bias. It is trained from scratch for `steps` Adam steps of
TOKENS_PER_STEP predicted tokens drawn from train.bin (warm-up, then cosine decay), and its loss
is measured on the first EVAL_TOKENS predictions of valid.bin (nats per token).

`train(width, steps)` is exactly what produced the scorer's sweep: the lab inside scoring looks
its results up instead of training again. Run it yourself only within the rules (instructions.md):
`python lab.py WIDTH STEPS`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VOCAB = 48
CONTEXT = 2                 # tokens the model reads before each prediction
TOKENS_PER_STEP = 64        # predicted tokens (examples) per optimizer step
EVAL_TOKENS = 40_000        # predictions measured on valid.bin
LEARNING_RATE = 3e-2
WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
STEPS = tuple(int(round(50 * 2 ** (k / 2))) for k in range(17))   # 50, 71, 100, ..., 12800


def n_params(width: int) -> int:
    """Parameters of the model of this width: one vector per context pair, the output matrix, the bias."""
    return VOCAB * VOCAB * width + width * VOCAB + VOCAB


def flops(width: int, steps: int) -> float:
    """Training compute of a run: 6 * parameters * predicted tokens."""
    return 6.0 * n_params(width) * steps * TOKENS_PER_STEP


def load_tokens(name: str) -> np.ndarray:
    """A corpus file of this folder (raw uint8 tokens) as int64."""
    return np.fromfile(HERE / name, dtype=np.uint8).astype(np.int64)


def windows(tokens: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, targets): the CONTEXT tokens before each position, and the token at it."""
    idx = positions[:, None] + np.arange(-CONTEXT, 0)[None, :]
    return tokens[idx], tokens[positions]


def learning_rate(step: int, steps: int) -> float:
    """Linear warm-up over 5% of the run, then cosine decay to a tenth."""
    warm = max(1, steps // 20)
    if step < warm:
        return LEARNING_RATE * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return LEARNING_RATE * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def check_run(width: int, steps: int) -> None:
    """Refuse a width or a step count that is not on the grids."""
    if width not in WIDTHS:
        raise ValueError(f"width {width!r} is not one of {WIDTHS}")
    if steps not in STEPS:
        raise ValueError(f"steps {steps!r} is not one of {STEPS}")


def init_params(width: int, copies: int, seed: int) -> list:
    """The parameters of `copies` identical models of this width: pair vectors, output matrix, bias."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, bound):
        one = (torch.rand(shape, generator=gen) * 2 - 1) * bound
        return one.expand(copies, *shape).clone().requires_grad_()

    return [uniform((VOCAB * VOCAB, width), 1.0), uniform((width, VOCAB), width ** -0.5),
            uniform((VOCAB,), 0.0)]


def forward(params: list, context):
    """Logits (copies, batch, VOCAB) of every copy for contexts (batch, CONTEXT)."""
    import torch

    pairs, out, bias = params
    x = pairs[:, context[:, 0] * VOCAB + context[:, 1]]
    return torch.baddbmm(bias[:, None, :], x, out)


def train_many(width: int, runs: list[int], seed: int = 0) -> dict[int, float]:
    """Train one run per step count in `runs`, all at once, and return {steps: loss on valid.bin}.

    The runs start from the same initial weights and see the same batches; they differ only in
    their learning-rate schedule, which depends on their length. Each is exactly the run that
    train(width, steps) makes alone: training them together only saves time.
    """
    import torch

    if not runs:
        raise ValueError("train_many needs at least one step count")
    for steps in runs:
        check_run(width, steps)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    train_tokens, valid_tokens = load_tokens("train.bin"), load_tokens("valid.bin")
    lengths = sorted(set(runs))
    params = init_params(width, len(lengths), seed)
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    results = {}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(lengths[-1]):
        positions = rng.integers(CONTEXT, len(train_tokens), size=TOKENS_PER_STEP)
        context, target = (torch.from_numpy(a) for a in windows(train_tokens, positions))
        logits = forward(params, context)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.repeat(len(lengths)),
                                                 reduction="sum") / TOKENS_PER_STEP
        grads = torch.autograd.grad(loss, params)
        rates = torch.tensor([learning_rate(step, n) for n in lengths])
        with torch.no_grad():
            for p, g, (m, v) in zip(params, grads, moments):
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                scale = rates.view(-1, *[1] * (p.dim() - 1)) / (1 - beta1 ** (step + 1))
                p.sub_(scale * m / ((v / (1 - beta2 ** (step + 1))).sqrt() + eps))
        done = [i for i, n in enumerate(lengths) if n == step + 1]
        if done:
            for i in done:
                results[lengths[i]] = evaluate([p[i:i + 1] for p in params], valid_tokens)
            keep = [i for i, n in enumerate(lengths) if n > step + 1]
            params = [p.detach()[keep].clone().requires_grad_() for p in params]
            moments = [(m[keep].clone(), v[keep].clone()) for m, v in moments]
            lengths = [lengths[i] for i in keep]
    return {steps: results[steps] for steps in runs}


def train(width: int, steps: int, seed: int = 0) -> float:
    """Train one run from scratch and return its loss on valid.bin (nats per token)."""
    return train_many(width, [steps], seed)[steps]


def evaluate(params: list, valid_tokens: np.ndarray) -> float:
    """Mean cross-entropy of one model over the first EVAL_TOKENS predictions of valid.bin."""
    import torch

    positions = np.arange(CONTEXT, CONTEXT + EVAL_TOKENS)
    context, target = (torch.from_numpy(a) for a in windows(valid_tokens, positions))
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(forward(params, context)[0], target))


if __name__ == "__main__":
    import sys

    w, s = int(sys.argv[1]), int(sys.argv[2])
    print(f"width {w}, steps {s}: {flops(w, s):.3g} FLOPs, loss {train(w, s):.4f}")
