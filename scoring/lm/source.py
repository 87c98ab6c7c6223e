"""The hidden source of the language-model environments: a second-order Markov chain over 48 tokens.

Every context (a, b) has a few likely next tokens (random Gamma weights) plus a little uniform
mass, so any token can follow any context and a model's loss is always finite. The chain's
parameters come from a seed that only the scorers know; participants get a corpus sampled from
it (a `.bin` file of uint8 tokens in their starting files), and scorers draw fresh evaluation
text from it with an unpredictable seed for every scoring.

The entropy rate (nats per token) is the best loss any model can reach when it predicts a token
from everything before it: the floor of "ln(loss - floor)".

Write a corpus:  python -m scoring.lm.source write PATH --tokens N --seed S
"""

from __future__ import annotations

import argparse
import random
from functools import lru_cache
from pathlib import Path

import numpy as np

VOCAB = 48
SOURCE_SEED = 0x7E5E_A4C1  # the chain's parameters; part of the scorers' secrets
SUPPORT = 6                 # likely next tokens per context
SMOOTHING = 0.06            # uniform mass spread over the whole vocabulary


class MarkovSource:
    """P(next | previous two tokens) as a (V, V, V) array, with sampling and its entropy rate."""

    def __init__(self, vocab: int = VOCAB, seed: int = SOURCE_SEED, support: int = SUPPORT,
                 smoothing: float = SMOOTHING):
        r = random.Random(seed)  # the stdlib generator: the same parameters on every platform
        probs = np.full((vocab, vocab, vocab), smoothing / vocab)
        for a in range(vocab):
            for b in range(vocab):
                nexts = r.sample(range(vocab), support)
                weights = np.array([r.gammavariate(0.6, 1.0) for _ in nexts]) + 1e-3
                probs[a, b, nexts] += (1.0 - smoothing) * weights / weights.sum()
        self.vocab = vocab
        self.probs = probs / probs.sum(axis=2, keepdims=True)
        self._cdf = np.cumsum(self.probs, axis=2)
        self.pairs = self._stationary_pairs()

    def _stationary_pairs(self) -> np.ndarray:
        """The stationary distribution of (a, b) pairs, by power iteration."""
        pi = np.full((self.vocab, self.vocab), 1.0 / self.vocab**2)
        for _ in range(500):
            new = np.einsum("ab,abc->bc", pi, self.probs)
            if np.abs(new - pi).sum() < 1e-13:
                return new
            pi = new
        return pi

    def entropy_rate(self) -> float:
        """H(next | previous two) under the stationary distribution, in nats per token."""
        h = -(self.probs * np.log(self.probs)).sum(axis=2)
        return float((self.pairs * h).sum())

    def sample(self, rng: np.random.Generator, n_seqs: int, seq_len: int) -> np.ndarray:
        """n_seqs independent sequences of seq_len tokens (int64), started from the stationary pairs."""
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        out = np.empty((n_seqs, seq_len), dtype=np.int64)
        first = rng.choice(self.vocab**2, size=n_seqs, p=self.pairs.ravel())
        out[:, 0], out[:, 1] = np.divmod(first, self.vocab)
        for t in range(2, seq_len):
            cdf = self._cdf[out[:, t - 2], out[:, t - 1]]
            u = rng.random(n_seqs)[:, None] * cdf[:, -1:]
            out[:, t] = np.minimum((u > cdf).sum(axis=1), self.vocab - 1)
        return out

    def stream(self, rng: np.random.Generator, n_tokens: int, chunk: int = 4096) -> np.ndarray:
        """One long run of n_tokens tokens (uint8), sampled as chunks joined end to end."""
        n_seqs = -(-n_tokens // chunk)
        return self.sample(rng, n_seqs, chunk).astype(np.uint8).ravel()[:n_tokens]


@lru_cache(maxsize=1)
def source() -> MarkovSource:
    """The one hidden source (built once per process, ~0.1 s)."""
    return MarkovSource()


def fresh_rng(rng: random.Random) -> np.random.Generator:
    """A numpy generator seeded from the scorer's secret RNG (never the same twice)."""
    return np.random.default_rng(rng.getrandbits(128))


def write_corpus(path: Path, n_tokens: int, seed: int) -> Path:
    """Write n_tokens tokens of the source as raw uint8 bytes (what the starting files ship)."""
    data = source().stream(np.random.default_rng(seed), n_tokens)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scoring.lm.source", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write a corpus of uint8 tokens")
    w.add_argument("path", type=Path)
    w.add_argument("--tokens", type=int, required=True)
    w.add_argument("--seed", type=int, required=True)
    sub.add_parser("floor", help="print the entropy rate (nats per token)")
    args = parser.parse_args(argv)
    if args.command == "write":
        print(write_corpus(args.path, args.tokens, args.seed))
    else:
        print(f"{source().entropy_rate():.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
