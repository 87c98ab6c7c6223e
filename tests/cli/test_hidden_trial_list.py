"""`rearena trial list` and a hidden score (scaling_law: `[scoring] visible = false`): never shown while the trial
runs; once it has ended, shown to operators but not inside a trial's shell (console.trials.hidden.best_shown).
Real processes on a real SQLite file, the real scaling_law scorer."""

import json
import os
import subprocess
import sys

from testpaths import REPO, TEST_ENV_ROOT


def rearena(tmp_path, *args, trial=None):
    env = dict(os.environ, REARENA_DATA_DIR=str(tmp_path / "data"), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT))
    for key in ("REARENA_TRIAL", "REARENA_DB"):
        env.pop(key, None)
    if trial is not None:
        env["REARENA_TRIAL"] = str(trial)
    out = subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def row_of(listing: str, trial: int) -> list[str]:
    """The cells of the trial's row in `trial list`'s table."""
    for line in listing.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").split("|") if c.strip()]
        if cells and cells[0] == str(trial):
            return cells
    raise AssertionError(f"no row for trial {trial} in:\n{listing}")


def best_of(tmp_path, trial: int, inside=None) -> tuple[str, object]:
    """The trial's best as `trial list` shows it, in the table and in --json."""
    table = row_of(rearena(tmp_path, "trial", "list", trial=inside), trial)
    data = {t["id"]: t for t in json.loads(rearena(tmp_path, "trial", "list", "--json", trial=inside))}
    return table[6], (data[trial]["best"], data[trial]["final_score"])


def test_a_hidden_score_is_not_listed_while_the_trial_runs(tmp_path):
    trial = int(rearena(tmp_path, "trial", "start", "scaling_law:tiny", "--participant", "ada").split()[1].rstrip(":"))
    rearena(tmp_path, "trial", "score", str(trial))  # the starting solution: normalized 0.000, recorded
    assert rearena(tmp_path, "trial", "status", str(trial), "--json").count('"submissions": 1') == 1

    assert best_of(tmp_path, trial) == ("hidden", (None, None))  # the operator, while it runs
    assert best_of(tmp_path, trial, inside=trial) == ("hidden", (None, None))  # its participant
    assert "0.000" not in rearena(tmp_path, "trial", "list")

    rearena(tmp_path, "trial", "end", str(trial))
    best, (best_json, final_json) = best_of(tmp_path, trial)  # ended: the operator may see it
    assert best == "0.000" and best_json == final_json == 0.0
    assert best_of(tmp_path, trial, inside=trial) == ("hidden", (None, None))  # never inside a trial's shell


def test_a_visible_score_is_listed_while_the_trial_runs(tmp_path):
    trial = int(rearena(tmp_path, "trial", "start", "sum_env:tiny", "--participant", "ada").split()[1].rstrip(":"))
    rearena(tmp_path, "trial", "score", str(trial))  # a timed score: some number
    for inside in (None, trial):
        best, (best_json, final_json) = best_of(tmp_path, trial, inside=inside)
        assert best == f"{best_json:.3f}" and final_json is None
