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

from scoring.cpu_group import CpuGroup, new_group, v1_group

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
    folder = _open_lock_folder()
    taken: list[int] = []
    if folder is not None:
        try:
            for cpu in available:
                if len(taken) == count:
                    break
                fd = _try_lock(folder, f"cpu{cpu}")
                if fd is not None:
                    _held.append(fd)
                    taken.append(cpu)
        finally:
            os.close(folder)
    for cpu in available:  # every CPU is taken: share some (the first ones: which does not matter)
        if len(taken) == count:
            break
        if cpu not in taken:
            taken.append(cpu)
    return frozenset(taken)


def _open_lock_folder() -> int | None:
    """The lock folder, opened, if it is this user's own: a real folder (no link followed), owned by this
    user, that no one else may write or read. /dev/shm is everyone's: a folder planted there first (after a
    reboot) by another user would let them hold every lock, or make root create files where a link points.
    None where it is not (then nothing is locked: the CPUs are shared)."""
    import stat

    path = lock_folder()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        os.close(fd)
        return None
    return fd


def _try_lock(folder: int, name: str) -> int | None:
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600, dir_fd=folder)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class CpuSet:
    """A cpuset cgroup holding a candidate to its CPUs. Its affinity alone a process may widen at will (a
    review's candidate set it back to every CPU); a cpuset is changed only by writing the hierarchy, which a
    confined candidate (another uid, no capabilities) cannot. cgroup v1's cpuset hierarchy (a group made
    beside the candidate's accounting one, cpu_group), or v2's where the cpuset controller is on in the
    candidate's own group (then that group is the set). Only as root; None elsewhere (affinity only)."""

    def __init__(self, path: Path, cpus: frozenset[int], own: bool):
        self.path, self.cpus, self.own = path, cpus, own  # own: a group made for it (v1), entered and removed here
        self._group = CpuGroup(path, "")  # (entered and removed as an accounting group is; its usage not read)

    @classmethod
    def create(cls, cpus: frozenset[int], group=None) -> CpuSet | None:
        if os.geteuid() != 0 or not cpus:
            return None
        listed = ",".join(str(cpu) for cpu in sorted(cpus))
        if group is not None and (group.path / "cpuset.cpus").exists():  # v2, the controller on
            try:
                (group.path / "cpuset.cpus").write_text(listed)
                return cls(group.path, cpus, own=False)
            except OSError:
                return None
        base = _v1_base()
        if base is None:
            return None
        try:
            path = new_group(base)
        except OSError:
            return None
        try:
            mems = base / ("cpuset.effective_mems" if (base / "cpuset.effective_mems").exists() else "cpuset.mems")
            (path / "cpuset.mems").write_text(mems.read_text().strip() or "0")
            (path / "cpuset.cpus").write_text(listed)
        except OSError:
            CpuGroup(path, "").remove()
            return None
        return cls(path, cpus, own=True)

    def enter(self) -> None:
        """Move the calling process into the set (preexec, before the candidate's code runs)."""
        if self.own:
            self._group.enter()

    def holds(self, pid: int) -> bool:
        """Whether the process is in the set and held to its CPUs (its affinity alone, set before exec too,
        does not count)."""
        try:
            return self._group.holds(pid) and os.sched_getaffinity(pid) == self.cpus
        except OSError:
            return False

    def remove_when_empty(self, wait_s: float = 1.0) -> None:
        if self.own:
            self._group.remove_when_empty(wait_s)


def _v1_base() -> Path | None:
    """This process's group in cgroup v1's cpuset hierarchy, where it is mounted and writable."""
    base = v1_group("cpuset")
    return base if base is not None and (base / "cpuset.cpus").exists() else None
