"""`rearena task ...` as a participant types it: real processes, a real SQLite file, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testpaths import REPO, TEST_ENV_ROOT


def rearena(tmp_path, *args, trial=None, roots=None, input=None):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"),
               REARENA_ENVIRONMENTS=roots or str(TEST_ENV_ROOT))
    env.pop("REARENA_TRIAL", None)
    env.pop("REARENA_DB", None)
    if trial is not None:
        env["REARENA_TRIAL"] = str(trial)
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, input=input)


def start(tmp_path, spec="sum_env:tiny", *extra, roots=None) -> tuple[str, Path]:
    out = rearena(tmp_path, "trial", "start", spec, "--participant", "grace", *extra, roots=roots)
    assert out.returncode == 0, out.stderr
    trial = out.stdout.split()[1].rstrip(":")
    workdir = Path(next(x.split(": ", 1)[1] for x in out.stdout.splitlines() if x.startswith("workdir")))
    return trial, workdir


def events(tmp_path, trial, kind):
    from console.store.db import open_store

    with open_store(None, tmp_path / "data") as store:
        return store.events(int(trial), kinds=[kind])


def test_a_whole_trial_with_task_commands(tmp_path):
    trial, workdir = start(tmp_path)
    out = rearena(tmp_path, "task", "score", trial=trial)
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout and "raw" in out.stdout and "normalized" in out.stdout
    out = rearena(tmp_path, "task", "stop", "--reason", "lunch", trial=trial)
    assert out.returncode == 0 and "paused (lunch)" in out.stdout
    out = rearena(tmp_path, "task", "status", trial=trial)
    assert out.returncode == 0, out.stderr
    assert "paused: lunch" in out.stdout and "remaining" in out.stdout and "backstop" in out.stdout
    assert "normalized" in out.stdout and "│ 1 " in out.stdout  # the submissions table
    assert rearena(tmp_path, "task", "pause", trial=trial).returncode == 1  # already paused
    out = rearena(tmp_path, "task", "start", trial=trial)
    assert out.returncode == 0 and "resumed" in out.stdout
    assert rearena(tmp_path, "task", "resume", trial=trial).returncode == 1  # not paused
    assert rearena(tmp_path, "task", "pause", trial=trial).returncode == 0
    assert rearena(tmp_path, "task", "resume", trial=trial).returncode == 0
    out = rearena(tmp_path, "task", "note", "trying", "a prefix sum", trial=trial)
    assert out.returncode == 0 and [e.data["text"] for e in events(tmp_path, trial, "note")] == ["trying a prefix sum"]
    out = rearena(tmp_path, "task", "instructions", trial=trial)
    assert out.returncode == 0 and "total(values)" in out.stdout
    status = json.loads(rearena(tmp_path, "task", "status", "--json", trial=trial).stdout)
    assert status["submissions"] == 1 and status["paused"] is None
    assert [e.data["reason"] for e in events(tmp_path, trial, "paused")] == ["lunch", "human"]

    out = rearena(tmp_path, "task", "submit", trial=trial)  # no terminal, no --yes
    assert out.returncode == 2 and "--yes" in out.stderr
    out = rearena(tmp_path, "task", "submit", "--yes", trial=trial)
    assert out.returncode == 0 and "submitted; final score" in out.stdout, out.stderr
    for args in (["score"], ["note", "late"], ["pause"], ["resume"], ["submit", "--yes"], ["instructions"]):
        out = rearena(tmp_path, "task", *args, trial=trial)
        assert out.returncode == 1 and "has ended (it was submitted)" in out.stderr, (args, out.stderr)
    out = rearena(tmp_path, "task", "status", trial=trial)
    assert out.returncode == 0 and "ended (submitted)" in out.stdout and "has ended" in out.stderr


def test_each_task_call_ingests_the_shells_commands_first(tmp_path):
    trial, workdir = start(tmp_path)
    log = workdir.parent / "commands.jsonl"
    log.write_text(json.dumps({"at": time.time(), "exit": 0, "command": "vim solution.py", "cwd": str(workdir)})
                   + "\n")
    assert rearena(tmp_path, "task", "status", trial=trial).returncode == 0
    with log.open("a") as handle:
        handle.write(json.dumps({"at": time.time(), "exit": 1, "command": "pytest", "cwd": str(workdir)}) + "\n")
    assert rearena(tmp_path, "task", "instructions", trial=trial).returncode == 0
    assert rearena(tmp_path, "task", "status", trial=trial).returncode == 0
    assert [(e.data["command"], e.data["exit"]) for e in events(tmp_path, trial, "command")] == [
        ("vim solution.py", 0), ("pytest", 1)]


def test_hidden_scores_are_not_shown(tmp_path):
    envs = tmp_path / "envs"
    shutil.copytree(TEST_ENV_ROOT / "sum_env", envs / "hidden_sum", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = envs / "hidden_sum" / "environment.toml"
    manifest.write_text(manifest.read_text().replace('name = "sum_env"', 'name = "hidden_sum"')
                        .replace("visible = true", "visible = false"))
    trial, _ = start(tmp_path, "hidden_sum:tiny", roots=str(envs))
    out = rearena(tmp_path, "task", "score", trial=trial, roots=str(envs))
    assert out.returncode == 0, out.stderr
    assert "score recorded; scores are hidden in this environment" in out.stdout
    assert "raw" not in out.stdout and "normalized" not in out.stdout
    out = rearena(tmp_path, "task", "status", trial=trial, roots=str(envs))
    assert "normalized" not in out.stdout and "hidden" in out.stdout
    status = json.loads(rearena(tmp_path, "task", "status", "--json", trial=trial, roots=str(envs)).stdout)
    assert status["best"] is None and status["submissions"] == 1
    out = rearena(tmp_path, "task", "score", "--json", trial=trial, roots=str(envs))
    assert "raw" not in json.loads(out.stdout)


def test_a_trial_whose_budget_ran_out_has_ended(tmp_path):
    trial, _ = start(tmp_path, "sum_env:tiny", "--budget", "1s")
    time.sleep(1.2)
    out = rearena(tmp_path, "task", "score", trial=trial)
    assert out.returncode == 1 and "has ended (its time budget ran out)" in out.stderr


def test_a_trial_whose_environment_no_longer_loads(tmp_path):
    """Its records can still be read (status warns), but it cannot be scored."""
    trial, _ = start(tmp_path)
    out = rearena(tmp_path, "task", "status", trial=trial, roots=str(tmp_path))
    assert out.returncode == 0 and "did not load" in out.stderr and "Traceback" not in out.stderr
    out = rearena(tmp_path, "task", "score", trial=trial, roots=str(tmp_path))
    assert out.returncode == 1 and "environment did not load" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("trial, args, code, needle", [
    (None, ["score"], 2, "inside a trial's shell, or set REARENA_TRIAL"),
    (None, ["status"], 2, "REARENA_TRIAL"),
    ("abc", ["status"], 2, "must be a trial id"),
    ("99", ["status"], 2, "no trial 99"),
    ("1", [], 2, "usage"),
    ("1", ["fly"], 2, "invalid choice"),
    ("1", ["note"], 2, "usage"),
])
def test_usage_errors(tmp_path, trial, args, code, needle):
    start(tmp_path)
    out = rearena(tmp_path, "task", *args, trial=trial)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert needle in out.stderr
