"""The trial screen driven by a Pilot: clock, scoring, pause, note, submit, budget end, reopen."""

from __future__ import annotations

from conftest import fixed_result, wait_workers
from textual.widgets import Digits, Input, Static

from console.ui.screens.trial import TrialScreen
from console.ui.widgets.score_plot import ScorePlot
from console.ui.widgets.submissions import SubmissionsTable


def digits(app) -> str:
    return str(app.screen.query_one("#active", Digits).value)


def state(app) -> str:
    return str(app.screen.query_one("#state", Static).render())


async def test_score_now_runs_in_a_worker_and_lands_in_table_and_plot(make_app, sqlite_store, clock):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada")
        app.show_trial(trial.id)
        await pilot.pause()
        assert "NOT STARTED" in state(app)
        await pilot.press("s")
        await wait_workers(app, pilot)
        assert app.screen.query_one(SubmissionsTable).row_count == 1
        assert app.screen.query_one(ScorePlot).point_count == 1
        subs = sqlite_store.submissions(trial.id)
        assert len(subs) == 1 and subs[0].valid
        assert sqlite_store.trial(trial.id).started_at is not None  # scoring started the clock


async def test_clock_counts_active_time_from_stored_timestamps(make_app, clock):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        clock.advance(31 * 60 + 1)
        app.tick()
        await pilot.pause()
        assert digits(app) == "0:31:01"
        assert "RUNNING" in state(app)


async def test_pause_with_reason_and_resume(make_app, sqlite_store, clock):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        clock.advance(60)
        await pilot.press("p")
        await pilot.pause()
        app.screen.query_one(Input).value = "lunch"
        await pilot.press("enter")
        await wait_workers(app, pilot)  # the write runs in a worker
        assert isinstance(app.screen, TrialScreen)
        assert "PAUSED — lunch" in state(app)
        clock.advance(3600)
        app.tick()
        await pilot.pause()
        assert digits(app) == "0:01:00"
        await pilot.press("r")
        await wait_workers(app, pilot)
        clock.advance(30)
        app.tick()
        await pilot.pause()
        assert digits(app) == "0:01:30"
        assert [p.reason for p in sqlite_store.pauses(trial.id)] == ["lunch"]


async def test_note_is_recorded(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one(Input).value = "trying bisect"
        await pilot.press("enter")
        await wait_workers(app, pilot)
        notes = [e.data["text"] for e in sqlite_store.events(trial.id) if e.kind == "note"]
        assert notes == ["trying bisect"]


async def test_submit_asks_for_confirmation_and_ends_with_best_score(make_app, sqlite_store, clock):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        best = app.service.record(trial.id, fixed_result(-7.5))
        app.service.record(trial.id, fixed_result(-6.5))
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        await pilot.click("#no")
        await pilot.pause()
        assert sqlite_store.trial(trial.id).status != "ended"
        await pilot.press("u")
        await pilot.pause()
        await pilot.click("#yes")
        await wait_workers(app, pilot)
        ended = sqlite_store.trial(trial.id)
        assert ended.status == "ended" and ended.end_reason == "submitted"
        assert ended.final_score >= best.normalized
        assert "has ended" in str(app.screen.query_one("#banner", Static).render())


async def test_budget_end_stops_scoring_and_says_so(make_app, sqlite_store, clock):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", budget_s=3600, start=True)
        app.service.record(trial.id, fixed_result(-7.0))
        app.show_trial(trial.id)
        await pilot.pause()
        clock.advance(8 * 3600)  # 8 hours pass in a millisecond
        app.tick()
        await pilot.pause()
        assert "budget" in state(app).lower()
        assert digits(app) == "1:00:00"
        assert "The budget is used up" in str(app.screen.query_one("#banner", Static).render())
        await pilot.press("s")
        await wait_workers(app, pilot)
        assert len(sqlite_store.submissions(trial.id)) == 1
        ended = sqlite_store.trial(trial.id)
        assert ended.final_score == 0.5 and ended.end_reason == "budget"


async def test_restart_reopens_the_trial_with_clock_and_submissions(make_app, sqlite_store, clock):
    first = make_app()
    async with first.run_test(size=(140, 45)) as pilot:
        trial = first.service.create("sum_env:tiny", "ada", start=True)
        first.service.record(trial.id, fixed_result(-7.0))
        first.service.record(trial.id, fixed_result(-7.4))
        first.show_trial(trial.id)
        await pilot.pause()
    clock.advance(1800)  # the console is down; the clock keeps running
    from console.ui.state import trial_to_reopen

    assert trial_to_reopen(sqlite_store) == trial.id
    again = make_app(open_trial=trial_to_reopen(sqlite_store))
    async with again.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, TrialScreen)
        assert digits(again) == "0:30:00"
        assert again.screen.query_one(SubmissionsTable).row_count == 2


