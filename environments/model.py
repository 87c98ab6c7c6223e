"""Plain data describing an environment, its variants and its calibration (no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BUDGET_HOURS = 4 * 7 * 24.0  # the longest active-time budget of a trial (four weeks): manifests and trials
# how far apart a calibration's start and reference must be: relative to the larger of them (closer ones differ
# by rounding only), and at least MIN_SPAN (start 0, reference -1e-320 made every normalized score inf)
MIN_RELATIVE_SPAN = 1e-9
MIN_SPAN = 1e-200


def span_problem(start: float, reference: float) -> str:
    """Why normalizing by reference - start would not work ('' when it would)."""
    span = abs(reference - start)
    least = max(MIN_SPAN, MIN_RELATIVE_SPAN * max(abs(start), abs(reference)))
    if not math.isfinite(span):
        return f"start = {start:g} and reference = {reference:g}; expected finite raw scores"
    if span < least:
        return (f"start = {start:g} and reference = {reference:g} are too close; expected them at least "
                f"{least:g} apart (normalization divides by their difference)")
    return ""


@dataclass(frozen=True)
class Calibration:
    """Raw scores of the starting and reference solutions, and where they come from."""

    start: float
    reference: float
    source: str = "manifest"  # "manifest" or "measured"
    hardware: str = ""  # description of the machine they were measured on
    fingerprint: str = ""  # short hash of that machine's hardware, "" for manifest defaults
    measured_at: str = ""  # ISO timestamp, "" for manifest defaults
    digest: str = ""  # what was timed: solutions, scorer files, variant (scoring.calibrate); "" for manifest defaults

    def normalize(self, raw: float) -> float:
        """(raw - start) / (reference - start); not clamped, above 1 beats the reference; ValueError if not finite."""
        if self.start == self.reference:
            raise ValueError("calibration start and reference are equal; cannot normalize")
        problem = span_problem(self.start, self.reference)
        if problem:
            raise ValueError(f"calibration: {problem}")
        normalized = (raw - self.start) / (self.reference - self.start)
        if not math.isfinite(normalized):
            raise ValueError(f"calibration: the normalized score of raw {raw:g} is not finite "
                             f"(start = {self.start:g}, reference = {self.reference:g}); expected a finite number")
        return normalized

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, as recorded with every score."""
        return {
            "start": self.start,
            "reference": self.reference,
            "source": self.source,
            "hardware": self.hardware,
            "fingerprint": self.fingerprint,
            "measured_at": self.measured_at,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class Variant:
    """One variant of an environment: its parameters and optional overrides."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    calibration: Calibration | None = None  # overrides the environment's default
    budget_hours: float | None = None  # overrides the environment's budget
    scoring_timeout_s: float | None = None  # overrides the environment's scoring timeout


@dataclass(frozen=True)
class Hardware:
    """What an environment needs to run."""

    cpus: int = 1
    memory_gb: float = 2.0
    gpu: bool = False
    gpu_kind: str = ""  # e.g. "cuda"
    disk_gb: float = 2.0  # room for the participant's files (the docker sandbox enforces it)
    pids: int = 1024  # processes and threads at once (the docker sandbox enforces it)
    network: bool = False  # whether the docker sandbox gets a network (default: none at all)


@dataclass(frozen=True)
class Metric:
    """The raw metric: its name, which direction is better and how it is transformed."""

    name: str
    direction: str  # "lower" or "higher" (of the raw score)
    transform: str = "identity"  # "ln", "ln_minus_floor", "identity"
    unit: str = ""


@dataclass(frozen=True)
class Environment:
    """A task: instructions, starting files, scorer, budget, hardware needs and variants."""

    name: str
    title: str
    path: Path
    instructions: str
    starting_dir: Path | None
    variants: dict[str, Variant]
    budget_hours: float
    wall_backstop_hours: float
    hardware: Hardware
    metric: Metric
    calibration: Calibration
    scoring_timeout_s: float
    scoring_memory_mb: int
    scores_visible: bool
    scorer: Path  # the python file with `score(ctx)` (native) or the TaskFamily file (metr)
    kind: str = "native"  # "native" or "metr"
    description: str = ""
    entry_point: str = ""  # e.g. "solution.py:rolling_median", shown to participants
    default_variant: str = "main"
    image_packages: tuple[str, ...] = ()  # [image] python_packages: installed into the docker image
    # [calibration] per_machine: scores depend on the machine (a GPU kernel's time), so a trial made where no
    # current calibration is stored measures one first (console.trials.calibrations.measure_if_needed)
    calibrate_per_machine: bool = False

    def variant(self, name: str | None) -> Variant:
        """The named variant (or the default); KeyError lists the choices."""
        key = name or self.default_variant
        if key not in self.variants:
            raise KeyError(
                f"environment {self.name!r} has no variant {key!r}; "
                f"choices: {', '.join(sorted(self.variants))}"
            )
        return self.variants[key]

    def calibration_for(self, variant: str | None) -> Calibration:
        """The manifest's default calibration for a variant."""
        v = self.variant(variant)
        return v.calibration or self.calibration

    def budget_seconds(self, variant: str | None) -> float:
        """The active-time budget of a variant, in seconds."""
        v = self.variant(variant)
        return 3600.0 * (v.budget_hours if v.budget_hours is not None else self.budget_hours)

    def timeout_for(self, variant: str | None) -> float:
        """The scoring timeout of a variant, in seconds."""
        v = self.variant(variant)
        return v.scoring_timeout_s if v.scoring_timeout_s is not None else self.scoring_timeout_s


@dataclass(frozen=True)
class LoadProblem:
    """Why an environment folder could not be loaded: file, field and what was expected."""

    path: Path
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f": field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"
