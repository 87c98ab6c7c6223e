"""Regenerate the starting files' binaries: train.bin, small.pt (deterministic) and big_corrupted.pt (secret seeds).

    .venv/bin/python environments/fix_embedding/make_assets.py [--big-only]

1. train.bin: CORPUS_TOKENS tokens of the hidden source (scoring.lm.source.write_corpus, seed CORPUS_SEED).
2. Trains the small model (d=32, seed SMALL_SEED) and the big model (d=96) on it with AdamW,
   single-threaded, for a fixed number of steps each. `--big-only` leaves small.pt as it is.
3. Corrupts the big model's token embedding (rows permuted, each row rescaled, plus noise) and
   saves the result; the intact big weights are never written anywhere.
The big model's training (its initialisation and its batch order) and the corruption each take a
secret seed (secrets.randbits(128)) that lives only in this process: never printed, written or
committed. With a public training seed, rerunning this recipe on train.bin would give the intact
model and its embedding; with a public corruption seed, the corruption could be recomputed and
inverted. Both seeds feed numpy's PCG64, never a torch generator: torch keeps only the low 32 bits
of a seed, and 2**32 corruption seeds can be tried one by one offline (see secret_generator()).
big_corrupted.pt therefore differs at every run, and the calibration must be measured again after one.
Prints each model's loss on fresh text from the source (positions >= 2) before and after.

train.bin and small.pt are bit-for-bit repeatable on one machine, not across CPUs: the shipped
small.pt and train.bin were made on an AMD EPYC (Zen 4); on an Intel Xeon small.pt comes out
different by about 1e-4 (train.bin identical).
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
STARTING = HERE / "starting"
sys.path.insert(0, str(HERE.parents[1]))

from scoring.lm.source import source, write_corpus  # noqa: E402

CORPUS_TOKENS = 1_500_000
CORPUS_SEED = 20_241
SMALL_STEPS = 2500
BIG_STEPS = 2000
SMALL_LR = 6e-3
BIG_LR = 3e-3
SMALL_SEED = 1
# The big model has no public seed: until 2026-11-25 it was BIG_SEED (2, then 3), so anyone could
# rerun the recipe and get the intact embedding; those models stay reproducible from history, hence
# a model trained from a secret seed (main()).


def model_module():
    """starting/model.py, imported by path."""
    spec = importlib.util.spec_from_file_location("fix_embedding_model", STARTING / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True  # no __pycache__ in starting/ (it is copied to participants)
    spec.loader.exec_module(module)
    return module


def secret_generator(seed: int) -> np.random.Generator:
    """numpy's PCG64 seeded with every bit of seed (make_assets gives it 128 secret bits).

    Not torch.Generator().manual_seed / torch.manual_seed: they keep only the seed's low 32 bits,
    and until 2026-11-25 the corruption came from such a generator, so each of the 2**32 candidate
    seeds could be tested alone (its noise correlates with the shipped embedding) in about 60
    core-hours, after which the corruption inverted exactly.
    """
    return np.random.Generator(np.random.PCG64(seed))


def init_weights(model: torch.nn.Module, rng: np.random.Generator) -> None:
    """Every parameter drawn anew from rng, from torch's default initialisation of its module."""
    done: set[int] = set()

    def fill(param: torch.Tensor, values) -> None:
        with torch.no_grad():
            param.copy_(torch.tensor(np.broadcast_to(values, param.shape), dtype=param.dtype))
        done.add(id(param))

    def linear_uniform(param: torch.Tensor, fan_in: int) -> None:  # kaiming_uniform_(a=sqrt(5)) and its bias
        bound = 1 / np.sqrt(fan_in)
        fill(param, rng.uniform(-bound, bound, param.shape))

    for module in model.modules():
        if isinstance(module, torch.nn.MultiheadAttention):  # its out_proj's bias is zeroed, unlike a Linear's
            w = module.in_proj_weight
            fill(w, rng.uniform(-1, 1, w.shape) * np.sqrt(6 / sum(w.shape)))  # xavier_uniform_
            fill(module.in_proj_bias, 0.0)
            linear_uniform(module.out_proj.weight, module.out_proj.in_features)
            fill(module.out_proj.bias, 0.0)
        elif isinstance(module, torch.nn.Linear) and id(module.weight) not in done:
            linear_uniform(module.weight, module.in_features)
            if module.bias is not None:
                linear_uniform(module.bias, module.in_features)
        elif isinstance(module, torch.nn.Embedding):
            fill(module.weight, rng.standard_normal(module.weight.shape))
        elif isinstance(module, torch.nn.LayerNorm):
            fill(module.weight, 1.0)
            fill(module.bias, 0.0)
    missed = [name for name, p in model.named_parameters() if id(p) not in done]
    assert not missed, f"init_weights does not know how to draw {missed}"


