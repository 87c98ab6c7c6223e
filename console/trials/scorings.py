"""The trial service's scoring path: scoring a trial's workdir under a scoring pause of its own, refusing a
second scoring while another live one holds the pause, and recording results as submissions
(console.trials.service.TrialService).

The functions take `service` and use its store, clock, scorer and private helpers (_event, _active,
_open_trial), as its own methods would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.store.records import PauseRecord, SubmissionRecord
from console.trials import workdirs
from console.trials.errors import TrialError
from console.trials.owner import owner_gone, owner_note, owner_pid
from scoring.result import ScoreResult


def score(service, trial_id: int, final: bool) -> SubmissionRecord:
    """Score the trial's workdir now, as it is snapshotted, and record the result as a submission."""
    trial = service._open_trial(trial_id)
    if not trial.workdir or not Path(trial.workdir).is_dir():
        raise TrialError(f"trial {trial_id} has no workdir to score ({trial.workdir or 'none recorded'})")
    env = service.registry.get(trial.environment)  # before the clock starts: one that no longer loads stops here
    if trial.started_at is None:
        trial = service.start(trial_id)
    scorer = service.scorer
    if not service._scorer_given and trial.sandbox != "local":
        from console.sandbox import scorer_for

        scorer = scorer_for(trial.sandbox)
    # what is snapshotted is scored
    with service.scoring_pause(trial_id), workdirs.workdir_copy(service, trial) as folder:
        snapshot = workdirs.snapshot_or_note(service, trial, folder)
        result = scorer(env, trial.variant, folder, service.trial_calibration(trial_id, env), intermediate=not final)
        return service.record(trial_id, result, snapshot=snapshot, final=final)


@contextmanager
def scoring_pause(service, trial_id: int) -> Iterator[None]:
    """The trial's clock stopped by a scoring pause of its own while the block runs (TrialService.scoring_pause)."""
    opened = open_scoring_pause(service, trial_id)
    try:
        yield
    finally:
        if opened is not None:
            service.store.close_pause(trial_id, service.clock(), pause_id=opened.id)


def open_scoring_pause(service, trial_id: int) -> PauseRecord | None:
    """Open a scoring's pause; None where another pause (a person's) already stops the clock; TrialError
    where another scoring's does (one whose process is gone is closed first, and this one opens)."""
    from console.store.errors import StoreError

    store = service.store
    for _ in range(3):
        existing = store.open_pause_of(trial_id)
        if existing is not None and existing.reason == "scoring":
            if owner_gone(existing.note):
                service.close_orphaned_scoring_pause(trial_id)
                continue
            raise TrialError(scoring_under_way(trial_id, existing.note))
        if existing is not None:
            return None
        try:
            return store.open_pause(trial_id, "scoring", service.clock(), note=owner_note())
        except StoreError:
            if store.open_pause_of(trial_id) is None:  # not a pause opened meanwhile: a real error
                raise
    raise TrialError(f"trial {trial_id} is being paused and resumed by other processes; score it again")


def scoring_under_way(trial_id: int, note: str) -> str:
    """Why a scoring is refused while another one's pause is open, naming its process where the note does."""
    pid = owner_pid(note)
    if pid:
        return f"trial {trial_id} is being scored (process {pid}); wait for its result"
    return (f"trial {trial_id} is being scored (by a process not named in its pause); wait for its result, or "
            f"resume the trial if no scoring is under way")


def record_folder(service, trial_id: int, result: ScoreResult, folder: Path) -> SubmissionRecord:
    """Record a result of scoring `folder` with the trial's calibration and a snapshot of that folder."""
    from scoring.normalize import apply_calibration

    apply_calibration(result, service.trial_calibration(trial_id))  # the trial's, as its own scorings use
    snapshot = workdirs.snapshot_or_note(service, service.store.trial(trial_id), folder)
    return service.record(trial_id, result, snapshot=snapshot)


def record(service, trial_id: int, result: ScoreResult, snapshot: str, final: bool) -> SubmissionRecord:
    """Record a score result of the trial's environment and variant as a submission and a "score" event."""
    trial = service._open_trial(trial_id)
    if result.environment and result.environment != trial.environment:
        raise TrialError(
            f"trial {trial_id} is for {trial.environment!r}, this result is for {result.environment!r}"
        )
    if result.variant and result.variant != trial.variant:
        raise TrialError(f"trial {trial_id} is for {trial.environment}:{trial.variant}, "
                         f"this result is for {result.environment or trial.environment}:{result.variant}")
    now = service.clock()
    active = service._active(trial, now)
    sub = service.store.add_submission(
        trial_id, at=now, active_s=active, valid=result.valid, raw=result.raw, normalized=result.normalized,
        message=result.message, reason=result.reason, details=result.details,
        calibration=result.calibration or {}, duration_s=result.duration_s, snapshot=snapshot, final=final,
    )
    service._event(trial, "score", {
        "submission": sub.id, "valid": sub.valid, "raw": sub.raw, "normalized": sub.normalized,
        "message": sub.message, "reason": sub.reason, "final": final, "snapshot": snapshot,
    }, at=now, active=active)
    return sub
