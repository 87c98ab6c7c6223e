"""A rubric or grades file that cannot be read is told in words; the console keeps running and the file is kept."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from console.ui.screens.rubric import RubricScreen
from scoring.result import ScoreResult
from scoring.rubric.grading import GRADES_FILE
from test_ui_rubric import judged_all_pass


async def test_unreadable_grades_are_shown_as_such_and_never_overwritten(make_app):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        trial = app.service.create("optimizer_rubric:tiny", "ada", start=True)
        app.service.record(trial.id, ScoreResult(valid=True, raw=1.0, normalized=1.0, message="judged",
                                                 details={"rubric_grades": judged_all_pass()},
                                                 environment="optimizer_rubric", variant="tiny"))
        grades = Path(app.store.trial(trial.id).workdir).parent / GRADES_FILE
        grades.write_text('{"rubric": {"id": "root"}, "leaves": [1, 2]')  # cut short: not JSON
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RubricScreen), "the screen opens on the rubric alone"
        messages = " ".join(n.message for n in app._notifications)
        assert "The grades cannot be read" in messages and "fix or move that file" in messages
        assert "not graded yet" in str(app.screen.query_one("#rubric-total", Static).render())
        await pilot.press("down", "down", "0")
        await pilot.pause()
        assert not app.screen.query(Input), "no name is asked: grading is off"
        assert grades.read_text() == '{"rubric": {"id": "root"}, "leaves": [1, 2]'
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RubricScreen)


async def test_an_unreadable_rubric_leaves_the_trial_screen_open(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        trial = app.service.create("optimizer_rubric:tiny", "ada")
        app.show_trial(trial.id)
        await pilot.pause()
        before = app.screen
        broken = tmp_path / "rubric.json"
        broken.write_text('{"id": "root", "weight": -1, "children": "no"}')
        app.push_screen(RubricScreen(trial.id, broken, tmp_path))
        await pilot.pause()
        assert app.screen is before
        assert any("cannot be read" in n.message and str(broken) in n.message for n in app._notifications)
