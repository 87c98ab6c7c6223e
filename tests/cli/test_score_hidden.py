"""`rearena score` in an environment whose scores are hidden: inside a trial's shell ($REARENA_TRIAL) it shows
what `rearena task score` shows (the verdict only); outside one (an operator) the full result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testpaths import REPO, TEST_ENV_ROOT


@pytest.fixture
def hidden_envs(tmp_path) -> Path:
    """A root holding hidden_sum: sum_env with visible = false (its message states the median time)."""
    return hidden_env_root(tmp_path)


def hidden_env_root(tmp_path) -> Path:
    """Write, under tmp_path, a root holding hidden_sum: sum_env with visible = false; the root."""
    envs = tmp_path / "envs"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", envs / "hidden_sum", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = envs / "hidden_sum" / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', 'name = "hidden_sum"')
                        .replace("visible = true", "visible = false"))
    return envs


def rearena(tmp_path, envs, *args, trial=None):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(envs))
    env.pop("REARENA_TRIAL", None)
    env.pop("REARENA_DB", None)
    if trial is not None:
        env["REARENA_TRIAL"] = str(trial)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def starting(envs) -> str:
    return str(envs / "hidden_sum" / "starting")


def test_inside_a_trial_the_json_has_the_verdict_only(tmp_path, hidden_envs):
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", starting(hidden_envs), "--json", trial=1)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["valid"] is True and data["environment"] == "hidden_sum" and data["variant"] == "tiny"
    assert "hidden" in data["message"] and "median" not in data["message"]
    for key in ("raw", "normalized", "details", "calibration", "duration_s"):
        assert key not in data, key


def test_inside_a_trial_the_text_says_the_scores_are_hidden(tmp_path, hidden_envs):
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", starting(hidden_envs), trial=7)
    assert out.returncode == 0, out.stderr
    assert "hidden_sum:tiny: valid; scores are hidden in this environment" in out.stdout
    for word in ("raw", "normalized", "median", "calibration"):
        assert word not in out.stdout, (word, out.stdout)


def test_inside_a_trial_an_invalid_result_still_says_what_was_wrong(tmp_path, hidden_envs):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "solution.py").write_text("def total(values):\n    return -1\n")
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", str(bad), trial=1)
    assert out.returncode == 1
    assert "INVALID (wrong_answer) wrong answer" in out.stdout and "scores are hidden" in out.stdout
    data = json.loads(rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", str(bad), "--json", trial=1).stdout)
    assert data["reason"] == "wrong_answer" and "wrong answer" in data["message"] and "raw" not in data


def test_outside_a_trial_an_operator_sees_everything(tmp_path, hidden_envs):
    data = json.loads(rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", starting(hidden_envs), "--json").stdout)
    assert data["valid"] and data["raw"] is not None and data["normalized"] is not None
    assert "median" in data["message"] and data["details"]["times_s"]
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", starting(hidden_envs))
    assert "VALID" in out.stdout and "raw score" in out.stdout and "median" in out.stdout


def test_a_visible_environment_shows_everything_inside_a_trial(tmp_path):
    data = json.loads(rearena(tmp_path, TEST_ENV_ROOT, "score", "sum_env:tiny", str(TEST_ENV_ROOT / "sum_env" / "starting"),
                              "--json", trial=1).stdout)
    assert data["raw"] is not None and "median" in data["message"]


def test_recording_into_the_trial_of_this_shell_hides_the_score(tmp_path, hidden_envs):
    out = rearena(tmp_path, hidden_envs, "trial", "start", "hidden_sum:tiny", "--participant", "ada")
    assert out.returncode == 0, out.stderr
    trial = out.stdout.split()[1].rstrip(":")
    workdir = next(x.split(": ", 1)[1] for x in out.stdout.splitlines() if x.startswith("workdir"))
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", workdir, "--record", trial, trial=trial)
    assert out.returncode == 0, out.stderr
    assert "valid; score recorded; scores are hidden in this environment" in out.stdout
    assert "raw" not in out.stdout and "median" not in out.stdout
