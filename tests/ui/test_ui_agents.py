"""Agent trials from the console: the form, live conversation, parallel runs and Stop, against a local server."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import Input

from console.agents.scripted_server import ScriptedServer, call, slow, text
from console.ui.screens.trial import TrialScreen
from console.ui.widgets.conversation import Conversation


async def wait_until(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
        await pilot.pause()


async def fill_agent_form(app, pilot, base_url: str, runs: int) -> None:
    await pilot.press("g")
    await pilot.pause()
    form = app.screen
    form.query_one("#environment").value = "sum_env"
    await pilot.pause()
    form.query_one("#model", Input).value = "scripted-model"
    form.query_one("#base_url", Input).value = base_url
    form.query_one("#api_key_env", Input).value = "REARENA_TEST_KEY"
    form.query_one("#runs", Input).value = str(runs)
    await pilot.click("#start")
    await pilot.pause()


async def test_agent_trials_start_run_in_parallel_and_show_live(make_app, sqlite_store, monkeypatch):
    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    script = [
        call("write_file", {"path": "notes.txt", "content": "plan: vectorise"}),
        call("score", {}),
        text("Done for now."),
        call("submit", {}),
    ]
    with ScriptedServer(script) as server:
        app = make_app()
        async with app.run_test(size=(160, 50)) as pilot:
            await fill_agent_form(app, pilot, server.base_url, runs=2)
            await wait_until(pilot, lambda: isinstance(app.screen, TrialScreen))  # made in a worker, then opened
            assert len(app.agent_handles) == 2
            await wait_until(pilot, lambda: all(not h.running for h in app.agent_handles.values()))
            app.screen.poll()
            await pilot.pause()
            log = app.screen.query_one(Conversation)
            assert log.shown >= 3
            for trial_id in app.agent_handles:
                trial = sqlite_store.trial(trial_id)
                assert trial.participant_kind == "agent" and trial.status == "ended"
                assert len(sqlite_store.submissions(trial_id)) >= 1
            assert "secret" not in str([sqlite_store.trial(t).settings for t in app.agent_handles])


async def test_stop_a_running_agent_from_the_console(make_app, sqlite_store, monkeypatch):
    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    script = [slow(0.3, call("write_file", {"path": f"f{i}.txt", "content": "x"})) for i in range(200)]
    with ScriptedServer(script) as server:
        app = make_app()
        async with app.run_test(size=(160, 50)) as pilot:
            await fill_agent_form(app, pilot, server.base_url, runs=1)
            await wait_until(pilot, lambda: isinstance(app.screen, TrialScreen))
            (trial_id, handle), = app.agent_handles.items()
            await wait_until(pilot, lambda: len(sqlite_store.events(trial_id, kinds=["tool_call"])) >= 1)
            assert handle.running
            await pilot.press("k")
            await wait_until(pilot, lambda: not handle.running)
            trial = sqlite_store.trial(trial_id)
            assert trial.status == "ended" and trial.end_reason == "stopped"


async def test_missing_api_key_is_reported_and_nothing_starts(make_app, sqlite_store, monkeypatch):
    monkeypatch.delenv("REARENA_TEST_KEY", raising=False)
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await fill_agent_form(app, pilot, "http://192.0.2.1:9/v1", runs=1)  # not this machine: a key is needed
        assert app.agent_handles == {}
        assert sqlite_store.trials() == []
        assert any("REARENA_TEST_KEY" in n.message for n in app._notifications)


async def test_runs_are_capped_and_the_form_says_so(make_app, sqlite_store, monkeypatch):
    """Before, any number of runs was taken, each trial made on the UI thread (a typo of 1000 froze the console
    while it made a thousand trials and threads)."""
    from console.ui.screens.new_agent import NewAgentScreen

    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await fill_agent_form(app, pilot, "http://127.0.0.1:9/v1", runs=65)
        assert isinstance(app.screen, NewAgentScreen)  # the form stays, to be corrected
        assert any("from 1 to 64" in n.message for n in app._notifications)
        assert sqlite_store.trials() == [] and app.agent_handles == {}


async def test_trials_that_started_are_named_when_a_later_one_cannot_start(make_app, sqlite_store, monkeypatch):
    """The second of three agent trials cannot be made (its workdir's folder is taken): the first runs and is
    named, the notice says how many of those asked for started, and the console goes on."""
    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    taken = sqlite_store.data_dir / "trials" / "2" / "workdir"
    taken.mkdir(parents=True)
    (taken / "someone-elses.txt").write_text("x")
    with ScriptedServer([call("submit", {})]) as server:
        app = make_app()
        async with app.run_test(size=(160, 50)) as pilot:
            await fill_agent_form(app, pilot, server.base_url, runs=3)
            await wait_until(pilot, lambda: isinstance(app.screen, TrialScreen))
            assert list(app.agent_handles) == [1]
            notice = next(n for n in app._notifications if n.title == "Not every agent trial started")
            assert "Started 1 of 3 agent trials (1)" in notice.message and "not empty" in notice.message
            await wait_until(pilot, lambda: all(not h.running for h in app.agent_handles.values()))
