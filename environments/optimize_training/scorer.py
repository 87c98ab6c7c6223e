"""Scorer of the optimize_training environment.

1. After an untimed warm-up call (2 steps, another seed), the candidate's `train(params)` is called with a fresh seed drawn from the scorer's secret
   RNG (it sets the initialisation and the data order), the variant's step count and batch size;
   the call is timed by the scorer's clock, from outside the candidate's process, with the
   tripwire on (reading the scorer's or the reference solution's files makes the result invalid).
2. The answer must be the bytes of torch.save(state_dict) with exactly the starting model's
   parameter names, shapes and dtype, all finite (scoring.lm.weights.load_state: "bad_weights").
3. The scorer then trains the same model itself (trusted_train.py: a fast restatement of the starting maths,
   kept outside starting/) with the same seed and compares: a mean absolute difference per weight above the
   variant's bound is "weights_mismatch".

raw = ln(seconds of the train() call); lower is better.
"""

from __future__ import annotations

import math
from pathlib import Path

from scoring.api import Invalid, ScoringContext, load_module
from scoring.lm.weights import load_state, mean_abs_difference

ENTRY_FILE = "solution.py"
ENTRY_FUNCTION = "train"
HERE = Path(__file__).resolve().parent
WARMUP_STEPS = 2
PARAM_NAMES = ("steps", "batch_size", "bound", "call_timeout_s", "trusted_reserve_s")


def _trusted():
    """trusted_train.py beside this file (the scorer's process has no package for it)."""
    return load_module(HERE / "trusted_train.py", "optimize_training_trusted")


def _params(ctx: ScoringContext) -> dict:
    try:
        p = {k: ctx.params[k] for k in PARAM_NAMES}
        p["steps"], p["batch_size"] = int(p["steps"]), int(p["batch_size"])
        for k in ("bound", "call_timeout_s", "trusted_reserve_s"):
            p[k] = float(p[k])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"optimize_training variant {ctx.variant!r} needs params {', '.join(PARAM_NAMES)}; "
                         f"got {ctx.params!r} ({exc!r})") from None
    if p["steps"] < 1 or p["batch_size"] < 1 or p["bound"] <= 0 or p["call_timeout_s"] <= 0:
        raise ValueError(f"optimize_training variant {ctx.variant!r}: steps, batch_size, bound and "
                         f"call_timeout_s must be positive, got {p!r}")
    return p


def score(ctx: ScoringContext) -> dict:
    p = _params(ctx)
    trusted = _trusted()
    shapes = trusted.expected_shapes()
    seed = ctx.rng.getrandbits(62)
    call = {"seed": seed, "steps": p["steps"], "batch_size": p["batch_size"]}
    timeout = max(1.0, min(p["call_timeout_s"], ctx.remaining() - p["trusted_reserve_s"]))
    with ctx.candidate(ENTRY_FILE, ENTRY_FUNCTION, tripwire=True) as cand:
        # An untimed warm-up of WARMUP_STEPS steps with another seed pays the first call's one-off
        # costs (torch's lazy imports, allocator) so that the timed call measures training.
        warmup = {"seed": ctx.rng.getrandbits(62), "steps": WARMUP_STEPS, "batch_size": p["batch_size"]}
        cand.call(warmup, timeout=timeout)
        answer, seconds = cand.timed_call(dict(call), timeout=timeout)
    ctx.log(f"train() returned after {seconds:.3f} s")
    weights = load_state(answer, shapes, what="the weights train() returned")

    expected = trusted.train_trusted(seed, p["steps"], p["batch_size"])
    distance = mean_abs_difference(weights, expected)
    ctx.log(f"trusted run done; mean |difference| per weight {distance:.3e} (bound {p['bound']:.1e})")
    details = {"seconds": seconds, "distance": distance, "bound": p["bound"], "steps": p["steps"],
               "batch_size": p["batch_size"], "seed": seed}
    if not distance <= p["bound"]:  # NaN fails too
        initial = mean_abs_difference(trusted.new_model(seed).state_dict(), expected)
        raise Invalid(
            f"weights_mismatch: the returned weights are {distance:.3e} from the trusted run's "
            f"(mean |difference| per weight), above the bound {p['bound']:.1e}; for scale, the untrained "
            f"initial weights are {initial:.3e} away. Train exactly {p['steps']} steps of "
            f"{p['batch_size']} sequences with params['seed'] and keep the starting maths, "
            f"init_weights and batch_offsets.",
            reason="weights_mismatch", details={**details, "initial_distance": initial})
    return {
        "raw": math.log(seconds),
        "message": f"trained {p['steps']} steps in {seconds:.3f} s; weights {distance:.2e} from the "
                   f"trusted run's (bound {p['bound']:.0e})",
        "details": details,
    }
