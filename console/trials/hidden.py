"""What a participant may see of a submission in an environment whose scores are hidden.

A valid submission's message usually states the measurement (a time, a loss, the chosen point)
and so the score itself: where scores are hidden, the participant sees only that it was scored.
An invalid submission's message says what was wrong, which is always shown.
"""

from __future__ import annotations

import os

HIDDEN_MESSAGE = "scored (the score and its details are hidden in this environment)"
HIDDEN_SCORES = "scores are hidden in this environment"
PARTICIPANT_KEYS = ("environment", "variant", "valid", "reason", "message")


def participant_message(sub, visible: bool) -> str:
    """The submission's message as the participant may see it."""
    return sub.message if visible or not sub.valid else HIDDEN_MESSAGE


def inside_trial() -> bool:
    """Whether this process runs in a trial's shell ($REARENA_TRIAL set), i.e. for a participant."""
    return bool(os.environ.get("REARENA_TRIAL", "").strip())


def participant_result(result, visible: bool) -> dict:
    """A scoring result (a ScoreResult) as a JSON-ready dict that the participant may see.

    Where scores are hidden: the verdict, the reason and (for an invalid result) the message only;
    no raw or normalized score, details, calibration or duration (a time can be the score)."""
    if visible:
        return result.as_dict()
    shown = {key: getattr(result, key) for key in PARTICIPANT_KEYS}
    shown["message"] = participant_message(result, False)
    return shown


def participant_lines(result, recorded: bool, label: str = "") -> list[str]:
    """The text of a scoring (a ScoreResult, or a SubmissionRecord with a `label`) for a participant where scores
    are hidden, as `rearena score` and `rearena task score` say it; `label` names it (default: ENV:VARIANT)."""
    where = label or f"{result.environment}:{result.variant}"
    hidden = ("score recorded; " if recorded else "") + HIDDEN_SCORES
    if result.valid:
        return [f"{where}: valid; {hidden}"]
    return [f"{where}: INVALID ({result.reason}) {result.message}", hidden]


def scores_visible(registry, environment: str) -> bool:
    """Whether the environment shows scores to the participant; False where it no longer loads (then nothing
    says that its scores may be shown)."""
    env = registry.environments.get(environment)
    return env is not None and env.scores_visible


def best_shown(trial, visible: bool, participant: bool = False) -> bool:
    """Whether a list of trials (`rearena trial list`, the console's home screen and leaderboard) may show the
    trial's best or final score. Where the environment hides scores: never while the trial runs (a participant
    must not see it), and once it has ended to operators only, not inside a trial's shell (`participant`)."""
    return visible or (trial.status == "ended" and not participant)


def shown_best(trial, best: float | None, visible: bool, participant: bool = False) -> float | None:
    """The score a list of trials shows for the trial: its final score, else its best so far; None where
    best_shown says it is hidden."""
    if not best_shown(trial, visible, participant):
        return None
    return trial.final_score if trial.final_score is not None else best


def best_cell(trial, best: float | None, visible: bool, fmt, participant: bool = False) -> str:
    """A list's cell for the trial's score: shown_best formatted by `fmt`, or "hidden" where best_shown says so."""
    return fmt(shown_best(trial, best, visible, participant)) if best_shown(trial, visible, participant) else "hidden"


RUNNING_HIDDEN = "its environment hides scores while it runs"
PARTICIPANT_HIDDEN = "its environment hides scores inside a trial's shell"


def hidden_why(trial, visible: bool, participant: bool = False) -> str | None:
    """Why a comparison or a replay (`rearena report`, the compare and replay screens) may not use the trial's
    scores, as best_shown rules; None where it may."""
    if best_shown(trial, visible, participant):
        return None
    return RUNNING_HIDDEN if trial.status != "ended" else PARTICIPANT_HIDDEN


def blank_hidden(data: dict, shown: bool) -> dict:
    """A trial's status as JSON-ready data (`best`, `final_score`) with its scores blanked where they are not
    shown."""
    if not shown:
        data["best"] = data["final_score"] = None
    return data


def participant_refusal(visible: bool, what: str) -> str | None:
    """Why a command that would show an environment's scores (an export, a report) is refused here: inside a
    trial's shell where the environment hides scores; None where it may run."""
    if visible or not inside_trial():
        return None
    return f"{what} is not done inside a trial's shell: {HIDDEN_SCORES} (run it outside a trial's shell)"
