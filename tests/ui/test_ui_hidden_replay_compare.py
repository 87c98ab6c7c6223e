"""The replay and compare screens and a hidden score (scaling_law: `[scoring] visible = false`): a running trial's
scores are not shown (console.trials.hidden): the replay says "hidden" for its best so far, draws no curve for it
and shows its scorings' verdicts only; the comparison, including running trials, leaves it out."""

from __future__ import annotations

from conftest import fixed_result
from textual.widgets import DataTable, Static

from console.ui.screens.compare import CompareScreen
from console.ui.screens.replay import ReplayScreen
from console.ui.widgets.replay_side import ReplaySide


def two_hidden_trials(service, clock):
    """scaling_law: ada's running, scored 0.500 at 10 min; bob's ended, scored 0.250 at 5 min."""
    start = clock.now
    ada = service.create("scaling_law:tiny", "ada", start=True)
    clock.now = start + 600
    service.record(ada.id, fixed_result(-7.0, env="scaling_law"))  # 0.500
    clock.now = start
    bob = service.create("scaling_law:tiny", "bob", start=True)
    clock.now = start + 300
    service.record(bob.id, fixed_result(-6.5, env="scaling_law"))  # 0.250
    clock.now = start + 900
    service.end(bob.id, "submitted")
    return ada, bob


def text_of(widget) -> str:
    return str(widget.render())


async def test_the_replay_hides_a_running_hidden_trials_scores(make_app, clock):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        ada, bob = two_hidden_trials(app.service, clock)
        app.show_replay(ada.id, bob.id)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        screen.seek(700)  # after both submissions
        await pilot.pause()
        status = text_of(screen.query_one("#replay-status", Static))
        assert "best so far: hidden · 0.250" in status and "0.500" not in status, status
        assert [curve for _, curve in screen._curves()][0] == []  # ada's curve is not drawn
        screen.seek(650)
        await pilot.pause()
        side = screen.query_one("#side-0", ReplaySide)
        title = text_of(side.query_one(".event-title", Static))
        body = text_of(side.query_one(".event-body", Static))
        assert title == "score: valid (score hidden)" and "0.500" not in body and "-7.0" not in body, (title, body)


async def test_the_comparison_including_running_trials_leaves_out_a_running_hidden_trial(make_app, clock):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        two_hidden_trials(app.service, clock)
        app.push_screen(CompareScreen("scaling_law"))
        await pilot.pause()
        await pilot.press("i")  # include running trials
        await pilot.pause()
        assert app.screen.include_running
        table = app.screen.query_one("#groups", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [row[2:] for row in rows] == [["1", "0.250", "-", "0.250", "0.250"]], rows
        assert app.screen.report["left_out_trials"] == 1
