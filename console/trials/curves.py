"""Score-over-time curves and leaderboards (pure functions over records)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from console.store.records import SubmissionRecord, TrialRecord
from console.trials.hidden import shown_best


def score_points(submissions: list[SubmissionRecord]) -> list[tuple[float, float]]:
    """(active seconds, normalized score) of every valid submission, in time order."""
    return [(s.active_s, s.normalized) for s in sorted(submissions, key=lambda s: s.active_s)
            if s.valid and s.normalized is not None]


def best_so_far(submissions: list[SubmissionRecord]) -> list[tuple[float, float]]:
    """The best valid normalized score reached by each submission time (a non-decreasing curve)."""
    curve: list[tuple[float, float]] = []
    best = None
    for t, score in score_points(submissions):
        best = score if best is None else max(best, score)
        curve.append((t, best))
    return curve


def best_at(curve: list[tuple[float, float]], t: float, default: float | None = None) -> float | None:
    """A best-so-far curve's value at time t (its last point at or before t), else default."""
    pos = bisect.bisect_right(curve, (t, math.inf))
    return curve[pos - 1][1] if pos else default


@dataclass(frozen=True)
class LeaderboardRow:
    """One trial's standing in its environment."""

    rank: int
    trial_id: int
    participant: str
    participant_kind: str
    variant: str
    score: float
    status: str


def leaderboard(trials: list[TrialRecord], best_of: dict[int, float | None], *, visible: bool,
                limit: int = 10) -> list[LeaderboardRow]:
    """Trials ranked by final score (or best so far while running), best first; trials without a score left out,
    and so are those whose score is hidden (`visible`: the environment shows scores; see hidden.best_shown)."""
    scored = []
    for t in trials:
        score = shown_best(t, best_of.get(t.id), visible)
        if score is not None:
            scored.append((score, t))
    scored.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [LeaderboardRow(i + 1, t.id, t.participant, t.participant_kind, t.variant, score, t.status)
            for i, (score, t) in enumerate(scored[:limit])]
