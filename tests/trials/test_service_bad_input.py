"""The trial service refuses bad input before it records anything (real SQLite store, real scorer)."""

from pathlib import Path

import pytest

from console.trials.clock import format_duration, parse_duration
from console.trials.service import TrialError, TrialService
from scoring.result import ScoreResult


@pytest.fixture
def service(sqlite_store, registry, clock):
    return TrialService(sqlite_store, registry, clock=clock)


@pytest.mark.parametrize("budget", [float("inf"), float("nan"), 1e12, 0.0, -60.0])
def test_create_refuses_a_budget_that_is_not_sane_and_records_nothing(service, sqlite_store, budget):
    with pytest.raises(TrialError, match="budget"):
        service.create("sum_env:tiny", "ada", budget_s=budget)
    assert sqlite_store.trials() == []


def test_create_refuses_a_backstop_that_is_not_finite(service, sqlite_store):
    with pytest.raises(TrialError, match="backstop"):
        service.create("sum_env:tiny", "ada", budget_s=3600.0, backstop_s=float("nan"))
    assert sqlite_store.trials() == []


def test_create_refuses_a_blank_participant(service, sqlite_store):
    with pytest.raises(TrialError, match="participant"):
        service.create("sum_env:tiny", "   ")
    assert sqlite_store.trials() == [] and sqlite_store.participants() == []


@pytest.mark.parametrize("text", ["inf", "nan", "1e400", "-1", "673h", "1..5h", "."])
def test_parse_duration_refuses_what_is_not_a_sane_duration(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_still_reads_durations():
    assert [parse_duration(t) for t in ("8h", "90m", "1h30m", "45", "0", "1.5h", "672h")] == [
        28800.0, 5400.0, 5400.0, 45.0, 0.0, 5400.0, 672 * 3600.0]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_format_duration_tolerates_what_is_not_finite(value):
    assert format_duration(value) == "-"


def test_a_workdir_that_fails_records_no_trial(service, sqlite_store, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(TrialError, match="is not a folder"):
        service.create("sum_env:tiny", "ada", workdir=afile)
    with pytest.raises(TrialError, match="cannot make the workdir"):
        service.create("sum_env:tiny", "ada", workdir=afile / "under")
    assert sqlite_store.trials() == []


def test_a_default_workdir_that_fails_leaves_the_trial_ended_not_open(service, sqlite_store):
    blocker = sqlite_store.data_dir / "trials" / "1"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where trial 1's folder goes")
    with pytest.raises(TrialError, match="cannot make the workdir"):
        service.create("sum_env:tiny", "ada")
    [trial] = sqlite_store.trials()
    assert (trial.status, trial.end_reason) == ("ended", "workdir_failed")


def test_a_trial_without_a_workdir_is_neither_scored_nor_snapshotted(service, sqlite_store, monkeypatch):
    who = sqlite_store.participant("ada")
    trial = sqlite_store.create_trial("sum_env", "tiny", who.id, "local", 3600.0, 10800.0, "", 1.0)
    monkeypatch.chdir(Path(__file__).parent)
    with pytest.raises(TrialError, match="no workdir"):
        service.score(trial.id)
    with pytest.raises(TrialError, match="no workdir"):
        service.snapshot(trial.id)
    assert sqlite_store.submissions(trial.id) == [] and sqlite_store.trial(trial.id).started_at is None


def test_record_refuses_a_result_of_another_variant(service, sqlite_store):
    trial = service.create("sum_env:tiny", "ada", start=True)
    other = ScoreResult(True, -7.0, 0.5, "ok", environment="sum_env", variant="main")
    with pytest.raises(TrialError, match="sum_env:tiny, this result is for sum_env:main"):
        service.record(trial.id, other)
    service.record(trial.id, ScoreResult(True, -7.0, 0.5, "ok", environment="sum_env", variant="tiny"))
    assert len(sqlite_store.submissions(trial.id)) == 1
