"""The trial service: create, start, pause, resume, score, submit, note and end trials.

No UI here: the CLI and the console both call this. Every state change is written to
the store before the call returns; active time is always computed from stored
timestamps with the injected clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from console.store.records import PauseRecord, SubmissionRecord, TrialRecord
from console.trials.calibrations import TRIAL_KEY
from console.trials.clock import MAX_BUDGET_S, Clock, active_seconds, system_clock
from console.trials.owner import end_gone_agent_trial, owner_gone, owner_note, owner_pid
from environments.model import Calibration, Environment
from scoring.result import ScoreResult

DEFAULT_BACKSTOP_FACTOR = 3.0
SUBMIT_GRACE_S = 60.0  # a final submission this old whose trial has not ended was cut short: its trial is ended


class TrialError(Exception):
    """A trial action that cannot be done (ended trial, unknown trial, bad state)."""


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
            _make_workdir(folder, env, variant.name)
        trial = self.store.create_trial(env.name, variant.name, who.id, sandbox, budget, backstop,
                                        str(folder) if folder else "", self.clock())
        if folder is None:  # the default workdir is named after the trial
            folder = (self.store.data_dir / "trials" / str(trial.id) / "workdir").absolute()
            try:
                _make_workdir(folder, env, variant.name)
            except Exception:
                self.end(trial.id, "workdir_failed")  # never a trial left open without a workdir
                raise
            trial = self.store.update_trial(trial.id, workdir=str(folder))
        self._event(trial, "created", {"participant": participant, "budget_s": budget, "workdir": str(folder)})
        if sandbox == "docker":
            self._provision(trial, env)
        self._fix_calibration_or_later(trial, env)
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
        self._close_any_pause(trial_id, at)
        best = best_score(self.store.submissions(trial_id))
        snapshot = self._snapshot_or_note(trial)  # a workdir that cannot be snapshotted never keeps a trial open
        ended = self.store.end_trial(trial_id, ended_at=at, end_reason=reason, final_score=best)
        if ended is None:  # another process ended it meanwhile: its end stands, once
            return self.store.trial(trial_id)
        trial = ended
        self._event(trial, "ended", {"reason": reason, "final_score": best, "snapshot": snapshot}, at=at)
        from console.sandbox import release_sandbox

        release_sandbox(trial, self.store.data_dir)  # the docker sandbox's container goes; its files are snapshotted
        return trial

    # -- scoring -------------------------------------------------------------------------

    def score(self, trial_id: int, final: bool = False) -> SubmissionRecord:
        """Score the workdir now; scoring time is a pause with reason 'scoring'."""
        trial = self._open_trial(trial_id)
        if not trial.workdir or not Path(trial.workdir).is_dir():
            raise TrialError(f"trial {trial_id} has no workdir to score ({trial.workdir or 'none recorded'})")
        env = self.registry.get(trial.environment)  # before the clock starts: one that no longer loads stops here
        if trial.started_at is None:
            trial = self.start(trial_id)
        scorer = self.scorer
        if not self._scorer_given and trial.sandbox != "local":
            from console.sandbox import scorer_for

            scorer = scorer_for(trial.sandbox)
        with self.scoring_pause(trial_id), self._workdir_copy(trial) as folder:  # what is snapshotted is scored
            snapshot = self._snapshot_or_note(trial, folder)
            result = scorer(env, trial.variant, folder, self.trial_calibration(trial_id, env), intermediate=not final)
            return self.record(trial_id, result, snapshot=snapshot, final=final)

    @contextmanager
    def scoring_pause(self, trial_id: int) -> Iterator[None]:
        """The trial's clock stopped from the request of a scoring until its result is recorded (copying the
        workdir out and snapshotting it are part of the scoring), so that a scoring asked for within the budget
        is never lost to a budget that ran out while it was made. Its own pause (none where a person's is open),
        closed by id: another process may have closed it and paused since. A scoring asked for while another
        live scoring of the trial holds its pause is refused (TrialError): it would have no pause of its own, and
        the clock would run again, budget and all, when the first one's result was recorded."""
        opened = self._open_scoring_pause(trial_id)
        try:
            yield
        finally:
            if opened is not None:
                self.store.close_pause(trial_id, self.clock(), pause_id=opened.id)

    def _open_scoring_pause(self, trial_id: int) -> PauseRecord | None:
        """Open a scoring's pause; None where another pause (a person's) already stops the clock; TrialError
        where another scoring's does (one whose process is gone is closed first, and this one opens)."""
        from console.store.errors import StoreError

        for _ in range(3):
            existing = self.store.open_pause_of(trial_id)
            if existing is not None and existing.reason == "scoring":
                if owner_gone(existing.note):
                    self.close_orphaned_scoring_pause(trial_id)
                    continue
                raise TrialError(self._scoring_under_way(trial_id, existing.note))
            if existing is not None:
                return None
            try:
                return self.store.open_pause(trial_id, "scoring", self.clock(), note=owner_note())
            except StoreError:
                if self.store.open_pause_of(trial_id) is None:  # not a pause opened meanwhile: a real error
                    raise
        raise TrialError(f"trial {trial_id} is being paused and resumed by other processes; score it again")

    @staticmethod
    def _scoring_under_way(trial_id: int, note: str) -> str:
        """Why a scoring is refused while another one's pause is open, naming its process where the note does."""
        pid = owner_pid(note)
        if pid:
            return f"trial {trial_id} is being scored (process {pid}); wait for its result"
        return (f"trial {trial_id} is being scored (by a process not named in its pause); wait for its result, or "
                f"resume the trial if no scoring is under way")

    def record_folder(self, trial_id: int, result: ScoreResult, folder: Path) -> SubmissionRecord:
        """Record a result of scoring `folder` (not the trial's workdir: `rearena score --record`), with a
        snapshot of that folder where one can be taken (else a snapshot_failed event)."""
        from scoring.normalize import apply_calibration

        apply_calibration(result, self.trial_calibration(trial_id))  # the trial's, as its own scorings use
        snapshot = self._snapshot_or_note(self.store.trial(trial_id), folder)
        return self.record(trial_id, result, snapshot=snapshot)

    def record(self, trial_id: int, result: ScoreResult, snapshot: str = "", final: bool = False
               ) -> SubmissionRecord:
        """Record a score result as a submission of the trial (and as an event)."""
        trial = self._open_trial(trial_id)
        if result.environment and result.environment != trial.environment:
            raise TrialError(
                f"trial {trial_id} is for {trial.environment!r}, this result is for {result.environment!r}"
            )
        if result.variant and result.variant != trial.variant:
            raise TrialError(f"trial {trial_id} is for {trial.environment}:{trial.variant}, "
                             f"this result is for {result.environment or trial.environment}:{result.variant}")
        now = self.clock()
        active = self._active(trial, now)
        sub = self.store.add_submission(
            trial_id, at=now, active_s=active, valid=result.valid, raw=result.raw, normalized=result.normalized,
            message=result.message, reason=result.reason, details=result.details,
            calibration=result.calibration or {}, duration_s=result.duration_s, snapshot=snapshot, final=final,
        )
        self._event(trial, "score", {
            "submission": sub.id, "valid": sub.valid, "raw": sub.raw, "normalized": sub.normalized,
            "message": sub.message, "reason": sub.reason, "final": final, "snapshot": snapshot,
        }, at=now, active=active)
        return sub

    def submit(self, trial_id: int) -> TrialRecord:
        """Score one last time and end the trial; the final score is the best valid one."""
        self.score(trial_id, final=True)
        return self.end(trial_id, "submitted")

    # -- calibration ---------------------------------------------------------------------

    def trial_calibration(self, trial_id: int, env: Environment | None = None) -> Calibration:
        """The calibration every scoring of the trial uses: the one fixed in its settings when it was made (a
        calibration measured since, by anyone, changes nothing); for a trial made before calibrations were
        fixed, its first submission's, else the one chosen now, fixed from then on."""
        trial = self.store.trial(trial_id)
        fixed = _fixed_calibration(trial.settings)
        if fixed is not None:
            return fixed
        first = next((s.calibration for s in self.store.submissions(trial_id)
                      if _fixed_calibration({TRIAL_KEY: s.calibration}) is not None), None)  # fmt: skip
        if first is not None:
            return self._keep_calibration(trial, {**first, "origin": "as its first submission recorded it"},
                                          "at its first submission")
        return self._fix_calibration(trial, env or self.registry.get(trial.environment), "at its first scoring")

    def _fix_calibration_or_later(self, trial: TrialRecord, env: Environment) -> None:
        """Fix the new trial's calibration now; where that fails (a store or file error), its first scoring does."""
        from console.store.errors import StoreError

        try:
            self._fix_calibration(trial, env, "at the trial's creation")
        except (StoreError, OSError) as exc:
            self._event(trial, "calibration_deferred", {"error": str(exc)[:2000]})

    def _fix_calibration(self, trial: TrialRecord, env: Environment, when: str) -> Calibration:
        """Choose the trial's calibration (this machine's for its sandbox's runtime, else the manifest's) and
        keep it in the trial's settings."""
        from console.trials.calibrations import choose_calibration, runtime_of

        if self._calibration_given:
            cal, origin = self.calibration(env, trial.variant), "given to the trial service"
        else:
            choice = choose_calibration(self.store, env, trial.variant, runtime_of(env, trial.sandbox))
            cal, origin = choice.calibration, choice.origin()
        return self._keep_calibration(trial, {**cal.as_dict(), "origin": origin}, when)

    def _keep_calibration(self, trial: TrialRecord, fixed: dict, when: str) -> Calibration:
        """Write the calibration into the trial's settings, unless one was fixed there meanwhile (that one wins)."""
        settings = dict(self.store.trial(trial.id).settings)
        kept = _fixed_calibration(settings)
        if kept is not None:
            return kept
        settings[TRIAL_KEY] = {**fixed, "fixed": when}
        self.store.update_trial(trial.id, settings=settings)
        return _fixed_calibration(settings)

    # -- workdir -------------------------------------------------------------------------

    def snapshot(self, trial_id: int, reason: str = "periodic") -> str:
        """Snapshot the workdir; records a "snapshot" event only when it changed since the last one."""
        trial = self.store.trial(trial_id)
        if not trial.workdir or not Path(trial.workdir).is_dir():
            raise TrialError(f"trial {trial_id} has no workdir to snapshot ({trial.workdir or 'none recorded'})")
        digest = self._snapshot(trial)
        last = self.store.events(trial_id, kinds=["snapshot"])
        if not last or last[-1].data.get("hash") != digest:
            self._event(trial, "snapshot", {"hash": digest, "reason": reason})
        return digest

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
        trial = self.store.trial(trial_id)
        if trial.status == "ended":
            return trial
        gone = end_gone_agent_trial(self, trial)  # started or not: nothing will run it again
        if gone is not None:
            return gone
        if trial.started_at is None:
            return trial
        now = self.clock()
        final_at = self.store.final_submission_at(trial_id)
        if final_at is not None and now - final_at >= SUBMIT_GRACE_S:
            # submitted, but the process died before it ended the trial (a live one ends it within moments,
            # after telling the result: an agent's submit tool): ended as it would have been
            return self.end(trial_id, "submitted", at=final_at)
        active = self._active(trial, now)
        if active >= trial.budget_s:
            overshoot = active - trial.budget_s if self.store.open_pause_of(trial_id) is None else 0.0
            return self.end(trial_id, "budget", at=now - overshoot)
        if now - trial.started_at >= trial.wall_backstop_s:
            return self.end(trial_id, "wall_backstop", at=trial.started_at + trial.wall_backstop_s)
        return trial

    def active_time(self, trial_id: int, at: float | None = None) -> float:
        """The trial's active time now (or at `at`), from its stored start and pauses."""
        trial = self.store.trial(trial_id)
        return self._active(trial, self.clock() if at is None else at)

    def event(self, trial_id: int, kind: str, data: dict, at: float | None = None):
        """Record an event of the trial (time-stamped with its active time) and return it."""
        at = self.clock() if at is None else at
        active = self._active(self.store.trial(trial_id), at)
        return self.store.add_event(trial_id, kind, data, at, active)

    # -- helpers -------------------------------------------------------------------------

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

    def _snapshot(self, trial: TrialRecord) -> str:
        with self._workdir_copy(trial) as folder:
            if not trial.workdir or not folder.is_dir():
                return ""
            return self.store.snapshot_dir(folder, trial_id=trial.id, at=self.clock())

    @contextmanager
    def _workdir_copy(self, trial: TrialRecord) -> Iterator[Path]:
        """The trial's workdir, brought out of its sandbox first (docker: copied out of the container; what could
        not be copied, or why nothing could, recorded), as a folder that no other process replaces while it is
        read (docker: a private copy of the host mirror, gone when the block ends; console.sandbox.mirror)."""
        from console.sandbox import SandboxError, reading_copy, sync_workdir

        try:
            skipped = sync_workdir(trial, self.store.data_dir)
            if skipped:
                self._event(trial, "not_copied", {"count": len(skipped), "entries": skipped[:50], "note": (
                    "left out of the copy of the workdir taken from the sandbox: not in its snapshot nor scored")})
        except SandboxError as exc:
            self._event(trial, "sandbox_error", {"error": str(exc)})
        with reading_copy(trial) as folder:
            yield folder

    def _close_any_pause(self, trial_id: int, at: float) -> None:
        """Close the open pause, whichever it is (the trial ends), at `at` or where it began if later (a pause
        opened after the backstop's time); again if another process opened one meanwhile."""
        for _ in range(3):
            pause = self.store.open_pause_of(trial_id)
            if pause is None or self.store.close_pause(trial_id, max(at, pause.started_at), pause_id=pause.id):
                return

    def _snapshot_or_note(self, trial: TrialRecord, folder: Path | None = None) -> str:
        """The snapshot of `folder` (the workdir's copy a scoring reads, or a folder `rearena score --record`
        scored), else of the trial's workdir, brought out of its sandbox first; "" where it cannot be taken
        (past the snapshot cap, unreadable), recorded as a snapshot_failed event: a scoring or the trial's end
        goes on without one."""
        from console.store.errors import StoreError

        try:
            if folder is None:
                return self._snapshot(trial)
            return self.store.snapshot_dir(Path(folder), trial_id=trial.id, at=self.clock())
        except (StoreError, OSError) as exc:
            self._event(trial, "snapshot_failed", {"error": str(exc)[:2000],
                                                   **({"folder": str(folder)} if folder is not None else {})})
            return ""

    def _event(self, trial: TrialRecord, kind: str, data: dict, at: float | None = None,
               active: float | None = None) -> None:
        at = self.clock() if at is None else at
        active = self._active(self.store.trial(trial.id), at) if active is None else active
        self.store.add_event(trial.id, kind, data, at, active)


def _make_workdir(folder: Path, env: Environment, variant: str) -> None:
    """Make an empty or new folder the workdir, with the starting files; TrialError says why it cannot."""
    from environments.registry import materialize_candidate

    try:
        if folder.exists() and not folder.is_dir():
            raise TrialError(f"workdir {folder} is not a folder")
        if folder.exists() and any(folder.iterdir()):
            raise TrialError(f"workdir {folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True)
        materialize_candidate(env, variant, folder)
    except OSError as exc:
        raise TrialError(f"cannot make the workdir {folder}: {exc.strerror or exc}") from None


def _fixed_calibration(settings: dict) -> Calibration | None:
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
