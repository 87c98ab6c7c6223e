"""The rolling_median environment's scorer, driven directly through score(ctx) on the tiny variant."""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from envsupport import load_module
from scoring.api import ScoringContext, WrongAnswer

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = ROOT / "environments" / "rolling_median"
REF_DIR = ROOT / "reference_solutions" / "rolling_median"
BAD = Path(__file__).resolve().parent / "candidates"


scorer = load_module(ENV_DIR / "scorer.py", "rolling_median_scorer_under_test")
MANIFEST = tomllib.loads((ENV_DIR / "environment.toml").read_text())
TINY = MANIFEST["variants"]["tiny"]["params"]


def score(candidate_dir: Path, seed: int | None = 1234, params: dict | None = None) -> dict:
    """score(ctx) on a throw-away copy of the candidate (its process may leave __pycache__ behind)."""
    work = Path(tempfile.mkdtemp(prefix="rolling_median-"))
    try:
        shutil.copytree(candidate_dir, work / "candidate")
        return _score(work / "candidate", seed, params)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _score(candidate_dir: Path, seed: int | None, params: dict | None) -> dict:
    ctx = ScoringContext(
        environment="rolling_median",
        variant="tiny",
        params=dict(params or TINY),
        candidate_dir=candidate_dir,
        deadline=time.monotonic() + 60,
        rng=random.Random(seed) if seed is not None else random.SystemRandom(),
    )
    return scorer.score(ctx)


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> Path:
    """The starting files with the reference solution laid over them."""
    path = tmp_path_factory.mktemp("rolling_median") / "reference"
    shutil.copytree(ENV_DIR / "starting", path)
    shutil.copytree(REF_DIR, path, dirs_exist_ok=True)
    return path


def _random_inputs(rng: random.Random, count: int):
    kinds = ["mixed", "uniform", "integers", "negative", "ascending", "descending", "constant"]
    for _ in range(count):
        window = rng.randint(1, 120)
        n = rng.randint(0, 600)
        yield scorer.make_values(rng, n, rng.choice(kinds)), window


def _hex(xs):
    return [x.hex() for x in xs]


# -- the manifest --------------------------------------------------------------------------


def test_manifest_names_the_scorer_entry_point_and_calibrations():
    assert MANIFEST["name"] == "rolling_median"
    assert MANIFEST["entry_point"] == f"{scorer.ENTRY_FILE}:{scorer.ENTRY_FUNCTION}"
    assert (ENV_DIR / MANIFEST["scoring"]["scorer"]).is_file()
    assert (ENV_DIR / "instructions.md").is_file()
    for cal in (MANIFEST["calibration"], MANIFEST["variants"]["tiny"]["calibration"]):
        assert cal["reference"] < cal["start"] - 1.0  # lower raw is better; a clear gap
        assert cal["hardware"]


# -- start and reference -------------------------------------------------------------------


def test_starting_and_reference_are_valid_and_ordered(reference_dir):
    start = score(ENV_DIR / "starting")
    reference = score(reference_dir)
    for result in (start, reference):
        assert math.isfinite(result["raw"])
        assert result["raw"] == pytest.approx(math.log(result["details"]["median_s"]))
        assert len(result["details"]["times_s"]) == TINY["repeats"]
        assert result["details"]["checks"] == 18 + TINY["repeats"]
        assert result["message"].startswith("median ")
    # lower raw is better: the reference is much faster than the starting solution
    assert reference["raw"] < start["raw"] - 1.0, (start["message"], reference["message"])


def test_numpy_candidate_returning_an_array_is_valid():
    pytest.importorskip("numpy")
    result = score(BAD / "numpy_ok")
    assert math.isfinite(result["raw"])


# -- the trusted implementation and the reference ------------------------------------------


def test_trusted_implementation_equals_sorting_every_window():
    naive = load_module(ENV_DIR / "starting" / "solution.py", "rolling_median_start_under_test").rolling_median
    rng = random.Random(7)
    for values, window in _random_inputs(rng, 150):
        assert _hex(scorer.trusted_rolling_median(values, window)) == _hex(naive(values, window))


def test_reference_is_bit_identical_to_the_scorers_implementation():
    reference = load_module(REF_DIR / "solution.py", "rolling_median_reference_under_test").rolling_median
    rng = random.Random(11)
    for values, window in _random_inputs(rng, 300):
        assert _hex(reference(values, window)) == _hex(scorer.trusted_rolling_median(values, window))
    for window in (1, 2, 3, 1000, 1001):  # a few larger ones, at the main variant's window
        values = scorer.make_values(rng, 5000, "mixed")
        assert _hex(reference(values, window)) == _hex(scorer.trusted_rolling_median(values, window))


def test_edge_cases_of_the_trusted_implementation():
    f = scorer.trusted_rolling_median
    assert f([], 3) == []
    assert f([1.0, 2.0], 3) == []
    assert f([5.0, 1.0, 3.0], 1) == [5.0, 1.0, 3.0]
    assert f([1.0, 2.0, 4.0, 8.0], 2) == [1.5, 3.0, 6.0]
    assert f([3.0, 1.0, 2.0, 2.0], 3) == [2.0, 2.0]
    with pytest.raises(ValueError):
        f([1.0], 0)


# -- bad candidates ------------------------------------------------------------------------


def test_wrong_on_even_windows_is_rejected():
    with pytest.raises(WrongAnswer) as info:
        score(BAD / "even_window_wrong")
    message = str(info.value)
    assert "case 'window 2'" in message and "window=2)" in message
    assert "index " in message and "expected " in message and "got " in message
    assert info.value.reason == "wrong_answer"
    assert info.value.details["case"] == "case 'window 2'"


def test_wrong_length_is_rejected():
    with pytest.raises(WrongAnswer) as info:
        score(BAD / "wrong_length")
    message = str(info.value)
    assert "case 'one value, window 1'" in message
    assert "expected a list of length 1" in message and "got a list of length 0" in message
    assert info.value.details == {"case": "case 'one value, window 1'", "expected_length": 1, "got_length": 0}


def test_wrong_only_on_large_inputs_is_caught_on_a_timed_call():
    with pytest.raises(WrongAnswer) as info:
        score(BAD / "wrong_on_large")
    message = str(info.value)
    n, window = TINY["n"], TINY["window"]
    assert f"timed call 1 of {TINY['repeats']} (n={n}, window={window})" in message
    assert f"index {n - window}: expected " in message and "got " in message


def test_answers_of_the_wrong_type_are_rejected():
    with pytest.raises(WrongAnswer, match="expected a list of 2 floats, got tuple"):
        scorer.check_answer("case 'x'", [1.0, 2.0, 3.0], 2, (1.5, 2.5))
    with pytest.raises(WrongAnswer, match="index 1: expected a float, got int 2"):
        scorer.check_answer("case 'x'", [1.0, 2.0, 3.0], 1, [1.0, 2, 3.0])
    with pytest.raises(WrongAnswer, match=r"index 0: expected 1\.5, got 1\.0"):
        scorer.check_answer("case 'x'", [1.0, 2.0, 3.0], 2, [1.0, 2.5])
    scorer.check_answer("case 'x'", [1.0, 2.0, 3.0], 2, [1.5, 2.5])


def test_bad_variant_params_are_reported():
    with pytest.raises(ValueError, match="needs integer params n, window, repeats"):
        score(ENV_DIR / "starting", params={"n": 10})
    with pytest.raises(ValueError, match="1 <= window <= n"):
        score(ENV_DIR / "starting", params={"n": 10, "window": 20, "repeats": 1})
