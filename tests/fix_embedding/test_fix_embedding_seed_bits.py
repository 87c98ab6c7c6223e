"""make_assets.py uses every bit of its secret seeds: seeds that agree in their low 32 bits draw differently.

Until 2026-11-25 the corruption came from torch.Generator().manual_seed(secrets.randbits(63)) and the big
model's initial weights from torch.manual_seed: torch keeps only a seed's low 32 bits, so a reviewer
tried the 2**32 possible corruption seeds one by one (the right one's noise correlates 0.55-0.59 with
the shipped embedding, wrong ones at most 0.06; about 60 core-hours) and then inverted the corruption
exactly, solving the task without training. Now both draw from numpy's PCG64 seeded with 128 bits."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types

from envsupport import ENVIRONMENTS, require_modules

require_modules("torch", "numpy")

import torch  # noqa: E402

ENV_DIR = ENVIRONMENTS / "fix_embedding"
SEED = 0x5EED_1234_ABCD  # below 2**63, so that the old code accepts it and it plus 2**32


def load_make_assets():
    """environments/fix_embedding/make_assets.py, imported by path."""
    spec = importlib.util.spec_from_file_location("fix_embedding_make_assets_bits", ENV_DIR / "make_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_corruption_differs_for_seeds_equal_in_their_low_bits():
    """corrupt(weight, seed) as main() calls it: s, s + 2**32, s + 2**64 and s + 2**127 all differ."""
    make_assets = load_make_assets()
    weight = torch.randn(48, 96, generator=torch.Generator().manual_seed(0))
    base = make_assets.corrupt(weight, SEED)
    assert torch.equal(base, make_assets.corrupt(weight, SEED)), "the same seed must give the same corruption"
    for high in (2**32, 2**64, 2**127):
        other = make_assets.corrupt(weight, SEED + high)
        assert not torch.allclose(base, other), f"seed + 2**{high.bit_length() - 1} gives the same corruption"


def test_the_recipe_draws_init_and_corruption_from_all_128_bits(tmp_path, monkeypatch, capsys):
    """main() with the secret draws replaced by s and s + 2**32: the initial weights and the corruption differ."""
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)  # model_module() sets it
    make_assets = load_make_assets()
    monkeypatch.setattr(make_assets, "CORPUS_TOKENS", 20_000)
    # No training, so that the saved state is the initial weights plus the corruption (the batch order
    # already came from numpy with all of its seed's bits).
    monkeypatch.setattr(make_assets, "train", lambda *args, **kwargs: None)
    asked: list[int] = []
    states = []
    for run, high in (("a", 0), ("b", 2**32)):
        draws = iter([SEED + high, SEED + 1 + high])

        def randbits(k: int, draws=draws) -> int:
            asked.append(k)
            return next(draws)

        monkeypatch.setattr(make_assets, "secrets", types.SimpleNamespace(randbits=randbits))
        folder = tmp_path / run
        folder.mkdir()
        for name in ("model.py", "small.pt"):
            shutil.copy(ENV_DIR / "starting" / name, folder)
        monkeypatch.setattr(make_assets, "STARTING", folder)
        threads = torch.get_num_threads()
        try:
            with torch.random.fork_rng():
                assert make_assets.main(["--big-only"]) == 0
        finally:
            torch.set_num_threads(threads)
        states.append(torch.load(folder / "big_corrupted.pt", weights_only=True))
    capsys.readouterr()
    a, b = states
    random_init = [k for k in a if not k.endswith("bias") and ".ln" not in k and not k.startswith("ln_")]
    same = [k for k in random_init if torch.equal(a[k], b[k])]
    assert not same, f"seeds equal in their low 32 bits draw the same {same}"
    assert asked and all(k >= 128 for k in asked), f"secret seeds of {asked} bits"
