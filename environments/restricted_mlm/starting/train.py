"""Train model.py's model on train.bin with the scorer's masking scheme; save the weights to model.pt.

    python train.py --steps 300

Training code may use anything (softmax, division...): only model.py's forward pass is restricted.
The loss is computed at masked positions only, and the model's head runs only there, which is
what the scorer measures and 6x cheaper than running it everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import model as model_file

HERE = Path(__file__).resolve().parent
SEQ_LEN = 64
MASKED_PER_SEQ = 10  # 15.6% of 64, as the scorer does


def load_corpus(path: Path) -> np.ndarray:
    """The training tokens (raw uint8 bytes, values 0..47)."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    if data.size < SEQ_LEN or data.max() >= model_file.VOCAB:
        raise ValueError(f"{path}: expected uint8 tokens below {model_file.VOCAB}, at least {SEQ_LEN} of them")
    return data


def masked_batch(corpus: np.ndarray, rng: np.random.Generator, batch: int):
    """Random windows of the corpus with MASKED_PER_SEQ positions each replaced by MASK."""
    starts = rng.integers(0, corpus.size - SEQ_LEN, size=batch)
    tokens = torch.from_numpy(np.stack([corpus[s:s + SEQ_LEN] for s in starts]).astype(np.int64))
    order = torch.from_numpy(rng.random((batch, SEQ_LEN))).argsort(dim=1)
    mask = torch.zeros(batch, SEQ_LEN, dtype=torch.bool)
    mask.scatter_(1, order[:, :MASKED_PER_SEQ], True)
    return tokens.masked_fill(mask, model_file.MASK), tokens, mask


def train(model, corpus: np.ndarray, steps: int, seed: int = 0, batch: int = 64, lr: float = 3e-3,
          log_every: int = 100):
    """AdamW with a linear decay over a fixed number of steps; returns the model (in eval mode)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / max(1, steps))
    model.train()
    for step in range(1, steps + 1):
        inputs, targets, mask = masked_batch(corpus, rng, batch)
        logits = model.head(model.features(inputs)[mask])
        loss = F.cross_entropy(logits, targets[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == steps):
            print(f"step {step}/{steps}: masked loss {loss.item():.4f}", flush=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--corpus", type=Path, default=HERE / "train.bin")
    parser.add_argument("--out", type=Path, default=model_file.WEIGHTS)
    args = parser.parse_args()
    torch.manual_seed(args.seed)  # the initial weights too
    model = train(model_file.build_model(), load_corpus(args.corpus), args.steps, args.seed, args.batch, args.lr)
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
