"""Scorer of the fix_embedding environment.

1. Calls the candidate's `fixed_weights(params)` once (its own limited process, tripwire on) and
   decodes the answer with scoring.lm.weights.load_state against the big model's names and shapes.
2. Every tensor except `tok_emb.weight` must be bit-identical to the pristine big_corrupted.pt
   (this folder's starting/, not the candidate's copy): else invalid, "changed_frozen_weights".
3. Loads the weights into this folder's pristine starting/model.py and measures its loss on fresh
   hidden text (drawn from the source with the scorer's secret RNG at every scoring): positions
   >= 2 of `eval_seqs` sequences of CONTEXT tokens. At every position the model's cross-entropy is
   taken in expectation over the source's exact next-token distribution, so
   excess = mean KL(source || model) >= 0 and loss = floor + excess.

raw = ln(loss - floor) = ln(excess), floor = the source's entropy rate; lower is better.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from scoring.api import Invalid, ScoringContext, load_module
from scoring.lm.source import fresh_rng, source
from scoring.lm.weights import load_state, shapes_of

ENTRY_FILE = "solution.py"
ENTRY_FUNCTION = "fixed_weights"
HERE = Path(__file__).resolve().parent
PRISTINE = HERE / "starting"
TRAINABLE = ("tok_emb.weight",)
EVAL_RESERVE_S = 10.0  # kept back from the candidate's call for loading and evaluating its weights


def model_module():
    """The participant-facing starting/model.py, imported by path from this (pristine) folder."""
    return load_module(PRISTINE / "model.py", "fix_embedding_pristine_model")


def check_frozen(state: dict[str, torch.Tensor], frozen: dict[str, torch.Tensor]) -> None:
    """Raise Invalid("changed_frozen_weights") naming the first tensor that is not bit-identical."""
    for name, expected in frozen.items():
        if name in TRAINABLE:
            continue
        got = state[name]
        if not torch.equal(got.view(torch.int32), expected.view(torch.int32)):
            changed = int((got.view(torch.int32) != expected.view(torch.int32)).sum())
            diff = float((got.double() - expected.double()).abs().max())
            raise Invalid(
                f"changed frozen weights: {name} differs from big_corrupted.pt in {changed} of "
                f"{expected.numel()} values (max |difference| {diff:.3g}); only "
                f"{', '.join(TRAINABLE)} may change",
                reason="changed_frozen_weights", details={"tensor": name, "values_changed": changed},
            )


@torch.no_grad()
def excess_loss(model, tokens: np.ndarray) -> tuple[float, float]:
    """(mean KL(source || model), mean sampled cross-entropy), over positions >= 2 of tokens."""
    src = source()
    x = torch.from_numpy(tokens)
    logq = torch.log_softmax(model(x[:, :-1]).double(), dim=-1)[:, 1:]  # predicts tokens 2..T-1
    p = torch.from_numpy(src.probs[tokens[:, :-2], tokens[:, 1:-1]])  # (n, T-2, V) exact next-token probs
    kl = (p * (torch.log(p) - logq)).sum(-1)
    sampled = -logq.gather(-1, x[:, 2:, None]).squeeze(-1)
    return float(kl.mean()), float(sampled.mean())


def _params(ctx: ScoringContext) -> tuple[int, float, dict]:
    try:
        eval_seqs, call_timeout_s = int(ctx.params["eval_seqs"]), float(ctx.params["call_timeout_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"fix_embedding variant {ctx.variant!r} needs params eval_seqs (int) and "
                         f"call_timeout_s (number); got {ctx.params!r} ({exc})") from None
    if eval_seqs < 1 or call_timeout_s <= 0:
        raise ValueError(f"fix_embedding variant {ctx.variant!r}: need eval_seqs >= 1 and call_timeout_s > 0")
    handed = {"variant": ctx.variant, "train_steps": int(ctx.params.get("train_steps", 0)),
              "time_limit_s": call_timeout_s}
    return eval_seqs, call_timeout_s, handed


def score(ctx: ScoringContext) -> dict:
    eval_seqs, call_timeout_s, handed = _params(ctx)
    m = model_module()
    model = m.big_model()
    frozen = torch.load(PRISTINE / "big_corrupted.pt", map_location="cpu", weights_only=True)
    with ctx.candidate(ENTRY_FILE, ENTRY_FUNCTION, tripwire=True) as cand:
        timeout = max(1.0, min(call_timeout_s, ctx.remaining() - EVAL_RESERVE_S))
        answer, seconds = cand.timed_call(handed, timeout=timeout)
    ctx.log(f"fixed_weights returned in {seconds:.2f} s")
    state = load_state(answer, shapes_of(model), what="the weights returned by fixed_weights")
    check_frozen(state, frozen)
    model.load_state_dict(state)
    model.eval()
    floor = source().entropy_rate()
    tokens = source().sample(fresh_rng(ctx.rng), eval_seqs, m.CONTEXT)
    excess, sampled = excess_loss(model, tokens)
    if not (math.isfinite(excess) and math.isfinite(sampled)):
        raise Invalid("the fixed model's loss is not finite (its outputs overflow): check the embedding's scale",
                      reason="non_finite_loss", details={"excess": str(excess), "sampled_loss": str(sampled)})
    excess = max(excess, 1e-12)  # KL is >= 0; rounding cannot make ln undefined
    loss = floor + excess
    positions = eval_seqs * (m.CONTEXT - 2)
    return {
        "raw": math.log(excess),
        "message": f"loss {loss:.4f} nats/token (floor {floor:.4f}, excess {excess:.4f}) on "
                   f"{positions} fresh positions",
        "details": {
            "loss": loss,
            "floor": floor,
            "excess": excess,
            "sampled_loss": sampled,
            "positions": positions,
            "call_seconds": seconds,
            "params_handed": handed,
        },
    }
