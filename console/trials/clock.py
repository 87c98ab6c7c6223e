"""Active time from stored timestamps: wall time since start minus paused time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from console.store.records import PauseRecord
from environments.model import MAX_BUDGET_HOURS

Clock = Callable[[], float]
MAX_BUDGET_S = MAX_BUDGET_HOURS * 3600.0
"""The longest active-time budget (four weeks, as manifests allow), and the longest duration parse_duration reads."""


def system_clock() -> float:
    """The real clock: seconds since the epoch."""
    return time.time()


def active_seconds(started_at: float | None, ended_at: float | None, pauses: Iterable[PauseRecord],
                   now: float) -> float:
    """Seconds of active time between start and end (or now), pauses subtracted."""
    if started_at is None:
        return 0.0
    end = ended_at if ended_at is not None else now
    total = max(0.0, end - started_at)
    for pause in pauses:
        lo = max(pause.started_at, started_at)
        hi = min(pause.ended_at if pause.ended_at is not None else end, end)
        if hi > lo:
            total -= hi - lo
    return max(0.0, total)


def parse_duration(text: str) -> float:
    """'8h', '90m', '45s', '1h30m' or a plain number of seconds, to seconds (0 to MAX_BUDGET_S)."""
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        total = float(s)
    except ValueError:
        total = _parse_units(text, s)
    if not math.isfinite(total) or total < 0:
        raise ValueError(f"cannot read duration {text!r}; give a finite number of seconds, at least 0")
    if total > MAX_BUDGET_S:
        raise ValueError(f"duration {text!r} is too long; at most {MAX_BUDGET_S / 3600:g}h (four weeks)")
    return total


def _parse_units(text: str, s: str) -> float:
    """'1h30m'-style text to seconds."""
    unreadable = f"cannot read duration {text!r}; use e.g. 8h, 90m, 1h30m or seconds"
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for ch in s:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            try:
                total += float(number) * units[ch]
            except ValueError:  # '1..5h'
                raise ValueError(unreadable) from None
            number = ""
        else:
            raise ValueError(unreadable)
    if number:
        raise ValueError(f"cannot read duration {text!r}; a number needs a unit (h, m, s)")
    return total


def format_duration(seconds: float) -> str:
    """Seconds as H:MM:SS; "-" for a value that is not a finite number (a bad row must not break a listing)."""
    if not math.isfinite(seconds):
        return "-"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
