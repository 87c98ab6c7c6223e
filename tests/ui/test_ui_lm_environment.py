"""A participant improves a language-model environment from the console: the starting solution
scores 0 and, once the reference solution is in the workdir, the next score is 1 (scaling_law:tiny,
whose scoring is deterministic lookups, so the figures are exact on any machine)."""

from __future__ import annotations

import shutil

import pytest

from conftest import wait_workers

from console.ui.widgets.submissions import SubmissionsTable
from testpaths import REPO

pytest.importorskip("numpy")


async def test_scores_of_the_starting_and_the_reference_solution_land_in_the_trial(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("scaling_law:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("s")
        await wait_workers(app, pilot)
        shutil.copytree(REPO / "reference_solutions" / "scaling_law", trial.workdir, dirs_exist_ok=True)
        await pilot.press("s")
        await wait_workers(app, pilot)
        subs = sqlite_store.submissions(trial.id)
        assert [s.valid for s in subs] == [True, True], [s.message for s in subs]
        assert subs[0].normalized == pytest.approx(0.0, abs=1e-6)
        assert subs[1].normalized == pytest.approx(1.0, abs=1e-6)
        assert app.screen.query_one(SubmissionsTable).row_count == 2
