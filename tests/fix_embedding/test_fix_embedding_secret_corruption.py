"""The corruption of big_corrupted.pt's embedding cannot be undone from the repository: its seed is secret.

The candidate below is a reviewer's: it regenerates the permutation, scales and noise from the seed that
make_assets.py used to state (7) and inverts them, with no training. On the assets made with that seed it
scored normalized 8.7 on tiny; on assets corrupted with a secret seed it must not beat the starting
solution by much."""

from __future__ import annotations

import re

from envsupport import ENVIRONMENTS, normalized, require_modules, score_directly, starting_candidate

require_modules("torch", "numpy")

NAME = "fix_embedding"
INVERTS_SEED_7 = '''
import numpy as np
import torch
from model import HERE, big_model, load, to_bytes


def fixed_weights(params: dict) -> bytes:
    model = load(big_model(), HERE / "big_corrupted.pt")
    state = dict(model.state_dict())
    C = state["tok_emb.weight"].double()
    g = torch.Generator().manual_seed(7)
    perm = torch.randperm(C.shape[0], generator=g)
    scale = torch.exp(torch.empty(C.shape[0], 1).uniform_(np.log(0.3), np.log(3.0), generator=g)).double()
    unit = torch.randn(C.shape, generator=g).double()
    s = float((C * unit).sum() / (unit * unit).sum())  # noise scale by least squares
    V = (C - unit * s) / scale
    W = torch.empty_like(V)
    W[perm] = V
    state["tok_emb.weight"] = W.float().contiguous()
    return to_bytes(state)
'''


def test_inverting_a_guessed_corruption_seed_gains_nothing(tmp_path):
    candidate = starting_candidate(NAME, tmp_path)
    (candidate / "solution.py").write_text(INVERTS_SEED_7)
    result = score_directly(NAME, candidate)
    assert result["valid"], result["message"]
    assert normalized(NAME, result["raw"]) < 0.3, result


def test_make_assets_draws_the_corruption_seed_at_random_and_keeps_it():
    """No fixed seed reaches corrupt(): it is drawn by `secrets` and never printed or written."""
    source = (ENVIRONMENTS / NAME / "make_assets.py").read_text()
    calls = re.findall(r"corrupt\((.+)\)\n", source)
    assert calls == ['state["tok_emb.weight"], secrets.randbits(128)'], calls
    assert "CORRUPTION_SEED" not in source
