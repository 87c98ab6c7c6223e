"""Which process holds a trial's pause for a scoring, written into the pause's note, so that a console that
opens the trial later can tell a scoring still under way (another console, `rearena task score`) from one
whose process died (killed, a crash, the machine rebooted) and left the clock paused for ever. The process
is named as the run file systems name their runner (scoring.process_owner), and its machine by its
machine-id and host name: on the same machine, a process of an earlier boot is gone."""

from __future__ import annotations

import socket

from scoring.process_owner import gone, of_earlier_boot, owner_line

_PREFIX = "scoring in process "
_ON = " on machine "


def machine() -> str:
    """This machine: /etc/machine-id and the host name (cloned virtual machines may share a machine-id);
    "" where there is no machine-id."""
    try:
        with open("/etc/machine-id") as found:
            machine_id = found.read().strip()
    except OSError:
        return ""
    return f"{machine_id}@{socket.gethostname()}".replace(" ", "_") if machine_id else ""


def owner_note() -> str:
    """The note of a scoring pause opened by this process ("" where it cannot be named: never told gone)."""
    line = owner_line()
    if not line:
        return ""
    here = machine()
    return f"{_PREFIX}{line}{_ON}{here}" if here else f"{_PREFIX}{line}"


def owner_gone(note: str) -> bool:
    """True only when the note names a process that is no longer running: one of this boot and namespaces
    that has exited, or one of this machine's earlier boot; False where it cannot be told (another machine
    or namespace, an older note)."""
    if not (note or "").startswith(_PREFIX):
        return False
    line, _, noted_machine = note[len(_PREFIX):].partition(_ON)
    return gone(line) or (bool(noted_machine) and noted_machine == machine() and of_earlier_boot(line))
