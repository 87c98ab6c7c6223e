"""The console shows candidates' messages, participants' names and pauses' reasons as written: text that
looks like markup neither crashes a screen ([/red]) nor styles itself into a fake verdict."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import wait_workers
from textual.widgets import DataTable, Static
from textual.widgets._toast import Toast

from console.ui.screens.home import HomeScreen
from console.ui.screens.replay import ReplayScreen
from console.ui.screens.trial import TrialScreen
from console.ui.widgets.replay_side import ReplaySide
from console.ui.widgets.submissions import SubmissionsTable
from scoring.result import ScoreResult

BROKEN = "the candidate raised ValueError: [/red]"  # not even valid markup: rich raises MarkupError
SPOOF = "[black on black]hidden[/black on black] [bold green]VALID[/bold green] normalized 1.512"


def invalid(message: str) -> ScoreResult:
    return ScoreResult(valid=False, raw=None, normalized=None, message=message, reason="candidate_exception",
                       calibration={"start": -6.0, "reference": -8.0, "source": "manifest"},
                       environment="sum_env", variant="tiny")


def cells(table: DataTable, column: int) -> list[str]:
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_trial_and_home_screens_show_markup_as_text(make_app):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "[/red]ada", start=True)
        app.service.record(trial.id, invalid(BROKEN))
        app.service.record(trial.id, invalid(SPOOF))
        app.service.pause(trial.id, "[/b]lunch")
        app.screen.action_refresh()  # the home screen lists the trial: name and pause reason as text
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        trials = app.screen.query_one("#trials", DataTable)
        assert cells(trials, 2) == ["[/red]ada"] and cells(trials, 3) == ["paused ([/b]lunch)"]
        app.show_trial(trial.id)
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        table = app.screen.query_one(SubmissionsTable)
        assert cells(table, 5) == [BROKEN, SPOOF[:80]]
        assert "[/b]lunch" in str(app.screen.query_one("#state", Static).render())
    assert app.return_code in (None, 0)


async def test_score_now_notifies_the_message_as_written(make_app):
    app = make_app()
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        Path(trial.workdir, "solution.py").write_text(textwrap.dedent('''
            def total(values):
                raise ValueError("[bold green]VALID[/bold green] [/red]")
        '''))
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("s")
        await wait_workers(app, pilot)
        shown = [n for n in app._notifications if "invalid" in n.message]
        assert len(shown) == 1 and not shown[0].markup
        assert "[bold green]VALID[/bold green] [/red]" in shown[0].message
        for _ in range(3):  # the toast rack shows new notifications a moment later
            await pilot.pause()
        toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any("[bold green]VALID[/bold green] [/red]" in text for text in toasts), toasts
        assert app.screen.query_one(SubmissionsTable).row_count == 1


async def test_replay_names_the_participant_as_written(make_app):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        a = app.service.create("sum_env:tiny", "[b]bob[/b]", start=True)
        app.service.record(a.id, invalid(SPOOF))
        b = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_replay(a.id, b.id)
        await pilot.pause()
        assert isinstance(app.screen, ReplayScreen)
        side = app.screen.query_one("#side-0", ReplaySide)
        assert "[b]bob[/b]" in str(side.query_one(".who", Static).render())


async def test_a_workdir_and_an_environment_title_that_look_like_markup_show_as_written(make_app, tmp_path):
    import dataclasses

    app = make_app()
    env = app.registry.environments["sum_env"]
    app.registry.environments["sum_env"] = dataclasses.replace(env, title="Sum [/v2] of values")
    async with app.run_test(size=(160, 45)) as pilot:
        app.screen.action_refresh()
        await pilot.pause()
        envs = app.screen.query_one("#environments", DataTable)
        assert "Sum [/v2] of values" in cells(envs, 4)  # the title: the last column
        trial = app.service.create("sum_env:tiny", "ada", start=True, workdir=tmp_path / "[/red]work")
        app.show_trial(trial.id)
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        assert "[/red]work" in str(app.screen.query_one("#banner", Static).render())
    assert app.return_code in (None, 0)
