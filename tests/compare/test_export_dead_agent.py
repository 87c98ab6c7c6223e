"""`rearena export` of an agent trial whose agent's process died (nothing ended the trial) first ends it as the trial
service does (agent_gone, at its last event): the file does not count the time since as active time.
The real command line (console.cli.main, in this process) on a real SQLite file; a real dead process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
from compare_helpers import record_trial

from console.cli import main
from console.trials.owner import AGENT_OWNER_KEY, owner_note


class PastClock:
    """A clock started two hours ago, moved by hand (the records are written in the past)."""

    def __init__(self):
        self.now = time.time() - 7200

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def dead_note(what: str) -> str:
    """An owner note of this boot naming a process that has exited."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return owner_note(what).replace(f"process {os.getpid()} ", f"process {dead.pid} ")


def test_a_dead_agents_trial_is_ended_at_its_last_event_before_it_is_exported(cli_store, tmp_path, capsys):
    clock = PastClock()
    trial = record_trial(cli_store, clock, name="model-x", kind="agent", scores=[(40, 0.25)], budget=86400.0,
                         end=False, settings={AGENT_OWNER_KEY: dead_note("agent")})  # fmt: skip
    # two hours ago it scored at 40 s of active time; then its agent died and nothing ended it
    assert main(["export", str(trial.id), str(tmp_path / "t.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["status"] == "ended"
    assert manifest["active_s_at_export"] == pytest.approx(40, abs=1)  # not the two hours since
    ended = cli_store.trial(trial.id)
    assert ended.end_reason == "agent_gone" and "has not ended" not in capsys.readouterr().err
