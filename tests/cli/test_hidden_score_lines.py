"""Where scores are hidden, `rearena task score` and `rearena score --record` (inside the trial's shell) say a
scoring the same way (console.trials.hidden.participant_lines), the first naming the submission, the second the
environment; an invalid one still says what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_score_hidden import hidden_env_root, rearena

HIDDEN = "score recorded; scores are hidden in this environment"


@pytest.fixture
def hidden_envs(tmp_path) -> Path:
    return hidden_env_root(tmp_path)


def test_task_score_and_score_record_say_a_hidden_scoring_alike(tmp_path, hidden_envs):
    out = rearena(tmp_path, hidden_envs, "trial", "start", "hidden_sum:tiny", "--participant", "ada")
    assert out.returncode == 0, out.stderr
    trial = out.stdout.split()[1].rstrip(":")
    workdir = next(line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("workdir"))

    out = rearena(tmp_path, hidden_envs, "task", "score", trial=trial)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"submission 1: valid; {HIDDEN}"]
    out = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", workdir, "--record", trial, trial=trial)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"hidden_sum:tiny: valid; {HIDDEN}"]

    Path(workdir, "solution.py").write_text("def total(values):\n    return -1\n")
    task = rearena(tmp_path, hidden_envs, "task", "score", trial=trial)
    record = rearena(tmp_path, hidden_envs, "score", "hidden_sum:tiny", workdir, "--record", trial, trial=trial)
    assert task.returncode == record.returncode == 1
    (task_verdict, task_hidden), (record_verdict, record_hidden) = task.stdout.splitlines(), record.stdout.splitlines()
    assert task_verdict.startswith("submission 3: INVALID (wrong_answer) ") and task_hidden == HIDDEN
    assert record_verdict.startswith("hidden_sum:tiny: INVALID (wrong_answer) ") and record_hidden == HIDDEN
    assert "expected" in task_verdict and "expected" in record_verdict  # what was wrong (each run its own inputs)
