"""Which process holds a trial's pause for a scoring, written into the pause's note, so that a console that
opens the trial later can tell a scoring still under way (another console, `rearena task score`) from one
whose process died (killed, a crash) and left the clock paused for ever."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

_NOTE = re.compile(r"scoring in process (\d+) \(started at tick (\d+)\) on (\S+), boot ([0-9a-f-]+)$")


def _started(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _boot() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def owner_note() -> str:
    """The note of a scoring pause opened by this process."""
    pid = os.getpid()
    return f"scoring in process {pid} (started at tick {_started(pid)}) on {socket.gethostname()}, boot {_boot()}"


def owner_gone(note: str) -> bool:
    """True only when the note names a process of this machine and boot that is no longer running; False
    where it cannot be told (another machine, an older note)."""
    found = _NOTE.search(note or "")
    if found is None:
        return False
    pid, started, host, boot = found.groups()
    if host != socket.gethostname() or boot != _boot() or boot == "unknown":
        return False
    return _started(int(pid)) != started
