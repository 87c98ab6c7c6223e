"""Which process holds a trial's pause for a scoring, written into the pause's note, so that a console that
opens the trial later can tell a scoring still under way (another console, `rearena task score`) from one
whose process died (killed, a crash) and left the clock paused for ever. The process is named as the run
file systems name their runner (scoring.process_owner)."""

from __future__ import annotations

from scoring.process_owner import gone, owner_line

_PREFIX = "scoring in process "


def owner_note() -> str:
    """The note of a scoring pause opened by this process ("" where it cannot be named: never told gone)."""
    line = owner_line()
    return f"{_PREFIX}{line}" if line else ""


def owner_gone(note: str) -> bool:
    """True only when the note names a process of this boot and namespaces that is no longer running; False
    where it cannot be told (another machine or namespace, an older note)."""
    return (note or "").startswith(_PREFIX) and gone(note[len(_PREFIX):])
