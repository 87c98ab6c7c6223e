"""Small domain records passed around instead of table rows (no SQLModel here).

Times are float seconds since the Unix epoch (UTC), as given by the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParticipantRecord:
    """A human (by name) or an agent (model + settings)."""

    id: int
    name: str
    kind: str  # "human" or "agent"
    model: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """One attempt by one participant at one environment variant."""

    id: int
    environment: str
    variant: str
    participant_id: int
    participant: str
    participant_kind: str
    sandbox: str
    status: str  # "created", "running", "paused", "ended"
    budget_s: float
    wall_backstop_s: float
    created_at: float
    started_at: float | None
    ended_at: float | None
    end_reason: str
    workdir: str
    final_score: float | None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PauseRecord:
    """An interval during which the trial clock stood still, with its reason."""

    id: int
    trial_id: int
    reason: str  # "human", "scoring", "system", ...
    started_at: float
    ended_at: float | None
    note: str = ""


@dataclass(frozen=True)
class EventRecord:
    """Anything that happened in a trial, time-stamped."""

    id: int
    trial_id: int
    at: float
    active_s: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionRecord:
    """A scored candidate inside a trial."""

    id: int
    trial_id: int
    at: float
    active_s: float
    valid: bool
    raw: float | None
    normalized: float | None
    message: str
    reason: str
    details: dict[str, Any]
    calibration: dict[str, Any]
    duration_s: float
    snapshot: str  # content hash of the candidate snapshot, "" if none
    final: bool = False  # True for the submission made by `submit`


@dataclass(frozen=True)
class CalibrationRecord:
    """A calibration saved for an environment variant on one machine."""

    environment: str
    variant: str
    calibration: Any  # environments.model.Calibration
    saved_at: float


@dataclass(frozen=True)
class SnapshotRecord:
    """A content-addressed snapshot of a candidate folder, taken in a trial (or not)."""

    id: int
    hash: str
    trial_id: int | None
    created_at: float
    files: int
    bytes: int


# the columns of a calibrations row that make up an environments.model.Calibration
CALIBRATION_FIELDS = ("start", "reference", "source", "hardware", "fingerprint", "measured_at", "digest")
