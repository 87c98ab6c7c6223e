"""The CPUs a scoring's candidates may run on: as many as the environment's `hardware.cpus`.

A scoring container gets the manifest's CPUs as a quota (scoring/containers.py); a local scoring pins its
candidates to that many CPUs (their affinity, inherited by all they start), so that a candidate that
spreads its work over every core of a large machine scores no better locally than in a container, or
than the starting and reference solutions were calibrated with. Scorings that run at once (agent trials
in parallel, several consoles) take CPUs of their own where there are enough: each CPU has a lock file,
and a scorer's process holds the locks of the CPUs it took until it ends (flock: a process that dies,
however, releases them). Where too few are free, it shares some that another scoring holds.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FOLDER = Path("/dev/shm")  # shared by every scorer's process of the machine (a tmpfs: gone at reboot)
_held: list[int] = []  # the lock files' descriptors: kept open until this process ends


def lock_folder() -> Path:
    return LOCK_FOLDER / f"rearena-cpus-{os.geteuid()}"


def claim(count: int | None) -> frozenset[int] | None:
    """`count` CPUs of this process's own for its candidates, or None where nothing is to be pinned
    (no count, or no fewer CPUs here than it asks for)."""
    if not count or count < 1:
        return None
    available = sorted(os.sched_getaffinity(0))
    if count >= len(available):
        return None
    folder = lock_folder()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        folder = None
    taken: list[int] = []
    if folder is not None:
        for cpu in available:
            if len(taken) == count:
                break
            fd = _try_lock(folder / f"cpu{cpu}")
            if fd is not None:
                _held.append(fd)
                taken.append(cpu)
    for cpu in available:  # every CPU is taken: share some (the first ones: which does not matter)
        if len(taken) == count:
            break
        if cpu not in taken:
            taken.append(cpu)
    return frozenset(taken)


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