async def test_updates_from_another_process_show_up_live(make_app, sqlite_store, registry, clock):
    from console.trials.service import TrialService

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        other = TrialService(sqlite_store, registry, clock=clock)  # e.g. `rearena task score` in the shell
        other.record(trial.id, fixed_result(-7.0))
        other.pause(trial.id, "break")
        app.screen.poll()
        await pilot.pause()
        assert app.screen.query_one(SubmissionsTable).row_count == 1
        assert "PAUSED — break" in state(app)


async def test_every_trial_action_is_in_the_command_palette(make_app):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada")
        app.show_trial(trial.id)
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for action in ("Score now", "Submit", "Pause", "Resume", "Note", "Shell", "Editor"):
            assert action in titles


async def test_workdir_is_snapshotted_every_few_minutes(make_app, sqlite_store):
    from pathlib import Path

    app = make_app(snapshot_every_s=0.2)
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        app.show_trial(trial.id)
        await pilot.pause()
        Path(trial.workdir, "notes.txt").write_text("idea: use a prefix sum\n")
        await pilot.pause(0.6)
        await app.workers.wait_for_complete()
        snaps = [e for e in sqlite_store.events(trial.id) if e.kind == "snapshot"]
        assert snaps and snaps[-1].data["reason"] == "periodic"
        manifest = sqlite_store.snapshot_manifest(snaps[-1].data["hash"])
        assert "notes.txt" in str(manifest)


async def test_shell_where_the_terminal_cannot_be_suspended_says_what_to_do(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada")
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)  # still running
        messages = [n.message for n in app._notifications]
        assert any(f"REARENA_TRIAL={trial.id}" in m for m in messages)
        assert sqlite_store.trial(trial.id).started_at is None  # nothing opened here: not a first action


async def test_unknown_sandbox_is_reported_not_fatal(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", sandbox="spaceship")
        app.show_trial(trial.id)
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        assert any("spaceship" in n.message for n in app._notifications)


def test_browser_tabs_do_not_share_a_reopen_slot(sqlite_store, monkeypatch):
    from console.ui.state import remember_trial, trial_to_reopen

    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.web_driver:WebDriver")
    remember_trial(sqlite_store.data_dir, 7)
    assert trial_to_reopen(sqlite_store) is None
    assert not (sqlite_store.data_dir / "ui-state.json").exists()


async def test_a_workdir_past_the_snapshot_cap_is_told_once_and_the_trial_goes_on(make_app, sqlite_store, clock):
    """The periodic snapshot of a workdir over the cap only went to the log; the participant learnt of it
    when nothing could be scored or ended. Now a notice says so, once, and scoring goes on without one."""
    import os

    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial = app.service.create("sum_env:tiny", "ada", start=True)
        with open(os.path.join(trial.workdir, "checkpoint.bin"), "wb") as big:
            big.truncate(600 << 20)  # sparse
        app.show_trial(trial.id)
        await pilot.pause()
        for _ in range(2):
            app.screen._snapshot_worker("periodic")
            await wait_workers(app, pilot)
        told = [n for n in app._notifications if n.title == "Snapshot failed"]
        assert len(told) == 1 and "snapshot size cap" in told[0].message, [n.message for n in app._notifications]
        await pilot.press("s")
        await wait_workers(app, pilot)
        assert [s.valid for s in sqlite_store.submissions(trial.id)] == [True]
