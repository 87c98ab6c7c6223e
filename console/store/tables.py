"""SQLModel tables of the store, and the schema version they make up."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from console.store.version import SCHEMA_VERSION  # noqa: F401  (the tables make up this version)


def _json(**kw: Any) -> Any:
    """A JSON column (stored as JSON text), defaulting to an empty dict."""
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False, **kw))


class Meta(SQLModel, table=True):
    """Key/value facts about the database itself (the schema version)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="")


class Participant(SQLModel, table=True):
    """A human (by name) or an agent (model + settings)."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("name", "kind", "model", name="uq_participant"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    kind: str = "human"
    model: str = ""
    settings: dict[str, Any] = _json()


class Trial(SQLModel, table=True):
    """One attempt by one participant at one environment variant."""

    __tablename__ = "trials"
    __table_args__ = (
        Index("ix_trials_environment", "environment", "created_at"),
        Index("ix_trials_status", "status"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    environment: str
    variant: str
    participant_id: int = Field(foreign_key="participants.id")
    sandbox: str = "local"
    status: str = "created"
    budget_s: float
    wall_backstop_s: float
    created_at: float
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    end_reason: str = ""
    workdir: str = ""
    final_score: Optional[float] = None
    settings: dict[str, Any] = _json()


class Event(SQLModel, table=True):
    """Anything that happened in a trial, time-stamped."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_trial_id", "trial_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trials.id")
    at: float
    active_s: float
    kind: str
    data: dict[str, Any] = _json()


class Pause(SQLModel, table=True):
    """An interval during which the trial clock stood still; at most one open per trial."""

    __tablename__ = "pauses"
    __table_args__ = (
        Index("ix_pauses_trial_id", "trial_id", "id"),
        Index(
            "uq_pauses_open",
            "trial_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trials.id")
    reason: str
    started_at: float
    ended_at: Optional[float] = None
    note: str = ""


class Submission(SQLModel, table=True):
    """A scored candidate inside a trial."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_trial_id", "trial_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trials.id")
    at: float
    active_s: float
    valid: bool
    raw: Optional[float] = None
    normalized: Optional[float] = None
    message: str = ""
    reason: str = ""
    details: dict[str, Any] = _json()
    calibration: dict[str, Any] = _json()
    duration_s: float = 0.0
    snapshot: str = ""
    final: bool = False


class CalibrationRow(SQLModel, table=True):
    """Measured raw scores of the starting and reference solutions on one machine."""

    __tablename__ = "calibrations"

    environment: str = Field(primary_key=True)
    variant: str = Field(primary_key=True)
    fingerprint: str = Field(primary_key=True)
    start: float
    reference: float
    source: str = "measured"
    hardware: str = ""
    measured_at: str = ""
    saved_at: float = 0.0
    # what was timed (scoring.calibrate.calibration_digest); a row with another digest is stale
    digest: str = Field(default="", sa_column_kwargs={"server_default": ""})


class Snapshot(SQLModel, table=True):
    """A snapshot of a candidate folder (its manifest hash), taken in a trial or not."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_hash", "hash"),
        Index("ix_snapshots_trial_id", "trial_id", "id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    hash: str = Field(max_length=64)
    trial_id: Optional[int] = Field(default=None, foreign_key="trials.id")
    created_at: float
    files: int
    bytes: int = Field(sa_type=BigInteger)


TABLES = [
    Meta.__table__,
    Participant.__table__,
    Trial.__table__,
    Event.__table__,
    Pause.__table__,
    Submission.__table__,
    CalibrationRow.__table__,
    Snapshot.__table__,
]
TABLE_NAMES = [t.name for t in TABLES]
