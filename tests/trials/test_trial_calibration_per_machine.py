"""[calibration] per_machine: a trial made where no current calibration is stored measures this machine's first
(before its clock), stores it for the next trials, and tells what happened in an event; where it cannot be
measured (no GPU, a reference that does not beat the start) the trial is made all the same, on the defaults."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.trials.per_machine import needs_measurement
from console.trials.service import TrialService
from environments.registry import load_registry

SUM_ENV = Path(__file__).parents[1] / "scoring" / "sum_env"
SLOW = "import time\n\ndef total(values):\n    time.sleep(0.01)\n    return sum(values)\n"
FAST = "def total(values):\n    return sum(values)\n"


def per_machine_env(root: Path, *, gpu: bool = False, reference: str = FAST) -> Path:
    """sum_env copied under root/environments with per_machine = true, a slow start and a reference solution."""
    path = root / "environments" / "sum_env"
    shutil.copytree(SUM_ENV, path, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = (path / "environment.toml").read_text()
    manifest = manifest.replace('hardware = "made up for tests"', 'hardware = "made up for tests"\nper_machine = true')
    if gpu:
        manifest = manifest.replace("gpu = false", 'gpu = true\ngpu_kind = "cuda"')
    (path / "environment.toml").write_text(manifest)
    (path / "starting" / "solution.py").write_text(SLOW)
    (root / "reference_solutions" / "sum_env").mkdir(parents=True)
    (root / "reference_solutions" / "sum_env" / "solution.py").write_text(reference)
    return root / "environments"


def kinds(store, trial_id: int) -> list[str]:
    return [e.kind for e in store.events(trial_id)]


def test_the_first_trial_measures_and_the_next_reuses(sqlite_store, tmp_path, clock):
    registry = load_registry([per_machine_env(tmp_path / "envs")])
    service = TrialService(sqlite_store, registry, clock=clock)
    env = registry.get("sum_env")
    assert env.calibrate_per_machine and needs_measurement(sqlite_store, env, "tiny")
    first = service.create("sum_env:tiny", "ada")
    assert kinds(sqlite_store, first.id).count("calibration_measured") == 1
    fixed = sqlite_store.trial(first.id).settings["calibration"]
    assert fixed["source"] == "measured" and fixed["start"] > fixed["reference"]  # lower is better: ln(seconds)
    assert fixed["fixed"] == "at the trial's creation" and sqlite_store.trial(first.id).started_at is None
    assert len(sqlite_store.calibrations("sum_env")) == 1
    assert not needs_measurement(sqlite_store, env, "tiny")
    second = service.create("sum_env:tiny", "bob", start=True)
    assert "calibration_measured" not in kinds(sqlite_store, second.id)
    assert len(sqlite_store.calibrations("sum_env")) == 1
    assert sqlite_store.trial(second.id).settings["calibration"]["start"] == fixed["start"]


def test_without_a_gpu_the_defaults_are_used_and_said(sqlite_store, tmp_path, clock, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-nvidia-smi"))  # (this machine has no GPU; make sure of it)
    from scoring import hardware

    hardware.describe.cache_clear()
    try:
        registry = load_registry([per_machine_env(tmp_path / "envs", gpu=True)])
        service = TrialService(sqlite_store, registry, clock=clock)
        trial = service.create("sum_env:tiny", "ada")
    finally:
        hardware.describe.cache_clear()
    notes = [e.data["note"] for e in sqlite_store.events(trial.id, kinds=["calibration_not_measured"])]
    assert notes and "no GPU" in notes[0] and "manifest's default" in notes[0]
    assert sqlite_store.trial(trial.id).settings["calibration"]["source"] == "manifest"
    assert sqlite_store.calibrations("sum_env") == []


def test_a_failed_measurement_is_told_and_the_trial_is_made(sqlite_store, tmp_path, clock):
    registry = load_registry([per_machine_env(tmp_path / "envs", reference=SLOW)])  # no faster than the start
    service = TrialService(sqlite_store, registry, clock=clock)
    trial = service.create("sum_env:tiny", "ada", start=True)
    notes = [e.data["note"] for e in sqlite_store.events(trial.id, kinds=["calibration_not_measured"])]
    assert notes and "could not be measured" in notes[0]
    assert sqlite_store.trial(trial.id).settings["calibration"]["source"] == "manifest"
    assert sqlite_store.trial(trial.id).started_at is not None


def test_the_cli_says_it_measures_first(tmp_path):
    roots = per_machine_env(tmp_path / "envs")
    env = {"REARENA_ENVIRONMENTS": str(roots), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "console", "--data-dir", str(tmp_path / "data"), "trial", "start",
                          "sum_env:tiny", "--participant", "ada", "--no-start"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert "measuring this machine's calibration of sum_env:tiny first" in out.stdout
    assert "calibration: start" in out.stdout and "measured on this machine (current)" in out.stdout


@pytest.mark.parametrize("spec", ["sum_env:tiny"])
def test_an_environment_not_calibrated_per_machine_measures_nothing(sqlite_store, registry, clock, spec):
    service = TrialService(sqlite_store, registry, clock=clock)
    trial = service.create(spec, "ada")
    assert not [k for k in kinds(sqlite_store, trial.id) if k.startswith("calibration_")]


def test_scoring_outside_trials_says_the_defaults_are_used_until_measured(tmp_path):
    roots = per_machine_env(tmp_path / "envs")
    env = {"REARENA_ENVIRONMENTS": str(roots), "PATH": "/usr/bin:/bin"}
    candidate = roots / "sum_env" / "starting"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "console", "--data-dir", str(tmp_path / "data"), *args],
                              capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parents[2])

    before = run("score", "sum_env:tiny", str(candidate))
    assert before.returncode == 0, before.stderr
    assert "no calibration is measured here" in before.stderr and "rearena env calibrate sum_env:tiny" in before.stderr
    assert run("env", "calibrate", "sum_env:tiny", "--runs", "1").returncode == 0
    after = run("score", "sum_env:tiny", str(candidate))
    assert after.returncode == 0 and "no calibration is measured here" not in after.stderr, after.stderr


def test_a_failed_measurement_is_not_repeated_at_every_creation(sqlite_store, tmp_path, clock):
    registry = load_registry([per_machine_env(tmp_path / "envs", reference=SLOW)])
    service = TrialService(sqlite_store, registry, clock=clock)
    env = registry.get("sum_env")
    first = service.create("sum_env:tiny", "ada")
    assert "could not be measured" in sqlite_store.events(first.id, kinds=["calibration_not_measured"])[0].data["note"]
    assert not needs_measurement(sqlite_store, env, "tiny")  # failed within the day: not again
    second = service.create("sum_env:tiny", "bob")
    note = sqlite_store.events(second.id, kinds=["calibration_not_measured"])[0].data["note"]
    assert "it failed at" in note and "rearena env calibrate sum_env:tiny" in note


def test_the_two_solutions_are_scored_alternately(monkeypatch, tmp_path):
    from scoring import calibrate as calibrate_module
    from scoring.hardware import HOST

    registry = load_registry([per_machine_env(tmp_path / "envs")])
    order = []

    def scorer(env, variant, folder):
        from scoring.runner import score_candidate

        order.append(folder.name)
        return score_candidate(env, variant, folder)

    monkeypatch.setattr(calibrate_module, "_scorer_and_runtime", lambda env, sandbox: (scorer, HOST))
    calibrate_module.calibrate(registry.get("sum_env"), "tiny", runs=3)
    assert order == ["start", "reference"] * 3


def test_waiting_for_another_measurement_ends_when_the_console_quits(sqlite_store):
    import threading

    from console.trials.per_machine import measuring
    from scoring.stopping import ScoringStopped, stop_all, stoppable

    with measuring(sqlite_store):  # another measurement holds the lock
        outcome = {}

        def wait():
            try:
                with stoppable(), measuring(sqlite_store):
                    outcome["got"] = True
            except ScoringStopped:
                outcome["stopped"] = True

        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and not outcome  # it waits
        stop_all()
        waiter.join(5)
    assert outcome == {"stopped": True}
