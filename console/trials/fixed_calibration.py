"""The calibration fixed in a trial's settings (console.trials.calibrations.TRIAL_KEY) for the trial service:
chosen once, when the trial is made (or at its first scoring where that failed), and used by all its scorings
(console.trials.service.TrialService.trial_calibration).

The functions that take `service` use its store, registry, calibration and private helpers (_event)."""

from __future__ import annotations

import math

from console.store.records import TrialRecord
from console.trials.calibrations import TRIAL_KEY
from environments.model import Calibration, Environment


def trial_calibration(service, trial_id: int, env: Environment | None) -> Calibration:
    """The trial's fixed calibration; for an older trial its first submission's, else one chosen and fixed now."""
    trial = service.store.trial(trial_id)
    fixed = fixed_calibration(trial.settings)
    if fixed is not None:
        return fixed
    first = next((s.calibration for s in service.store.submissions(trial_id)
                  if fixed_calibration({TRIAL_KEY: s.calibration}) is not None), None)  # fmt: skip
    if first is not None:
        return keep_calibration(service, trial, {**first, "origin": "as its first submission recorded it"},
                                "at its first submission")
    return fix_calibration(service, trial, env or service.registry.get(trial.environment), "at its first scoring")


def fix_calibration_or_later(service, trial: TrialRecord, env: Environment) -> None:
    """Fix the new trial's calibration now; where that fails (a store or file error), its first scoring does."""
    from console.store.errors import StoreError

    if not service._calibration_given:
        _measure_if_needed(service, trial, env)
    try:
        fix_calibration(service, trial, env, "at the trial's creation")
    except (StoreError, OSError) as exc:
        service._event(trial, "calibration_deferred", {"error": str(exc)[:2000]})


def _measure_if_needed(service, trial: TrialRecord, env: Environment) -> None:
    """Measure this machine's calibration first where the environment is calibrated per machine and none is
    stored (console.trials.per_machine.measure_if_needed); what happened is an event of the trial. A failure
    is told there too: the trial is made all the same, on the manifest's calibration."""
    from console.trials.per_machine import measure_if_needed

    try:
        stored, line = measure_if_needed(service.store, env, trial.variant, trial.sandbox)
    except Exception as exc:  # the trial must not be lost to a measurement's failure
        stored, line = False, (f"calibration could not be measured on this machine ({type(exc).__name__}: {exc}); "
                               "the manifest's default is used")
    if line:
        service._event(trial, "calibration_measured" if stored else "calibration_not_measured", {"note": line[:2000]})


def fix_calibration(service, trial: TrialRecord, env: Environment, when: str) -> Calibration:
    """Choose the trial's calibration (this machine's for its sandbox's runtime, else the manifest's) and
    keep it in the trial's settings."""
    from console.trials.calibrations import choose_calibration, runtime_of

    if service._calibration_given:
        cal, origin = service.calibration(env, trial.variant), "given to the trial service"
    else:
        choice = choose_calibration(service.store, env, trial.variant, runtime_of(env, trial.sandbox))
        cal, origin = choice.calibration, choice.origin()
    return keep_calibration(service, trial, {**cal.as_dict(), "origin": origin}, when)


def keep_calibration(service, trial: TrialRecord, fixed: dict, when: str) -> Calibration:
    """Write the calibration into the trial's settings, unless one was fixed there meanwhile (that one wins)."""
    settings = dict(service.store.trial(trial.id).settings)
    kept = fixed_calibration(settings)
    if kept is not None:
        return kept
    settings[TRIAL_KEY] = {**fixed, "fixed": when}
    service.store.update_trial(trial.id, settings=settings)
    return fixed_calibration(settings)


def fixed_calibration(settings: dict) -> Calibration | None:
    """The calibration kept under TRIAL_KEY in a trial's settings (or a submission's record), None if none
    or unreadable."""
    from console.store.calibrations import as_calibration
    from console.store.errors import StoreError

    fixed = (settings or {}).get(TRIAL_KEY)
    if not isinstance(fixed, dict) or not all(isinstance(fixed.get(k), (int, float)) for k in ("start", "reference")):
        return None
    try:
        cal = as_calibration(fixed)
    except StoreError:
        return None
    return cal if math.isfinite(cal.start) and math.isfinite(cal.reference) and cal.start != cal.reference else None


def find_calibration(store, env: Environment, variant: str) -> Calibration:
    """The calibration measured on this hardware of the current solutions and scorer if there is one,
    else the manifest's default."""
    from console.trials.calibrations import choose_calibration

    return choose_calibration(store, env, variant).calibration
