"""Ways a review lost or bent a trial's record, each now held: a workdir past the snapshot cap, a scoring asked
for at the budget's end, a scoring that closed another process's pause, a submit killed before the trial
ended, two processes ending a trial at once, a dead scoring's pause after a reboot or before a new action."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from console.store.db import open_store
from console.trials.owner import owner_note
from console.trials.service import TrialService
from scoring.result import ScoreResult


@pytest.fixture
def service(sqlite_store, registry, clock):
    return TrialService(sqlite_store, registry, clock=clock, scorer=_valid)


def _valid(env, variant, folder, calibration, intermediate=True):
    return ScoreResult(valid=True, raw=-7.0, normalized=0.5, message="fine", environment=env.name, variant=variant)


def _dead_note() -> str:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return owner_note().replace(f"process {os.getpid()} ", f"process {dead.pid} ")


def test_a_workdir_past_the_snapshot_cap_neither_blocks_scoring_nor_the_end(service, sqlite_store, clock):
    """A 600 MB checkpoint in the workdir: scoring, reading and ending the trial all failed ("cannot snapshot
    ... exceed the snapshot size cap"), so its budget could never run out and `trial list` failed for all."""
    trial = service.create("sum_env:tiny", "ada", start=True, budget_s=100)
    with open(os.path.join(trial.workdir, "checkpoint.bin"), "wb") as big:
        big.truncate(600 << 20)  # sparse: its size counts, no disk is used
    sub = service.score(trial.id)
    assert sub.valid and sub.snapshot == ""
    failed = sqlite_store.events(trial.id, kinds=["snapshot_failed"])
    assert failed and "snapshot size cap" in failed[-1].data["error"]
    clock.advance(200)
    status = service.status(trial.id)  # the budget ran out: the trial ends
    assert status.trial.status == "ended" and status.trial.end_reason == "budget"
    assert status.trial.final_score == 0.5


def test_a_scoring_asked_for_just_before_the_budget_ends_is_recorded(service, sqlite_store, clock, monkeypatch):
    """Copying out and snapshotting the workdir took 5 s of a budget with 0.5 s left; the scoring then ran and
    its result was thrown away ("trial has ended (budget)"). The clock now stops at the request."""
    trial = service.create("sum_env:tiny", "ada", start=True, budget_s=10)
    clock.advance(9.5)
    snapshot_dir = sqlite_store.snapshot_dir

    def slow_snapshot(*args, **kwargs):
        clock.advance(5)  # a 400 MB workdir
        return snapshot_dir(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "snapshot_dir", slow_snapshot)
    sub = service.score(trial.id)
    assert sub.valid and sub.active_s == pytest.approx(9.5)
    assert sqlite_store.trial(trial.id).final_score is None and sqlite_store.submissions(trial.id)


def test_a_scoring_closes_its_own_pause_not_one_another_process_opened(service, sqlite_store, registry, clock):
    """While this process scored, another one resumed the scoring's pause and paused for lunch: the scoring's
    end closed the lunch pause, charging the lunch to the budget."""
    trial = service.create("sum_env:tiny", "ada", start=True)
    other = TrialService(open_store(None, sqlite_store.data_dir), registry, clock=clock)

    def scorer(env, variant, folder, calibration, intermediate=True):
        clock.advance(1)
        other.resume(trial.id)
        other.pause(trial.id, "lunch")
        clock.advance(1)
        return _valid(env, variant, folder, calibration)

    service.scorer = scorer
    service.score(trial.id)
    clock.advance(600)
    status = service.status(trial.id)
    assert status.pause is not None and status.pause.reason == "lunch"
    assert status.active_s == pytest.approx(0)
    other.store.close()


def test_a_submit_killed_before_the_trial_ended_ends_it_when_next_read(service, sqlite_store, clock):
    """`kill -9` after the final score was recorded and before the trial ended left it running: scored again
    after its submission, and ended later by its budget with the wrong reason and time."""
    trial = service.create("sum_env:tiny", "ada", start=True, budget_s=100)
    clock.advance(30)
    service.record(trial.id, _valid(service.registry.get("sum_env"), "tiny", None, None), final=True)
    clock.advance(5)  # the process died here; within a minute it may still be ending the trial itself
    assert service.status(trial.id).trial.status == "running"
    clock.advance(60)
    status = service.status(trial.id)
    assert status.trial.status == "ended" and status.trial.end_reason == "submitted"
    assert status.trial.ended_at == pytest.approx(clock.now - 65) and status.active_s == pytest.approx(30)
    assert status.trial.final_score == 0.5


def test_two_processes_ending_a_trial_at_once_end_it_once(service, sqlite_store, registry, clock, monkeypatch):
    """Both read the trial open, both ended it: two `ended` events, and the last writer's reason won."""
    trial = service.create("sum_env:tiny", "ada", start=True)
    other = TrialService(open_store(None, sqlite_store.data_dir), registry, clock=clock)
    snapshot_dir = sqlite_store.snapshot_dir

    def meanwhile(*args, **kwargs):  # the other process ends it while this one snapshots
        monkeypatch.setattr(sqlite_store, "snapshot_dir", snapshot_dir)
        other.end(trial.id, "submitted")
        return snapshot_dir(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "snapshot_dir", meanwhile)
    ended = service.end(trial.id, "budget")
    assert ended.end_reason == "submitted"
    assert len(sqlite_store.events(trial.id, kinds=["ended"])) == 1
    other.store.close()


def test_a_dead_scorings_pause_is_closed_before_the_next_action(service, sqlite_store, clock):
    """It was closed only when someone read the trial's status: in a shell-only workflow, `task score` after a
    killed one scored with the dead pause still open, and all work after it counted as paused."""
    trial = service.create("sum_env:tiny", "ada", start=True)
    sqlite_store.open_pause(trial.id, "scoring", clock(), note=_dead_note())
    clock.advance(10)
    service.score(trial.id)
    clock.advance(8)
    assert service.active_time(trial.id) == pytest.approx(8)
    assert sqlite_store.open_pause_of(trial.id) is None


def test_resume_closes_a_dead_scorings_pause(service, sqlite_store, clock):
    trial = service.create("sum_env:tiny", "ada", start=True)
    sqlite_store.open_pause(trial.id, "scoring", clock(), note=_dead_note())
    clock.advance(10)
    assert service.resume(trial.id).reason == "scoring"
    assert sqlite_store.open_pause_of(trial.id) is None


def test_a_scorings_pause_from_before_this_machine_rebooted_is_closed(service, sqlite_store, clock):
    """The machine rebooted during a scoring: its process is of another boot, which could not be told gone,
    so the trial stayed paused for ever. The same machine (machine-id and host) with another boot: gone."""
    trial = service.create("sum_env:tiny", "ada", start=True)
    note = owner_note()
    pid, start, boot, rest = note[len("scoring in process "):].split(" ", 3)
    if " on machine " not in rest:
        pytest.skip("no /etc/machine-id here")
    earlier = note.replace(f" {boot} ", " 00000000-0000-0000-0000-000000000000 ")
    sqlite_store.open_pause(trial.id, "scoring", clock(), note=earlier)
    clock.advance(10)
    assert service.status(trial.id).pause is None
    other_machine = earlier.replace(" on machine ", " on machine x")
    sqlite_store.open_pause(trial.id, "scoring", clock(), note=other_machine)
    assert service.status(trial.id).pause is not None  # another machine's boot means nothing here


def test_a_dead_scorings_pause_closed_while_another_process_paused_leaves_that_pause(service, sqlite_store, clock,
                                                                                    monkeypatch):
    """Between telling the scoring's process gone and closing its pause, another process resumed it and paused
    for lunch: the lunch pause was closed instead, with a false 'scoring ended' event."""
    from console.trials import service as service_module

    trial = service.create("sum_env:tiny", "ada", start=True)
    sqlite_store.open_pause(trial.id, "scoring", clock(), note=_dead_note())

    def gone_and_meanwhile(note):
        sqlite_store.close_pause(trial.id, clock())
        sqlite_store.open_pause(trial.id, "human", clock(), note="lunch")
        return True

    monkeypatch.setattr(service_module, "owner_gone", gone_and_meanwhile)
    assert service.close_orphaned_scoring_pause(trial.id) is None
    assert sqlite_store.open_pause_of(trial.id).note == "lunch"
    assert not sqlite_store.events(trial.id, kinds=["resumed"])


def test_score_record_stops_the_trials_clock_at_the_request(tmp_path, monkeypatch, capsys):
    """`rearena score ENV PATH --record N` ran with the trial's clock going: a scoring that outlasted the
    budget's last second was thrown away, and a folder past the snapshot cap lost the finished scoring."""
    import time

    from testpaths import TEST_ENV_ROOT

    from console.cli import main
    from console.store.db import open_store

    monkeypatch.setenv("REARENA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REARENA_ENVIRONMENTS", str(TEST_ENV_ROOT))
    assert main(["trial", "start", "sum_env:tiny", "--participant", "ada", "--budget", "3s"]) == 0
    trial = int(capsys.readouterr().out.split()[1].rstrip(":"))
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "solution.py").write_text("import time\n\ndef total(values):\n    time.sleep(0.8)\n    return sum(values)\n")
    from console.store.service import Store

    # a snapshot cap of 1 MiB in this process (512 MB otherwise: copying that much for the scoring takes long)
    monkeypatch.setattr(Store, "snapshot_max_bytes", property(lambda self: 1 << 20, lambda self, value: None),
                        raising=False)
    (slow / "checkpoint.bin").write_bytes(b"x" * (2 << 20))  # past the cap
    time.sleep(0.5)
    assert main(["score", "sum_env:tiny", str(slow), "--record", str(trial)]) == 0, capsys.readouterr().err
    store = open_store(None, tmp_path / "data")
    try:
        (sub,) = store.submissions(trial)
        assert sub.valid and sub.active_s < 3 and sub.snapshot == ""
        assert store.events(trial, kinds=["snapshot_failed"])
        assert store.open_pause_of(trial) is None
    finally:
        store.close()
