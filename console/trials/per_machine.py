"""A calibration measured on this machine when a trial is made ([calibration] per_machine = true).

An environment whose scores depend on the machine (triton_cumsum: a kernel's time depends on the GPU) is
calibrated on each machine it runs on: the first trial made where no current calibration is stored for its
runtime first scores the starting and the reference solutions PER_MACHINE_RUNS times each, alternately (load
that comes and goes then weighs on both alike), stores the result and fixes it in the trial. One measurement
runs at a time per data folder (`rearena env calibrate` takes the same lock: two would time each other). A
measurement that fails is not tried again for RETRY_AFTER_S on that machine and for those files (each trial's
creation would pay for it again); `rearena env calibrate` measures at any time. The console's quit stops a
measurement (scoring.stopping); nothing is then stored.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from console.trials.calibrations import choose_calibration, runtime_of
from environments.model import Environment

PER_MACHINE_RUNS = 3  # scorings of each solution when a trial measures its machine's calibration
LOCK_FILE = "calibrating.lock"  # in the data folder: one measurement at a time (two would time each other)
FAILURES_FILE = "calibration_failures.json"  # in the data folder: measurements that failed, by machine and files
RETRY_AFTER_S = 24 * 3600.0


def needs_measurement(store, env: Environment, variant: str, sandbox: str = "local") -> bool:
    """Whether a trial made now would first measure this machine's calibration (measure_if_needed)."""
    if not env.calibrate_per_machine or _missing_hardware(env):
        return False
    try:
        return _unmeasured(store, env, variant, runtime_of(env, sandbox))  # (docker: the image's id, from the daemon)
    except Exception:  # no daemon, no image: the trial's creation says so itself
        return False


def _unmeasured(store, env: Environment, variant: str, runtime: str) -> bool:
    """No current calibration stored for the runtime, and no failed measurement of it within RETRY_AFTER_S."""
    if choose_calibration(store, env, variant, runtime).calibration.source == "measured":
        return False
    return _recent_failure(store, env, variant, runtime) is None


def measure_if_needed(store, env: Environment, variant: str, sandbox: str = "local") -> tuple[bool, str]:
    """For an environment calibrated per machine, measure and store this machine's calibration when no current
    one is stored (see the module's docstring). (whether one was stored, what happened in one line: "" when
    nothing was needed); a measurement that fails or is stopped leaves the manifest's default in use, and the
    line says why."""
    if not env.calibrate_per_machine:
        return False, ""
    missing = _missing_hardware(env)
    if missing:
        return False, f"calibration not measured on this machine ({missing}): the manifest's default is used"
    from scoring.calibrate import CalibrationError, calibrate
    from scoring.stopping import ScoringStopped

    runtime = runtime_of(env, sandbox)
    failed = _recent_failure(store, env, variant, runtime)
    if failed is not None:
        return False, (f"calibration not measured on this machine: it failed at {failed['at']} ({failed['why']}); "
                       f"tried again a day later, or now with `rearena env calibrate {env.name}:{variant}`; the "
                       "manifest's default is used")
    try:
        with measuring(store):
            if not _unmeasured(store, env, variant, runtime):  # measured (or failed) meanwhile, by another process
                return False, ""
            busy = sum(1 for t in store.trials() if t.status == "running" and t.started_at is not None)
            calibration, raws = calibrate(env, variant, runs=PER_MACHINE_RUNS, sandbox=sandbox)
            store.save_calibration(env.name, variant, calibration)
    except ScoringStopped:
        return False, ("calibration measurement stopped (the console quit); nothing stored: the manifest's default "
                       "is used")
    except CalibrationError as exc:
        _note_failure(store, env, variant, runtime, str(exc))
        return False, f"calibration could not be measured on this machine ({exc}); the manifest's default is used"
    runs = "; ".join(f"{name} runs {', '.join(f'{r:.4f}' for r in raws[key])}"
                     for name, key in (("start", "start_raws"), ("reference", "reference_raws")))
    others = f"; {busy} other trial(s) were running meanwhile" if busy else ""
    return True, (f"calibration measured on this machine: start {calibration.start:.4f}, reference "
                  f"{calibration.reference:.4f} ({runs}; {calibration.hardware}{others})")


@contextmanager
def measuring(store) -> Iterator[None]:
    """Hold the data folder's calibration lock, waiting for another process's measurement to end (a stop
    of this thread's scoring, scoring.stopping, ends the wait: ScoringStopped)."""
    import fcntl

    from scoring.stopping import check

    folder = Path(store.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                check()
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def _failure_key(env: Environment, variant: str, runtime: str) -> str:
    from scoring.calibrate import calibration_digest
    from scoring.hardware import fingerprint

    return f"{env.name}:{variant}:{fingerprint(runtime=runtime)}:{calibration_digest(env, variant)}"


def _failures(store) -> dict:
    try:
        data = json.loads((Path(store.data_dir) / FAILURES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recent_failure(store, env: Environment, variant: str, runtime: str) -> dict | None:
    """The failed measurement of these files on this machine within RETRY_AFTER_S ({"at", "why"}), else None."""
    found = _failures(store).get(_failure_key(env, variant, runtime))
    if not isinstance(found, dict) or not isinstance(found.get("t"), (int, float)):
        return None
    return found if time.time() - found["t"] < RETRY_AFTER_S else None


def _note_failure(store, env: Environment, variant: str, runtime: str, why: str) -> None:
    """Remember a failed measurement (a file in the data folder; written whole, by a rename)."""
    failures = _failures(store)
    failures[_failure_key(env, variant, runtime)] = {
        "t": time.time(), "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "why": why[:500]}
    path = Path(store.data_dir) / FAILURES_FILE
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(failures, indent=1))
        os.replace(tmp, path)
    except OSError:  # not remembered: the next trial measures again
        pass


def _missing_hardware(env: Environment) -> str:
    """What the environment needs to time its solutions and this machine lacks, in words ("" when nothing)."""
    if not env.hardware.gpu:
        return ""
    from scoring.hardware import GPU_UNKNOWN, describe

    gpus = describe().get("gpus")
    if gpus is GPU_UNKNOWN:
        return "its GPU could not be listed"
    return "" if gpus else "no GPU"
