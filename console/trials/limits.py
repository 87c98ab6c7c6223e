"""When a trial ends by itself, for the trial service: its budget of active time spent, its wall-clock backstop
passed, its agent's process gone, or a final submission whose process died before it ended the trial
(console.trials.service.TrialService.check_limits); and closing whatever pause is open when a trial ends."""

from __future__ import annotations

from console.store.records import TrialRecord
from console.trials.owner import end_gone_agent_trial

SUBMIT_GRACE_S = 60.0  # a final submission this old whose trial has not ended was cut short: its trial is ended


def check_limits(service, trial_id: int) -> TrialRecord:
    """End the trial if a limit ran out or its agent is gone (TrialService.check_limits); the trial as it is now."""
    store = service.store
    trial = store.trial(trial_id)
    if trial.status == "ended":
        return trial
    gone = end_gone_agent_trial(service, trial)  # started or not: nothing will run it again
    if gone is not None:
        return gone
    if trial.started_at is None:
        return trial
    now = service.clock()
    final_at = store.final_submission_at(trial_id)
    if final_at is not None and now - final_at >= SUBMIT_GRACE_S:
        # submitted, but the process died before it ended the trial (a live one ends it within moments,
        # after telling the result: an agent's submit tool): ended as it would have been
        return service.end(trial_id, "submitted", at=final_at)
    active = service._active(trial, now)
    if active >= trial.budget_s:
        overshoot = active - trial.budget_s if store.open_pause_of(trial_id) is None else 0.0
        return service.end(trial_id, "budget", at=now - overshoot)
    if now - trial.started_at >= trial.wall_backstop_s:
        return service.end(trial_id, "wall_backstop", at=trial.started_at + trial.wall_backstop_s)
    return trial


def close_any_pause(store, trial_id: int, at: float) -> None:
    """Close the open pause, whichever it is (the trial ends), at `at` or where it began if later (a pause
    opened after the backstop's time); again if another process opened one meanwhile."""
    for _ in range(3):
        pause = store.open_pause_of(trial_id)
        if pause is None or store.close_pause(trial_id, max(at, pause.started_at), pause_id=pause.id):
            return
