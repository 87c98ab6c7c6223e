"""fix_embedding: the manifest loads, the starting and reference solutions score near 0 and 1 on tiny
(in this process and through the real runner), and the shipped models are what the design says."""

from __future__ import annotations

import math

import pytest

from envsupport import (ENVIRONMENTS, manifest, normalized, reference_candidate, require_modules, score_directly, score_with_cli, starting_candidate)

require_modules("torch", "numpy")

NAME = "fix_embedding"
ENV_DIR = ENVIRONMENTS / NAME


def test_registry_loads_the_environment_without_problems():
    from environments.registry import load_registry

    registry = load_registry([ENVIRONMENTS])
    assert not [p for p in registry.problems if NAME in str(p)]
    env = registry.get(NAME)
    assert set(env.variants) >= {"main", "tiny"}
    assert env.metric.transform == "ln_minus_floor" and env.metric.direction == "lower"
    for name in ("instructions.md", "SCORING.md", "make_assets.py", "starting/model.py", "starting/solution.py"):
        assert (ENV_DIR / name).is_file(), name
    for name in ("train.bin", "small.pt", "big_corrupted.pt"):  # small binaries only
        assert (ENV_DIR / "starting" / name).stat().st_size < 2_000_000, name


@pytest.fixture(scope="module")
def start_and_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fe")
    return (score_directly(NAME, starting_candidate(NAME, tmp)),
            score_directly(NAME, reference_candidate(NAME, tmp)))


def test_starting_solution_scores_near_zero(start_and_reference):
    result = start_and_reference[0]
    assert result["valid"], result["message"]
    assert abs(normalized(NAME, result["raw"])) < 0.15, result
    assert result["details"]["loss"] > math.log(48), "the corrupted model should be worse than uniform"


def test_reference_solution_scores_near_one(start_and_reference):
    result = start_and_reference[1]
    assert result["valid"], result["message"]
    assert abs(normalized(NAME, result["raw"]) - 1) < 0.15, result
    details = result["details"]
    assert math.isclose(details["loss"], details["floor"] + details["excess"])
    assert abs(details["sampled_loss"] - details["loss"]) < 0.1  # the plain loss agrees with the estimate


def test_evaluation_text_is_fresh_at_every_scoring(tmp_path):
    """Two scorings with different secret seeds see different text: the sampled losses differ."""
    start = starting_candidate(NAME, tmp_path)
    a = score_directly(NAME, start, seed=1, eval_seqs=16)
    b = score_directly(NAME, start, seed=2, eval_seqs=16)
    assert a["valid"] and b["valid"]
    assert a["details"]["sampled_loss"] != b["details"]["sampled_loss"]


def test_bad_params_are_named():
    from envsupport import load_module
    from scoring.api import ScoringContext

    scorer = load_module(ENV_DIR / "scorer.py", "fix_embedding_scorer_params")
    ctx = ScoringContext(environment=NAME, variant="tiny", params={"eval_seqs": "many"},
                         candidate_dir=ENV_DIR / "starting", deadline=0.0)
    with pytest.raises(ValueError, match="eval_seqs"):
        scorer.score(ctx)


def test_cli_scores_the_reference_through_the_runner(tmp_path):
    """`rearena score fix_embedding:tiny PATH --json`: the runner, the scorer's process, the candidate's."""
    candidate = reference_candidate(NAME, tmp_path)
    result = score_with_cli(NAME, candidate, tmp_path, timeout_s=120)
    assert result["valid"] and math.isfinite(result["raw"]), result
    spec = manifest(NAME)["variants"]["tiny"]["calibration"]
    assert abs((result["raw"] - spec["start"]) / (spec["reference"] - spec["start"]) - 1) < 0.15, result
