"""`calibrate` refuses what would normalize wrongly: a reference that does not beat the start (in the
metric's direction), a gap within the run-to-run spread, no runs, no reference; and the digest covers exactly
what materialize_candidate copies into a candidate (links followed, dot-files kept)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from environments.registry import materialize_candidate
from scoring.calibrate import CalibrationError, calibrate, calibration_digest

SLOW_REFERENCE = "import time\n\ndef total(values):\n    time.sleep(0.02)\n    return sum(values)\n"


def clone(sum_env, root: Path, reference: str | None):
    """sum_env copied under root/environments, with reference_solutions/sum_env/solution.py if given."""
    path = root / "environments" / "sum_env"
    shutil.copytree(sum_env.path, path, ignore=shutil.ignore_patterns("__pycache__"))
    if reference is not None:
        (root / "reference_solutions" / "sum_env").mkdir(parents=True)
        (root / "reference_solutions" / "sum_env" / "solution.py").write_text(reference)
    return dataclasses.replace(sum_env, path=path, starting_dir=path / "starting", scorer=path / "scorer.py")


def test_a_reference_slower_than_the_start_is_refused_naming_both_and_the_direction(sum_env, tmp_path):
    env = clone(sum_env, tmp_path, SLOW_REFERENCE)  # seconds, lower is better: this reference is slower
    with pytest.raises(CalibrationError) as caught:
        calibrate(env, "tiny", runs=1)
    text = str(caught.value)
    assert "does not beat the starting solution" in text and "lower is better" in text
    assert "reference raw " in text and "start raw " in text


def test_a_higher_is_better_metric_is_judged_the_other_way(sum_env):
    from scoring.calibrate import check_gap

    higher = dataclasses.replace(sum_env, metric=dataclasses.replace(sum_env.metric, direction="higher"))
    check_gap(higher, [1.0, 1.01], [2.0, 2.01])  # the reference is higher: fine
    with pytest.raises(CalibrationError, match="higher is better"):
        check_gap(higher, [2.0], [1.0])
    with pytest.raises(CalibrationError, match="does not beat"):
        check_gap(sum_env, [1.0], [1.0])  # equal: cannot normalize


def test_a_gap_within_the_run_to_run_spread_is_refused(sum_env):
    from scoring.calibrate import check_gap

    assert check_gap(sum_env, [-6.0, -6.1, -5.9], [-8.0, -8.1, -7.9]) == (-6.0, -8.0)  # a clear gap (lower is better)
    with pytest.raises(CalibrationError, match="within the run-to-run spread of the runs") as caught:
        check_gap(sum_env, [-6.0, -5.0, -6.1], [-6.3, -6.4, -6.2])  # 0.3 apart, the start's runs span 1.1
    assert "1.1000" in str(caught.value) and "0.3000" in str(caught.value)


def test_no_runs_and_no_reference_are_refused_clearly(sum_env, tmp_path):
    env = clone(sum_env, tmp_path, "def total(values):\n    return sum(values)\n")
    for runs in (0, -2):
        with pytest.raises(CalibrationError, match="at least 1"):
            calibrate(env, "tiny", runs=runs)
    without = clone(sum_env, tmp_path / "without", None)
    with pytest.raises(CalibrationError, match="no reference solution"):
        calibrate(without, "tiny", runs=1)


def _copied(env, tmp_path: Path) -> set[str]:
    dest = materialize_candidate(env, "tiny", tmp_path / "candidate")
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


def test_the_digest_covers_files_behind_a_linked_folder_in_starting(sum_env, tmp_path):
    env = clone(sum_env, tmp_path, "def total(values):\n    return sum(values)\n")
    outside = tmp_path / "outside_lib"
    outside.mkdir()
    (outside / "helper.py").write_text("FAST = False\n")
    os.symlink(outside, env.path / "starting" / "lib")
    assert "lib/helper.py" in _copied(env, tmp_path)  # a candidate gets the linked folder's files
    before = calibration_digest(env, "tiny")
    (outside / "helper.py").write_text("FAST = True\n")
    assert calibration_digest(env, "tiny") != before


def test_the_digest_covers_dot_files_in_starting_as_candidates_get_them(sum_env, tmp_path):
    env = clone(sum_env, tmp_path, "def total(values):\n    return sum(values)\n")
    (env.path / "starting" / ".config").write_text("threads = 1\n")
    assert ".config" in _copied(env, tmp_path)
    before = calibration_digest(env, "tiny")
    (env.path / "starting" / ".config").write_text("threads = 8\n")
    assert calibration_digest(env, "tiny") != before
