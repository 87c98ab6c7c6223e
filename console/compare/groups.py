"""Trials of one environment in groups: all humans together; each agent model + settings apart.

Left out of every comparison: trials that never ran (never started, ended before their clock started, or ended
because their sandbox or workdir could not be made: infrastructure, not a 0 score), trials whose run failed (the
model API, the agent harness or the agent's process: FAILURE_REASONS), or that were stopped by whoever ran them,
before they made any progress (a model response, a tool call or a submission: they never got their chance either;
re-run them), by default trials that have not finished (running, or imported from an export made before they ended),
and trials whose scores are hidden (a running trial of an environment that hides scores); see load_groups. A trial
whose run failed after it made progress keeps the score it had reached (an agent that ran and did not improve
scores 0), and its group says how many of its trials ended so (TrialCurve.failed_run).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from console.compare.bundle_identity import UNFINISHED_REASON
from console.store.records import ParticipantRecord, SubmissionRecord, TrialRecord
from console.trials.clock import active_seconds
from console.trials.hidden import hidden_why
from console.trials.curves import best_so_far

AGENT_SETTINGS_KEY = "agent"  # where an agent trial keeps its configuration (console.agents.runner)
# Settings that do not change what the agent does: endpoint, secrets' names, prices, retries, the
# participant's display name, the sandbox and the per-trial budget (score@k varies that itself).
IGNORED_AGENT_SETTINGS = frozenset({
    "api_key", "api_key_env", "base_url", "participant", "prices", "request_timeout_s", "max_retries",
    "backoff_base_s", "backoff_max_s", "sandbox", "budget_s", "model",
})  # fmt: skip
INFRASTRUCTURE_REASONS = {  # end reasons that mean the trial never got its chance
    "sandbox_failed": "its sandbox could not be made (sandbox_failed)",
    "workdir_failed": "its workdir could not be made (workdir_failed)",
}
FAILURE_REASONS = {  # end reasons of a run that failed (console.agents.loop, console.trials.owner; Inspect: error)
    "api_error": "the model API failed (api_error)",
    "agent_error": "the agent harness failed (agent_error)",
    "agent_gone": "its agent's process died (agent_gone)",
    "error": "the sample ended in an error (error)",  # an Inspect sample (console.compare.inspect_map)
}
# what an agent records once it got somewhere: a model's reply, a tool call (console.agents.loop; an Inspect import
# records the same kinds); any submission counts too
PROGRESS_KINDS = ("model_response", "tool_call", "tool_output")


@dataclass(frozen=True)
class LeftOut:
    """A trial that the comparison leaves out, and why."""

    trial: TrialRecord
    why: str


@dataclass(frozen=True)
class TrialCurve:
    """One trial with its participant, submissions, best-so-far curve and length in active time."""

    trial: TrialRecord
    participant: ParticipantRecord
    submissions: tuple[SubmissionRecord, ...]
    curve: tuple[tuple[float, float], ...]
    active_s: float
    finished: bool = True  # False: still running, or imported from an export made before it ended

    @property
    def best(self) -> float | None:
        """The best valid normalized score (the trial's final score once it ended)."""
        if self.trial.final_score is not None:
            return self.trial.final_score
        return self.curve[-1][1] if self.curve else None

    @property
    def failed_run(self) -> bool:
        """Whether an agent's trial ended because its run failed (FAILURE_REASONS; a person's end reason is any text
        they chose); it is kept only if it made progress."""
        return self.trial.participant_kind == "agent" and self.trial.end_reason in FAILURE_REASONS

    @property
    def stopped_run(self) -> bool:
        """Whether an agent's trial was stopped by whoever ran it (end reason "stopped": Ctrl-C, the console's quit);
        like a failed run, it is kept only if it made progress, but its group does not count it as failed."""
        return self.trial.participant_kind == "agent" and self.trial.end_reason == "stopped"

    @property
    def budget(self) -> float | None:
        """The trial's budget of active time; None for an Inspect sample whose log set no time limit."""
        inspect = (self.trial.settings or {}).get("inspect")
        if not isinstance(inspect, dict):
            return self.trial.budget_s
        if "time_limit_s" in inspect:  # imports since the key exists say so
            return None if inspect["time_limit_s"] is None else self.trial.budget_s
        # an older import stored a sample's own working time as the budget of a log without limits
        unlimited = inspect.get("working_time") == self.trial.budget_s and not self.trial.end_reason.endswith("_limit")
        return None if unlimited else self.trial.budget_s

    @property
    def usable_s(self) -> float:
        """How far in active time the trial can be cut for score@k: its budget (no limit: any time); a trial that
        has not finished only as far as it has got (its best so far says nothing about later)."""
        limit = math.inf if self.budget is None else self.budget
        return limit if self.finished else min(limit, self.active_s)


@dataclass(frozen=True)
class Group:
    """Trials compared as one population: humans, or one agent model with one set of settings."""

    key: str
    label: str
    kind: str  # "human" or "agent"
    model: str
    variant: str
    settings_hash: str
    settings: dict[str, Any] = field(default_factory=dict)
    trials: tuple[TrialCurve, ...] = ()


def agent_settings(trial: TrialRecord, participant: ParticipantRecord) -> dict[str, Any]:
    """The settings that define an agent's group: its participant's settings and the trial's agent config."""
    merged: dict[str, Any] = dict(participant.settings or {})
    config = (trial.settings or {}).get(AGENT_SETTINGS_KEY)
    if isinstance(config, dict):
        merged.update(config)
    return {k: v for k, v in sorted(merged.items()) if k not in IGNORED_AGENT_SETTINGS}


def settings_hash(settings: dict[str, Any]) -> str:
    """A short stable hash of settings (canonical JSON)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def is_unfinished(trial: TrialRecord) -> bool:
    """Whether the trial has not finished: running, paused, or imported from an export made before it ended."""
    return trial.status != "ended" or trial.end_reason == UNFINISHED_REASON


def trial_curve(store, trial: TrialRecord, participant: ParticipantRecord) -> TrialCurve:
    """Load a trial's submissions and pauses and compute its curve and active length (for a trial that has not
    ended: up to the last thing it recorded, a submission or an event)."""
    subs = tuple(store.submissions(trial.id))
    end = trial.ended_at
    if end is None:
        last = store.last_event_id(trial.id)
        events = store.events(trial.id, after_id=last - 1) if last else []
        end = max([trial.started_at or trial.created_at] + [s.at for s in subs] + [e.at for e in events])
    active = active_seconds(trial.started_at, None, store.pauses(trial.id), end)
    curve = tuple(best_so_far(list(subs)))
    return TrialCurve(trial, participant, subs, curve, active, finished=not is_unfinished(trial))


def group_trials(curves: list[TrialCurve]) -> list[Group]:
    """Groups of trials: humans first, then agents by model and settings; variant apart when several."""
    several = len({c.trial.variant for c in curves}) > 1
    buckets: dict[tuple, list[TrialCurve]] = {}
    meta: dict[tuple, tuple[str, str, dict]] = {}
    for c in curves:
        kind = c.trial.participant_kind
        if kind == "agent":
            settings = agent_settings(c.trial, c.participant)
            model = c.participant.model or c.participant.name
            key = (c.trial.variant, 1, model, settings_hash(settings))
        else:
            settings, model = {}, ""
            key = (c.trial.variant, 0, "", "")
        buckets.setdefault(key, []).append(c)
        meta[key] = (kind, model, settings)
    groups = []
    for key in sorted(buckets):
        variant, _, model, digest = key
        kind, model, settings = meta[key]
        label = "humans" if kind != "agent" else f"{model} [{digest}]"
        if several:
            label += f" ({variant})"
        name = f"{variant}/human" if kind != "agent" else f"{variant}/agent/{model}/{digest}"
        trials = tuple(sorted(buckets[key], key=lambda c: c.trial.id))
        groups.append(Group(name, label, kind, model, variant, digest, settings, trials))
    return groups


def why_left_out(trial: TrialRecord, include_running: bool) -> str | None:
    """Why the trial is left out of a comparison before its records are read; None when it is not."""
    if trial.end_reason in INFRASTRUCTURE_REASONS:
        return INFRASTRUCTURE_REASONS[trial.end_reason]
    if trial.started_at is None:
        return "never started"
    if include_running or not is_unfinished(trial):
        return None
    if trial.end_reason == UNFINISHED_REASON:
        return "exported before it ended (unfinished_at_export); --include-running counts it up to its active time"
    return "not ended; --include-running counts it up to its active time so far"


def made_progress(store, curve: TrialCurve) -> bool:
    """Whether the trial got anywhere: a submission, or a model response or tool call recorded (PROGRESS_KINDS)."""
    return bool(curve.submissions) or bool(store.events(curve.trial.id, kinds=PROGRESS_KINDS, limit=1))


def load_groups(store, environment: str, variant: str | None = None, include_running: bool = False,
                visible: bool = True, participant: bool = False) -> tuple[list[Group], list[LeftOut]]:
    """(groups of the environment's trials, the trials left out with why): see the module's docstring. visible:
    the environment shows scores; where not, a trial whose scores console.trials.hidden hides (a running one, or
    any for a `participant`, inside a trial's shell) is left out too."""
    people = {p.id: p for p in store.participants()}
    kept, left_out = [], []
    for trial in store.trials(environment=environment):
        if variant is not None and trial.variant != variant:
            continue
        why = why_left_out(trial, include_running) or hidden_why(trial, visible, participant)
        if why is not None:
            left_out.append(LeftOut(trial, why))
            continue
        curve = trial_curve(store, trial, people[trial.participant_id])
        if curve.finished and curve.active_s <= 0 and not curve.submissions:
            # TrialService.end gives a trial that never started a start at its end: no active time, no attempt
            left_out.append(LeftOut(trial, f"ended ({trial.end_reason or 'no reason'}) before its clock started"))
            continue
        if curve.failed_run and not made_progress(store, curve):
            # it never got its chance (a dead endpoint, a harness crash, a killed process): not a 0 score
            left_out.append(LeftOut(trial, f"{FAILURE_REASONS[trial.end_reason]} before any model response, tool "
                                           "call or submission: a failed run, not a 0 score; re-run it"))
            continue
        if curve.stopped_run and not made_progress(store, curve):
            # stopped by whoever ran it (Ctrl-C, the console's quit) before the agent did anything: not its 0
            left_out.append(LeftOut(trial, "stopped (stopped) before any model response, tool call or submission: "
                                           "not a 0 score"))
            continue
        kept.append(curve)
    return group_trials(kept), left_out
