"""The home screen and a hidden score (scaling_law: `[scoring] visible = false`): neither the recent trials nor the
leaderboard show a running trial's score; once it has ended the operator's console may (hidden.best_shown)."""

from __future__ import annotations

from conftest import fixed_result
from textual.widgets import DataTable


def best_cells(app) -> dict[str, str]:
    trials = app.screen.query_one("#trials", DataTable)
    return {trials.get_row_at(i)[0]: str(trials.get_row_at(i)[4]) for i in range(trials.row_count)}


async def leaderboard_of(app, pilot, name: str) -> list[tuple[str, str]]:
    envs = app.screen.query_one("#environments", DataTable)
    names = [envs.get_row_at(i)[0] for i in range(envs.row_count)]
    envs.move_cursor(row=names.index(name))
    await pilot.pause()
    board = app.screen.query_one("#leaderboard", DataTable)
    return [(str(board.get_row_at(i)[1]), str(board.get_row_at(i)[2])) for i in range(board.row_count)]


async def test_a_running_trials_hidden_score_is_not_on_the_home_screen(make_app):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        hidden = app.service.create("scaling_law:tiny", "ada", start=True)
        app.service.record(hidden.id, fixed_result(-5.878, env="scaling_law"))  # normalized -0.061
        shown = app.service.create("sum_env:tiny", "bob", start=True)
        app.service.record(shown.id, fixed_result(-7.0))  # normalized 0.500
        app.screen.action_refresh()
        await pilot.pause()
        assert best_cells(app) == {str(hidden.id): "hidden", str(shown.id): "0.500"}
        assert await leaderboard_of(app, pilot, "scaling_law") == []
        assert await leaderboard_of(app, pilot, "sum_env") == [("bob", "0.500")]

        app.service.end(hidden.id, "ended")
        app.screen.action_refresh()
        await pilot.pause()
        assert best_cells(app)[str(hidden.id)] == "-0.061"  # it has ended: the operator may see it
        assert await leaderboard_of(app, pilot, "scaling_law") == [("ada", "-0.061")]
