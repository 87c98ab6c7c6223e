"""The scaling_law environment: registry, the hidden sweep, start and reference on tiny, the real
runner end to end, and the negative controls (controls/controls.toml)."""

from __future__ import annotations

import json
import math
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envsupport import (ENVIRONMENTS, check_control_folders, check_verdict, control_candidate, load_module, manifest, normalized, reference_candidate, require_modules, score_directly, score_with_cli, starting_candidate)

require_modules("torch", "numpy")

NAME = "scaling_law"
ENV_DIR = ENVIRONMENTS / NAME
CONTROLS = Path(__file__).resolve().parent / "controls"
EXPECTED = tomllib.loads((CONTROLS / "controls.toml").read_text())
OVERRIDES = {"hang": {"call_timeout_s": 1.5}, "trains_in_scoring": {"cpu_limit_s": 1.0}}
scorer = load_module(ENV_DIR / "scorer.py", "scaling_law_scorer_for_tests")
make_sweep = load_module(ENV_DIR / "make_sweep.py", "scaling_law_make_sweep_for_tests")


def test_environment_loads_through_the_registry_without_problems():
    from environments.registry import load_registry

    registry = load_registry()
    problems = [p for p in registry.problems if NAME in str(p.path)]
    assert problems == []
    env, variant = registry.resolve(f"{NAME}:tiny")
    assert env.name == NAME and variant.params["max_runs"] < env.variants["main"].params["max_runs"]


def test_the_sweep_is_current_and_covers_every_run_within_the_budget():
    """sweep.json was made from the current starting/lab.py and corpora, with the lab's grids and FLOPs."""
    data = json.loads((ENV_DIR / "sweep.json").read_text())
    lab = make_sweep.load_lab()
    assert data["lab_sha256"] == make_sweep.lab_digest(), "sweep.json is stale: run make_sweep.py"
    budget = max(v["params"]["budget"] for v in manifest(NAME)["variants"].values())
    sweep = scorer.load_sweep(budget)
    assert (sweep.widths, sweep.steps, sweep.tokens_per_step) == (lab.WIDTHS, lab.STEPS, lab.TOKENS_PER_STEP)
    assert sweep.params == {w: lab.n_params(w) for w in lab.WIDTHS}
    need = {(w, s) for w in lab.WIDTHS for s in lab.STEPS if lab.flops(w, s) <= budget}
    assert need <= set(sweep.losses)
    assert all(sweep.flops(w, s) == lab.flops(w, s) for w, s in need)
    assert all(math.isfinite(v) and 1.6 < v < 3.95 for v in sweep.losses.values())


def test_the_budget_has_an_interior_optimum_in_width():
    """Too narrow underfits, too wide gets too few steps: the best width is neither extreme."""
    budget = manifest(NAME)["variants"]["main"]["params"]["budget"]
    sweep = scorer.load_sweep(budget)
    best_of = {w: min(v for (w2, s), v in sweep.losses.items() if w2 == w and sweep.flops(w, s) <= budget)
               for w in sweep.widths}
    best_width = min(best_of, key=best_of.get)
    assert sweep.widths[0] < best_width < sweep.widths[-1]
    assert best_of[sweep.widths[-1]] - best_of[best_width] > 0.05
    assert best_of[sweep.widths[0]] - best_of[best_width] > 1.0


def test_lab_train_reproduces_a_sweep_value_and_counts_its_parameters():
    lab = make_sweep.load_lab()
    losses = scorer.load_sweep(1.0).losses
    assert lab.train(4, 200) == pytest.approx(losses[(4, 200)], abs=2e-4)
    for width in (1, 12, 128):
        assert sum(p[0].numel() for p in lab.init_params(width, 1, 0)) == lab.n_params(width)
    with pytest.raises(ValueError, match="width 5 is not one of"):
        lab.train(5, 200)


@pytest.mark.parametrize("who, target", [("starting", 0.0), ("reference", 1.0)])
def test_starting_and_reference_score_near_their_calibration_on_tiny(who, target, tmp_path):
    candidate = (starting_candidate if who == "starting" else reference_candidate)(NAME, tmp_path)
    result = score_directly(NAME, candidate)
    assert result["valid"], result["message"]
    assert abs(normalized(NAME, result["raw"]) - target) < 0.15, result["message"]
    details = result["details"]
    assert result["raw"] == pytest.approx(details["regret"] + details["prediction_error"])
    assert details["lab_flops"] <= details["runs"] * details["run_cap"]
    assert 0 <= details["candidate_cpu_s"] < 3


def test_real_runner_scores_the_reference_end_to_end(tmp_path):
    candidate = reference_candidate(NAME, tmp_path)
    verdict = score_with_cli(NAME, candidate, tmp_path, timeout_s=120)
    assert verdict["valid"], verdict
    assert abs(verdict["normalized"] - 1.0) < 0.15, verdict


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict:
    """Score every control once, two at a time."""
    tmp = tmp_path_factory.mktemp("controls")

    def run(name: str):
        return name, score_directly(NAME, control_candidate(NAME, CONTROLS / name, tmp), **OVERRIDES.get(name, {}))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, sorted(EXPECTED)))


def test_every_control_folder_is_listed():
    check_control_folders(CONTROLS, EXPECTED)
    assert len({spec["reason"] for spec in EXPECTED.values()}) >= 10


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_control_gets_its_verdict(name, verdicts):
    spec, result = EXPECTED[name], verdicts[name]
    check_verdict(name, result, spec["reason"], spec["hint"])


def test_scoring_needs_nothing_from_starting(tmp_path):
    """The docker runner copies the environment without starting/: the scorer must work from sweep.json alone."""
    import random
    import shutil
    import time

    from scoring.api import ScoringContext

    copy = tmp_path / "env"
    shutil.copytree(ENV_DIR, copy, ignore=shutil.ignore_patterns("starting", "__pycache__"))
    alone = load_module(copy / "scorer.py", "scaling_law_scorer_without_starting")
    candidate = reference_candidate(NAME, tmp_path)
    ctx = ScoringContext(environment=NAME, variant="tiny", params=dict(manifest(NAME)["variants"]["tiny"]["params"]),
                         candidate_dir=candidate, deadline=time.monotonic() + 60, rng=random.Random(1))
    try:
        out = alone.score(ctx)
    finally:
        for proc in ctx.processes:
            proc.kill(by_us=False)
    assert abs(normalized(NAME, out["raw"]) - 1.0) < 0.15, out["message"]
