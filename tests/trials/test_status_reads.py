"""`TrialService.status()` reads a trial's record once (the home screen calls it for every trial, each refresh):
the check for an agent trial whose agent's process is gone is part of the limits check, on the record it reads.
The agent_gone behaviour it carries stays: at the trial's last event, before an orphaned pause is closed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from console.trials.owner import AGENT_OWNER_KEY, owner_note, owner_pid
from console.trials.service import TrialService


@pytest.fixture
def service(sqlite_store, registry, clock):
    return TrialService(sqlite_store, registry, clock=clock)


@pytest.fixture
def trial_reads(sqlite_store, monkeypatch):
    """How many times the store has read a trial's record (a spy around the real method)."""
    calls = []
    read = sqlite_store.trial

    def counted(trial_id):
        calls.append(trial_id)
        return read(trial_id)

    monkeypatch.setattr(sqlite_store, "trial", counted)
    return calls


def dead_note(what: str) -> str:
    """An owner note of this boot naming a process that has exited."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return owner_note(what).replace(f"process {os.getpid()} ", f"process {dead.pid} ")


def agent_trial(service, note: str, start: bool = True):
    trial = service.create("sum_env:tiny", "model-x", kind="agent", start=start)
    return service.store.update_trial(trial.id, settings={**trial.settings, AGENT_OWNER_KEY: note})


@pytest.mark.parametrize("kind", ["human", "live agent", "paused", "ended"])
def test_status_reads_the_trial_once(service, clock, trial_reads, kind):
    if kind == "live agent":
        trial = agent_trial(service, owner_note("agent"))
    else:
        trial = service.create("sum_env:tiny", "ada", start=True)
    if kind == "paused":
        service.pause(trial.id)
    if kind == "ended":
        service.end(trial.id, "ended")
    clock.advance(30)
    trial_reads.clear()
    status = service.status(trial.id)
    assert status.trial.status == {"paused": "paused", "ended": "ended"}.get(kind, "running")
    assert trial_reads == [trial.id]


def test_a_budget_that_ran_out_is_seen_by_the_same_status(service, clock, trial_reads):
    trial = service.create("sum_env:tiny", "ada", start=True, budget_s=100)
    clock.advance(150)
    status = service.status(trial.id)  # the record it returns is the ended one, not the one read before the end
    assert status.trial.status == "ended" and status.trial.end_reason == "budget"
    assert status.active_s == pytest.approx(100) and status.remaining_s == 0


def test_a_gone_agent_whose_api_wait_pause_is_orphaned_too_ends_at_its_last_event(service, sqlite_store, clock):
    """Its pause is not closed first (that would make now the trial's last event, and its end)."""
    trial = agent_trial(service, dead_note("agent"))
    clock.advance(40)
    service.event(trial.id, "tool_call", {"name": "shell"})
    sqlite_store.open_pause(trial.id, "api_wait", clock(), note="rate_limit: " + dead_note("api_wait"))
    clock.advance(3600)
    status = service.status(trial.id)
    assert status.trial.end_reason == "agent_gone" and status.trial.ended_at == trial.started_at + 40
    assert not sqlite_store.events(trial.id, kinds=["resumed"])
    assert [e.kind for e in sqlite_store.events(trial.id)][-3:] == ["tool_call", "agent_gone", "ended"]


def test_a_gone_agents_trial_that_never_started_ends_too(service, clock):
    trial = agent_trial(service, dead_note("agent"), start=False)
    clock.advance(60)
    assert service.status(trial.id).trial.end_reason == "agent_gone"


def test_a_gone_agents_trial_refuses_scoring_and_resuming(service, clock):
    from console.trials.service import TrialError

    for action in (service.score, service.resume):
        trial = agent_trial(service, dead_note("agent"))
        clock.advance(5)
        with pytest.raises(TrialError, match="agent_gone"):
            action(trial.id)


def test_the_owner_notes_process_is_read_where_the_note_is_written():
    assert owner_pid(owner_note()) == str(os.getpid())
    assert owner_pid("rate_limit: " + owner_note("api_wait")) == str(os.getpid())
    assert owner_pid("") == owner_pid("scoring in process ") == owner_pid("scoring in process x1 2") == ""
