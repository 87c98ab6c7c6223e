"""A running trial of an environment that hides scores (scaling_law: `[scoring] visible = false`) is left out of
`rearena report --include-running`, saying why; inside a trial's shell `rearena report` of such an environment and
`rearena export` of its trials are refused (console.trials.hidden). The real command line (console.cli.main, in
this process) on a real SQLite file and the real registry; scores recorded by the trial service."""

from __future__ import annotations

import json

import pytest

from console.cli import load_registry
from console.store.db import open_store
from console.trials.service import TrialService
from scoring.result import ScoreResult

RUNNING_HIDDEN = "its environment hides scores while it runs"  # console.trials.hidden.RUNNING_HIDDEN


@pytest.fixture
def trials(tmp_path, cli) -> dict[str, int]:
    """scaling_law trials: "running" with a 0.500 submission, "ended" with 0.250; a running sum_env trial."""
    ids = {}
    with open_store(None, tmp_path / "data") as store:
        service = TrialService(store, load_registry())
        for name, env, score in (("ended", "scaling_law", 0.25), ("running", "scaling_law", 0.5),
                                 ("shown", "sum_env", 0.75)):  # fmt: skip
            trial = service.create(f"{env}:tiny", name, start=True)
            service.record(trial.id, ScoreResult(valid=True, raw=score, normalized=score, message="fixed", reason="",
                                                 calibration={"start": 0.0, "reference": 1.0, "source": "manifest"},
                                                 environment=env, variant="tiny"))  # fmt: skip
            ids[name] = trial.id
        service.end(ids["ended"], "ended")
    return ids


def test_report_include_running_leaves_out_a_running_hidden_trial(cli, trials):
    code, out, err = cli("report", "scaling_law", "--include-running", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [g["n"] for g in report["groups"]] == [1]
    assert report["groups"][0]["final"]["max"] == pytest.approx(0.25)
    assert [(e["trial_id"], e["why"]) for e in report["left_out"]] == [(trials["running"], RUNNING_HIDDEN)]
    code, out, err = cli("report", "scaling_law", "--include-running")
    assert code == 0 and "0.500" not in out and RUNNING_HIDDEN in out, err
    code, out, err = cli("report", "sum_env", "--include-running", "--json")  # a visible score: counted
    assert code == 0 and json.loads(out)["groups"][0]["final"]["max"] == pytest.approx(0.75), err


def test_inside_a_trials_shell_a_hidden_environments_report_and_export_are_refused(cli, trials, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    monkeypatch.setenv("REARENA_TRIAL", str(trials["running"]))
    for args in (("report", "scaling_law", "--include-running"), ("report", "scaling_law", "--json")):
        code, out, err = cli(*args)
        assert code == 2 and "inside a trial's shell" in err and "hidden" in err and out == "", (args, out, err)
    for name in ("running", "ended"):
        code, out, err = cli("export", str(trials[name]), str(tmp_path / f"{name}.zip"))
        assert code == 2 and "inside a trial's shell" in err and "hidden" in err, err
        assert not (tmp_path / f"{name}.zip").exists()
    # an environment that shows scores: as before
    assert cli("report", "sum_env", "--include-running")[0] == 0
    assert cli("export", str(trials["shown"]), str(tmp_path / "shown.zip"))[0] == 0


def test_outside_a_trials_shell_an_operator_exports_and_reports_an_ended_hidden_trial(cli, trials, tmp_path):
    code, out, err = cli("report", "scaling_law", "--json")
    assert code == 0 and json.loads(out)["groups"][0]["final"]["max"] == pytest.approx(0.25), err
    assert cli("export", str(trials["ended"]), str(tmp_path / "ended.zip"))[0] == 0
