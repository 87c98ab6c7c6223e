"""An agent trial whose sandbox cannot be opened ends sandbox_failed (an infrastructure failure that a report
leaves out), not agent_error (which counts as the agent's 0)."""

from __future__ import annotations

from console.agents.loop import AgentRun
from console.agents.scripted_server import call

from agent_helpers import events_of, make_config


def test_a_sandbox_that_cannot_be_opened_ends_the_trial_sandbox_failed(service, serve, sqlite_store):
    server = serve([call("submit")])
    trial = service.create("sum_env:tiny", "bot", kind="agent", model="scripted-model")
    sqlite_store.update_trial(trial.id, workdir="")  # (a docker daemon that is down fails the same way)
    ended = AgentRun(service, trial.id, make_config(server)).run()
    assert ended.end_reason == "sandbox_failed"
    notes = [e.data for e in events_of(sqlite_store, trial.id, "agent_note") if e.data.get("kind") == "sandbox_failed"]
    assert notes and "has no workdir" in notes[0]["error"]
    assert not server.requests  # the model was never asked

