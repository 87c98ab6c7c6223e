"""One rule decides whether a list of trials shows a trial's best or final score (console.trials.hidden.best_shown):
where the environment hides scores, never while the trial runs, and once it has ended only to operators, not inside
a trial's shell. The leaderboard follows it. Real SQLite store and registry; scores recorded by the service."""

import pytest

from console.trials.curves import leaderboard
from console.trials.hidden import best_shown, scores_visible, shown_best
from console.trials.service import TrialService
from scoring.result import ScoreResult


def result(normalized: float, env: str) -> ScoreResult:
    return ScoreResult(valid=True, raw=normalized, normalized=normalized, message="fixed", reason="",
                       calibration={"start": 0.0, "reference": 1.0, "source": "manifest"}, environment=env,
                       variant="tiny")


@pytest.fixture
def service(sqlite_store, registry, clock):
    return TrialService(sqlite_store, registry, clock=clock)


def test_a_hidden_best_is_shown_only_after_the_end_and_never_to_a_participant(service, registry):
    trial = service.create("scaling_law:tiny", "ada", start=True)
    service.record(trial.id, result(-0.061, "scaling_law"))
    visible = scores_visible(registry, "scaling_law")
    assert visible is False
    running = service.store.trial(trial.id)
    assert not best_shown(running, visible) and shown_best(running, -0.061, visible) is None
    assert leaderboard([running], {trial.id: -0.061}, visible=visible) == []

    ended = service.end(trial.id, "ended")
    assert best_shown(ended, visible) and shown_best(ended, None, visible) == pytest.approx(-0.061)
    assert not best_shown(ended, visible, participant=True)
    assert [row.score for row in leaderboard([ended], {}, visible=visible)] == [pytest.approx(-0.061)]


def test_a_visible_best_is_shown_while_it_runs(service, registry):
    trial = service.create("sum_env:tiny", "ada", start=True)
    service.record(trial.id, result(0.5, "sum_env"))
    running = service.store.trial(trial.id)
    assert scores_visible(registry, "sum_env") is True
    assert best_shown(running, True, participant=True) and shown_best(running, 0.5, True) == 0.5
    assert [row.score for row in leaderboard([running], {trial.id: 0.5}, visible=True)] == [0.5]


def test_an_environment_that_no_longer_loads_shows_no_scores(registry):
    assert scores_visible(registry, "no_such_environment") is False
