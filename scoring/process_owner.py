"""A process named so that another process can tell, later, whether it still runs: its pid, its start time,
and the boot and namespaces in which that pair means one process. What the run file systems
(scoring.run_disk) and a trial's pause for a scoring (console.trials.owner) write of their owner.

    line = owner_line()       # "<pid> <start time> <boot> <pid ns> <mount ns>", None if it cannot be named
    gone(line)                # True only for a process of this boot and namespaces that has exited
    of_earlier_boot(line)     # True for a process of another boot than this one (of this machine: gone)
"""

from __future__ import annotations

import os

from scoring.cpu_usage import stat_fields


def started(pid: int) -> str | None:
    """A process's start time (clock ticks since boot, /proc/<pid>/stat's 22nd field): with its pid, it names
    the process (a pid is reused, the pair is not); None when there is no such process."""
    fields = stat_fields(pid)
    return fields[19].decode() if len(fields) > 19 else None


def where() -> str | None:
    """This boot, PID namespace and mount namespace, in which a pid and a start time name one process;
    None where one cannot be read."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            parts = [boot.read().strip(), os.readlink("/proc/self/ns/pid"), os.readlink("/proc/self/ns/mnt")]
    except OSError:
        return None
    return " ".join(part.replace(" ", "_") for part in parts)


def owner_line() -> str | None:
    """This process, named; None where it cannot be named (it is then never told gone)."""
    pid = os.getpid()
    start, here = started(pid), where()
    return None if start is None or here is None else f"{pid} {start} {here}"


def gone(line: str) -> bool:
    """Whether the process an owner_line names has exited. Only one of this boot, PID namespace and mount
    namespace can be told gone (another namespace's pid means nothing here); a line that names none is
    unknown: False."""
    try:
        pid, start, *place = line.split()
    except ValueError:
        return False
    if not pid.isdigit() or " ".join(place) != where():
        return False
    return started(int(pid)) != start


def of_earlier_boot(line: str) -> bool:
    """Whether the process an owner_line names ran in another boot than this one (where the line is of this
    machine, that process is gone); False for a line that names no boot, or where this boot is unknown."""
    parts, here = line.split(), where()
    return len(parts) > 2 and here is not None and parts[2] != here.split()[0]
