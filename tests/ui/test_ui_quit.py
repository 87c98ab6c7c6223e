"""Quitting the console while a scoring runs: it asks first; "Stop it and quit" stops the scoring at once
(its scorer's process and candidate killed, nothing recorded, the clock's pause closed), where before the
console sat, its screen gone, until the scoring ended; Cancel leaves the scoring running."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from proctree import alive, descendants
from textual.widgets import Button

from console.ui.screens.dialogs import ConfirmScreen
from scoring import stopping

HANGS = "import time\n\ndef total(values):\n    time.sleep(600)\n"


def _below(root: int) -> set[int]:
    return set(descendants(root))


async def _scoring_a_hanging_candidate(app, pilot) -> tuple[int, set[int]]:
    trial = app.service.create("sum_env:tiny", "ada")
    Path(trial.workdir, "solution.py").write_text(HANGS)
    before = _below(os.getpid())
    app.show_trial(trial.id)
    await pilot.pause()
    await pilot.press("s")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the scorer's process and its candidate
        started = _below(os.getpid()) - before
        if len(started) >= 2 and stopping.under_way():
            await asyncio.sleep(0.5)
            return trial.id, _below(os.getpid()) - before
        await asyncio.sleep(0.1)
    raise AssertionError("the scoring did not start within 30 s")


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if alive(pid)}


async def test_quitting_while_scoring_asks_then_stops_the_scoring(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial_id, started = await _scoring_a_hanging_candidate(app, pilot)
        assert sqlite_store.open_pause_of(trial_id).reason == "scoring"
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "scoring is under way" in app.screen.question
        await pilot.press("ctrl+q")  # again, on the question: still one question (a review found two stacked)
        await pilot.pause()
        assert sum(isinstance(screen, ConfirmScreen) for screen in app.screen_stack) == 1
        stopped_at = time.monotonic()
        app.screen.query_one("#yes", Button).press()
        await pilot.pause()
    assert not app.is_running
    while stopping.under_way() and time.monotonic() - stopped_at < 8:  # its worker's thread, still in the scoring
        await asyncio.sleep(0.05)
    took = time.monotonic() - stopped_at
    assert took < 5, took  # before: until the scoring's 10 s timeout
    deadline = time.monotonic() + 5
    while _alive(started) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(started), "the scorer's process or its candidate outlived the quit"
    assert sqlite_store.submissions(trial_id) == []  # a stopped scoring records nothing
    assert sqlite_store.open_pause_of(trial_id) is None  # the clock's pause for it was closed
    assert stopping.under_way() == 0


async def test_cancel_leaves_the_scoring_running(make_app, sqlite_store):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        trial_id, started = await _scoring_a_hanging_candidate(app, pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        await asyncio.sleep(0.5)
        assert not isinstance(app.screen, ConfirmScreen) and app.is_running
        assert stopping.under_way() == 1 and _alive(started) == started  # the scoring goes on
        stopping.stop_all()  # end it here, not at its timeout
        await asyncio.wait_for(app.workers.wait_for_complete(), 5)
        await pilot.pause()
    assert sqlite_store.submissions(trial_id) == []


async def test_quitting_with_no_scoring_does_not_ask(make_app):
    app = make_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert not app.is_running


async def test_quitting_with_agent_trials_running_stops_them_as_stopped(make_app, sqlite_store, monkeypatch):
    """Before, quitting left agent trials 'running' with no agent behind them, their clocks going on."""
    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    with _slow_agent_server() as server:
        app = make_app()
        async with app.run_test(size=(160, 50)) as pilot:
            ids = await _agents_under_way(app, pilot, sqlite_store, server, runs=2)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert "2 agent trial(s)" in app.screen.question and "scoring" not in app.screen.question
            app.screen.query_one("#yes", Button).press()
            deadline = time.monotonic() + 20
            while app.is_running and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not app.is_running  # it exits by itself once the agents have ended
    for trial_id in ids:
        trial = sqlite_store.trial(trial_id)
        assert trial.status == "ended" and trial.end_reason == "stopped", (trial.status, trial.end_reason)


async def test_agents_still_running_when_the_console_closes_are_stopped_after_it(make_app, sqlite_store, monkeypatch):
    """The terminal hung up (the driver calls app.exit, as here): no one answers a question, so after the app
    has closed, run() stops the agent trials still running (finish_agents), each as 'stopped'."""
    import io

    from console.ui.app import finish_agents

    monkeypatch.setenv("REARENA_TEST_KEY", "secret")
    with _slow_agent_server() as server:
        app = make_app()
        async with app.run_test(size=(160, 50)) as pilot:
            (trial_id,) = await _agents_under_way(app, pilot, sqlite_store, server, runs=1)
            handle = app.agent_handles[trial_id]
            app.exit()
        assert handle.running and sqlite_store.trial(trial_id).status == "running"
        out = io.StringIO()
        assert await asyncio.to_thread(finish_agents, app.agent_handles.values(), out) == 0
    assert "stopping 1 agent trial(s)" in out.getvalue()
    trial = sqlite_store.trial(trial_id)
    assert trial.status == "ended" and trial.end_reason == "stopped"


def _slow_agent_server():
    """A scripted OpenAI-compatible server whose model writes a file every 0.3 s, 200 times."""
    from console.agents.scripted_server import ScriptedServer, call, slow

    return ScriptedServer([slow(0.3, call("write_file", {"path": f"f{i}.txt", "content": "x"})) for i in range(200)])


async def _agents_under_way(app, pilot, store, server, runs: int) -> list[int]:
    """Start `runs` agent trials from the console's form; their ids once each has made a tool call."""
    from test_ui_agents import fill_agent_form, wait_until

    await fill_agent_form(app, pilot, server.base_url, runs=runs)
    ids = list(app.agent_handles)
    await wait_until(pilot, lambda: all(store.events(t, kinds=["tool_call"]) for t in ids))
    return ids
