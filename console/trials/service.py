"""The trial service: create, start, pause, resume, score, submit, note and end trials.

No UI here: the CLI and the console both call this. Every state change is written to
the store before the call returns; active time is always computed from stored
timestamps with the injected clock.

TrialService holds the lifecycle and the reading of a trial's clock; the modules beside it hold the
bodies of its other actions, as functions of the service: console.trials.scorings (scoring and recording),
console.trials.workdirs (the workdir and its snapshots), console.trials.fixed_calibration (the calibration
fixed per trial) and console.trials.limits (a trial's end by budget, backstop or a cut-short submission).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from console.store.records import PauseRecord, SubmissionRecord, TrialRecord
from console.trials import fixed_calibration, limits, scorings, workdirs
from console.trials.clock import MAX_BUDGET_S, Clock, active_seconds, system_clock
from console.trials.errors import TrialError
from console.trials.fixed_calibration import find_calibration
from console.trials.limits import SUBMIT_GRACE_S
from console.trials.owner import end_gone_agent_trial, owner_gone
from environments.model import Calibration, Environment
from scoring.result import ScoreResult

__all__ = ["DEFAULT_BACKSTOP_FACTOR", "SUBMIT_GRACE_S", "TrialError", "TrialService", "TrialStatus", "best_score",
           "find_calibration"]

DEFAULT_BACKSTOP_FACTOR = 3.0


@dataclass(frozen=True)
class TrialStatus:
    """A trial and its clock, as of one instant."""

    trial: TrialRecord
    now: float
    active_s: float
    remaining_s: float
    wall_s: float
    backstop_remaining_s: float
    pause: PauseRecord | None
    best: float | None
    submissions: int

    @property
    def paused(self) -> bool:
        """True while an open pause stops the clock."""
        return self.pause is not None


def best_score(submissions: list[SubmissionRecord]) -> float | None:
    """The best valid normalized score (RE-Bench's rule), or None."""
    scores = [s.normalized for s in submissions if s.valid and s.normalized is not None]
    return max(scores) if scores else None


class TrialService:
    """Runs trials against a store, an environment registry, a scorer and a clock."""

    def __init__(self, store, registry, *, clock: Clock = system_clock, scorer: Callable | None = None,
                 calibration: Callable[[Environment, str], Calibration] | None = None):
        self.store = store
        self.registry = registry
        self.clock = clock
        self._scorer_given = scorer is not None  # else each trial's sandbox picks it (docker: a scoring container)
        if scorer is None:
            from scoring.runner import score_candidate as scorer
        self.scorer = scorer
        self._calibration_given = calibration is not None  # else the store's, for the trial's runtime
        self.calibration = calibration or (lambda env, variant: find_calibration(store, env, variant))

    def with_clock(self, clock: Clock) -> TrialService:
        """A service like this one on another clock: the same store and registry, and the scorer and calibration
        it was given (those it was not given are chosen per trial as here, not fixed to this one's defaults)."""
        return TrialService(self.store, self.registry, clock=clock,
                            scorer=self.scorer if self._scorer_given else None,
                            calibration=self.calibration if self._calibration_given else None)

    # -- lifecycle -----------------------------------------------------------------------

    def create(self, spec: str, participant: str, *, kind: str = "human", model: str = "", sandbox: str = "local",
               budget_s: float | None = None, backstop_s: float | None = None, workdir: Path | None = None,
               start: bool = False) -> TrialRecord:
        """Create a trial with a workdir holding the starting files; the clock starts later.

        A given workdir is made before the trial is recorded, so that a failure records nothing."""
        env, variant = self.registry.resolve(spec)
        participant = participant.strip()
        if not participant:
            raise TrialError("a trial needs a participant: give a name")
        budget = budget_s if budget_s is not None else env.budget_seconds(variant.name)
        if not 0 < budget <= MAX_BUDGET_S:  # NaN fails this too
            raise TrialError(f"the budget must be more than 0 s and at most {MAX_BUDGET_S / 3600:g} h, "
                             f"got {budget:g} s")
        backstop = backstop_s if backstop_s is not None else max(
            budget * DEFAULT_BACKSTOP_FACTOR, env.wall_backstop_hours * 3600.0
        )
        if not (math.isfinite(backstop) and backstop > 0):
            raise TrialError(f"the wall-clock backstop must be a positive number of seconds, got {backstop:g}")
        who = self.store.participant(participant, kind=kind, model=model)
        folder = Path(workdir).expanduser().absolute() if workdir else None
        if folder is not None:
            workdirs.make_workdir(folder, env, variant.name)
        trial = self.store.create_trial(env.name, variant.name, who.id, sandbox, budget, backstop,
                                        str(folder) if folder else "", self.clock())
        if folder is None:  # the default workdir is named after the trial
            folder = (self.store.data_dir / "trials" / str(trial.id) / "workdir").absolute()
            try:
                workdirs.make_workdir(folder, env, variant.name)
            except Exception:
                self.end(trial.id, "workdir_failed")  # never a trial left open without a workdir
                raise
            trial = self.store.update_trial(trial.id, workdir=str(folder))
        self._event(trial, "created", {"participant": participant, "budget_s": budget, "workdir": str(folder)})
        if sandbox == "docker":
            self._provision(trial, env)
        fixed_calibration.fix_calibration_or_later(self, trial, env)
        return self.start(trial.id) if start else self.store.trial(trial.id)

    def _provision(self, trial: TrialRecord, env: Environment) -> None:
        """Start the trial's container now, so that a missing daemon or image is reported at creation."""
        from console.sandbox import SandboxError, get_sandbox

        try:
            get_sandbox(trial, self.store.data_dir, env=env)
        except SandboxError as exc:
            self.end(trial.id, "sandbox_failed")
            raise TrialError(str(exc)) from None

    def start(self, trial_id: int) -> TrialRecord:
        """Start the clock (idempotent)."""
        trial = self._open_trial(trial_id)
        if trial.started_at is not None:
            return trial
        now = self.clock()
        trial = self.store.update_trial(trial_id, status="running", started_at=now)
        self._event(trial, "started", {})
        return trial

    def pause(self, trial_id: int, reason: str = "human", note: str = "") -> PauseRecord:
        """Stop the clock, with a reason; an already paused trial stays paused."""
        trial = self._running(trial_id)
        existing = self.store.open_pause_of(trial_id)
        if existing is not None:
            raise TrialError(f"trial {trial_id} is already paused ({existing.reason})")
        pause = self.store.open_pause(trial_id, reason, self.clock(), note)
        self.store.update_trial(trial_id, status="paused")
        self._event(trial, "paused", {"reason": reason, "note": note})
        return pause

    def resume(self, trial_id: int) -> PauseRecord:
        """Restart the clock after a pause."""
        orphaned = self.close_orphaned_scoring_pause(trial_id)
        if orphaned is not None:  # the pause was a dead scoring's: closed, and said so
            return orphaned
        trial = self._open_trial(trial_id)
        pause = self.store.close_pause(trial_id, self.clock())
        if pause is None:
            raise TrialError(f"trial {trial_id} is not paused")
        self.store.update_trial(trial_id, status="running")
        self._event(trial, "resumed", {"reason": pause.reason, "paused_s": pause.ended_at - pause.started_at})
        return pause

    def note(self, trial_id: int, text: str) -> bool:
        """Add a note to the trial's record; True when the trial had ended (the note is marked `after_end`, an
        annotation made afterwards, not something that happened during the trial)."""
        trial = self.store.trial(trial_id)
        after_end = trial.status == "ended"
        self._event(trial, "note", {"text": text, "after_end": True} if after_end else {"text": text})
        return after_end

    def end(self, trial_id: int, reason: str, at: float | None = None) -> TrialRecord:
        """End the trial: close any pause, fix the final score as the best so far, snapshot the workdir."""
        trial = self.store.trial(trial_id)
        if trial.status == "ended":
            return trial
        at = self.clock() if at is None else at
        if trial.started_at is None:
            trial = self.store.update_trial(trial_id, started_at=at)
        limits.close_any_pause(self.store, trial_id, at)
        best = best_score(self.store.submissions(trial_id))
        # a workdir that cannot be snapshotted never keeps a trial open
        snapshot = workdirs.snapshot_or_note(self, trial)
        ended = self.store.end_trial(trial_id, ended_at=at, end_reason=reason, final_score=best)
        if ended is None:  # another process ended it meanwhile: its end stands, once
            return self.store.trial(trial_id)
        trial = ended
        self._event(trial, "ended", {"reason": reason, "final_score": best, "snapshot": snapshot}, at=at)
        from console.sandbox import release_sandbox

        release_sandbox(trial, self.store.data_dir)  # the docker sandbox's container goes; its files are snapshotted
        return trial

    # -- scoring (console.trials.scorings) ----------------------------------------------

    def score(self, trial_id: int, final: bool = False) -> SubmissionRecord:
        """Score the workdir now; scoring time is a pause with reason 'scoring'."""
        return scorings.score(self, trial_id, final)

    def scoring_pause(self, trial_id: int) -> AbstractContextManager[None]:
        """The trial's clock stopped from the request of a scoring until its result is recorded (copying the
        workdir out and snapshotting it are part of the scoring), so that a scoring asked for within the budget
        is never lost to a budget that ran out while it was made. Its own pause (none where a person's is open),
        closed by id: another process may have closed it and paused since. A scoring asked for while another
        live scoring of the trial holds its pause is refused (TrialError): it would have no pause of its own, and
        the clock would run again, budget and all, when the first one's result was recorded. A context manager."""
        return scorings.scoring_pause(self, trial_id)

    def record_folder(self, trial_id: int, result: ScoreResult, folder: Path) -> SubmissionRecord:
        """Record a result of scoring `folder` (not the trial's workdir: `rearena score --record`), with a
        snapshot of that folder where one can be taken (else a snapshot_failed event)."""
        return scorings.record_folder(self, trial_id, result, folder)

    def record(self, trial_id: int, result: ScoreResult, snapshot: str = "", final: bool = False
               ) -> SubmissionRecord:
        """Record a score result as a submission of the trial (and as an event)."""
        return scorings.record(self, trial_id, result, snapshot, final)

    def submit(self, trial_id: int) -> TrialRecord:
        """Score one last time and end the trial; the final score is the best valid one."""
        self.score(trial_id, final=True)
        return self.end(trial_id, "submitted")

    def trial_calibration(self, trial_id: int, env: Environment | None = None) -> Calibration:
        """The calibration every scoring of the trial uses: the one fixed in its settings when it was made (a
        calibration measured since, by anyone, changes nothing); for a trial made before calibrations were
        fixed, its first submission's, else the one chosen now, fixed from then on."""
        return fixed_calibration.trial_calibration(self, trial_id, env)

    # -- workdir (console.trials.workdirs) ----------------------------------------------

    def snapshot(self, trial_id: int, reason: str = "periodic") -> str:
        """Snapshot the workdir; records a "snapshot" event only when it changed since the last one."""
        return workdirs.snapshot(self, trial_id, reason)

    def instructions(self, trial_id: int) -> str:
        """The participant's instructions for the trial's environment variant."""
        from environments.registry import instructions_for

        trial = self.store.trial(trial_id)
        return instructions_for(self.registry.get(trial.environment), trial.variant)

    # -- reading -------------------------------------------------------------------------

    def status(self, trial_id: int) -> TrialStatus:
        """The trial and its clock now; ends it first if its budget or backstop ran out or its agent is gone."""
        self.close_orphaned_scoring_pause(trial_id)
        trial = self.check_limits(trial_id)  # the trial as it is now: read once (the home screen reads every trial)
        now = self.clock()
        active = self._active(trial, now)
        wall = 0.0 if trial.started_at is None else (trial.ended_at or now) - trial.started_at
        subs = self.store.submissions(trial_id)
        return TrialStatus(
            trial=trial, now=now, active_s=active, remaining_s=max(0.0, trial.budget_s - active), wall_s=wall,
            backstop_remaining_s=max(0.0, trial.wall_backstop_s - wall),
            pause=self.store.open_pause_of(trial_id) if trial.status != "ended" else None,
            best=best_score(subs), submissions=len(subs),
        )

    def close_orphaned_scoring_pause(self, trial_id: int) -> PauseRecord | None:
        """Close, now, the trial's pause for a scoring (or an agent's wait on a failing API) whose process has
        died (killed, a crash: its `finally` never ran), recording a "resumed" event that says so; else nothing.
        The time until now stays paused: no one could see the clock meanwhile. An agent trial whose agent's
        process is gone too is ended instead, as "agent_gone" (check_limits)."""
        pause = self.store.open_pause_of(trial_id)
        if pause is None or pause.reason not in ("scoring", "api_wait") or not owner_gone(pause.note):
            return None
        trial = self.store.trial(trial_id)
        if end_gone_agent_trial(self, trial) is not None:  # it ends at its last event, not at this pause's close
            return None
        closed = self.store.close_pause(trial_id, max(self.clock(), pause.started_at), pause_id=pause.id)
        if closed is not None:
            what = "scoring" if pause.reason == "scoring" else "wait on the model API"
            self._event(trial, "resumed", {"reason": pause.reason, "paused_s": closed.ended_at - closed.started_at,
                                           "note": f"the process of this {what} ended without closing its pause"})
        return closed

    def check_limits(self, trial_id: int) -> TrialRecord:
        """End a trial whose active time reached its budget or whose wall time passed the backstop, or an agent
        trial whose agent's process is gone (console.trials.owner.end_gone_agent_trial); the trial as it is now."""
        return limits.check_limits(self, trial_id)

    def active_time(self, trial_id: int, at: float | None = None) -> float:
        """The trial's active time now (or at `at`), from its stored start and pauses."""
        trial = self.store.trial(trial_id)
        return self._active(trial, self.clock() if at is None else at)

    def event(self, trial_id: int, kind: str, data: dict, at: float | None = None):
        """Record an event of the trial (time-stamped with its active time) and return it."""
        at = self.clock() if at is None else at
        active = self._active(self.store.trial(trial_id), at)
        return self.store.add_event(trial_id, kind, data, at, active)

    # -- helpers (the modules named above use them too) ---------------------------------

    def _active(self, trial: TrialRecord, now: float) -> float:
        return active_seconds(trial.started_at, trial.ended_at, self.store.pauses(trial.id), now)

    def _open_trial(self, trial_id: int) -> TrialRecord:
        self.close_orphaned_scoring_pause(trial_id)  # a dead scoring's pause must not stop the clock of this action
        trial = self.check_limits(trial_id)
        if trial.status == "ended":
            raise TrialError(f"trial {trial_id} has ended ({trial.end_reason}); it can no longer be scored or changed")
        return trial

    def _running(self, trial_id: int) -> TrialRecord:
        trial = self._open_trial(trial_id)
        if trial.started_at is None:
            trial = self.start(trial_id)
        return trial

    def _event(self, trial: TrialRecord, kind: str, data: dict, at: float | None = None,
               active: float | None = None) -> None:
        at = self.clock() if at is None else at
        active = self._active(self.store.trial(trial.id), at) if active is None else active
        self.store.add_event(trial.id, kind, data, at, active)
