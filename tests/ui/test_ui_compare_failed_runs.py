"""The comparison screen says how many of a group's agent runs failed after making progress (kept), and shows
its group labels ("model [digest]") as written, not as markup."""

from __future__ import annotations

from conftest import fixed_result
from textual.widgets import Static

from console.ui.screens.compare import CompareScreen


async def test_the_summary_names_failed_runs_kept_with_their_labels(make_app, clock, sqlite_store):
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        service = app.service
        trial = service.create("sum_env:tiny", "bot", kind="agent", model="m-[x]", start=True)
        sqlite_store.update_trial(trial.id, settings={**sqlite_store.trial(trial.id).settings,
                                                      "agent": {"model": "m-[x]", "max_steps": 5}})
        clock.now += 60
        service.event(trial.id, "tool_call", {"name": "shell", "arguments": {"command": "true"}})
        service.record(trial.id, fixed_result(-7.0))  # 0.5
        clock.now += 60
        service.end(trial.id, "api_error")
        app.push_screen(CompareScreen("sum_env"))
        await pilot.pause()
        summary = str(app.screen.query_one("#compare-summary", Static).render())
        assert "Runs that failed after making progress (kept, score as reached)" in summary, summary
        assert "m-[x] [" in summary and ": 1 of 1" in summary