def train(m, model, data: np.ndarray, steps: int, rng: np.random.Generator, lr: float = 3e-3) -> None:
    """AdamW with a linear warm-up and cosine decay, batch 32 x CONTEXT, batches drawn from rng."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + np.cos(np.pi * s / steps)))
    start = time.perf_counter()
    for step in range(steps):
        loss = m.loss_on(model, m.batch(data, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"  step {step}: train loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


@torch.no_grad()
def eval_loss(model, seed: int = 99, n_seqs: int = 256) -> float:
    """Mean cross-entropy on fresh source text, positions >= 2 (what the scorer measures)."""
    tokens = torch.from_numpy(source().sample(np.random.default_rng(seed), n_seqs, 64))
    logits = model(tokens[:, :-1])[:, 1:]
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 2:].reshape(-1)))


def corrupt(weight: torch.Tensor, seed: int) -> torch.Tensor:
    """Rows permuted, each rescaled by a factor in [0.3, 3], plus Gaussian noise of the rows' scale.

    The seed must be secret, and all of its bits used (secret_generator): whoever knows it can
    regenerate the permutation, scales and noise and undo them exactly (the noise is fitted back by
    least squares), with no training at all.
    """
    rng = secret_generator(seed)
    n = weight.shape[0]
    perm = torch.from_numpy(rng.permutation(n))
    scale = torch.from_numpy(np.exp(rng.uniform(np.log(0.3), np.log(3.0), (n, 1)))).to(weight.dtype)
    noise = torch.from_numpy(rng.standard_normal(tuple(weight.shape))).to(weight.dtype) * weight.std()
    return (weight[perm] * scale + noise).contiguous()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate fix_embedding's starting binaries.")
    parser.add_argument("--big-only", action="store_true", help="keep small.pt; make train.bin and big_corrupted.pt")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the same floating-point results whatever the machine's core count
    m = model_module()
    write_corpus(STARTING / "train.bin", CORPUS_TOKENS, CORPUS_SEED)
    data = m.corpus(STARTING / "train.bin")
    print(f"corpus: {len(data)} tokens; floor (entropy rate) {source().entropy_rate():.4f}")

    if not args.big_only:
        torch.manual_seed(SMALL_SEED)
        small = m.small_model()
        print("small model:")
        train(m, small, data, SMALL_STEPS, np.random.default_rng(SMALL_SEED), lr=SMALL_LR)
        print(f"  eval loss {eval_loss(small):.4f}")
        torch.save(small.state_dict(), STARTING / "small.pt")

    # Never print, log or store this seed: with it, the recipe reproduces the intact big model.
    rng = secret_generator(secrets.randbits(128))
    big = m.big_model()
    init_weights(big, rng)  # the initial weights, not from torch's generator (32 bits of seed)
    print("big model:")
    train(m, big, data, BIG_STEPS, rng, lr=BIG_LR)  # the batch order
    print(f"  eval loss {eval_loss(big):.4f} (intact)")
    state = {k: v.clone() for k, v in big.state_dict().items()}
    # Never print, log or store this seed (see corrupt()).
    state["tok_emb.weight"] = corrupt(state["tok_emb.weight"], secrets.randbits(128))
    big.load_state_dict(state)
    print(f"  eval loss {eval_loss(big):.4f} (corrupted)")
    torch.save(state, STARTING / "big_corrupted.pt")
    for name in ("train.bin", "small.pt", "big_corrupted.pt"):
        print(f"{name}: {(STARTING / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
