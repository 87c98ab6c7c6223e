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

import atexit
import fcntl
import os
import time
import uuid
from pathlib import Path

from scoring.cpu_group import PREFIX, _sweep  # _sweep: the empty groups (and sets) of scorers that died
from scoring.kernel.cpus import parse_list as _parse

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

    def __init__(self, path: Path, own: bool):
        self.path, self.own = path, own  # own: a group made for it (v1), entered and removed here
        self._procs = str(path / "cgroup.procs")  # a plain str: enter runs between fork and exec

    @classmethod
    def create(cls, cpus: frozenset[int], group=None) -> CpuSet | None:
        if os.geteuid() != 0 or not cpus:
            return None
        listed = ",".join(str(cpu) for cpu in sorted(cpus))
        if group is not None and (group.path / "cpuset.cpus").exists():  # v2, the controller on
            try:
                (group.path / "cpuset.cpus").write_text(listed)
                return cls(group.path, own=False)
            except OSError:
                return None
        base = _v1_base()
        if base is None:
            return None
        _sweep(base)
        path = base / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            mems = base / ("cpuset.effective_mems" if (base / "cpuset.effective_mems").exists() else "cpuset.mems")
            (path / "cpuset.mems").write_text(mems.read_text().strip() or "0")
            (path / "cpuset.cpus").write_text(listed)
        except OSError:
            _rmdir(path)
            return None
        if not _made:
            atexit.register(lambda: [_rmdir(made) for made in list(_made)])  # those still there and empty
        _made.add(path)
        return cls(path, own=True)

    def enter(self) -> None:
        """Move the calling process into the set (preexec, before the candidate's code runs)."""
        if self.own:
            fd = os.open(self._procs, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    def holds(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/status") as status:
                line = next((line for line in status if line.startswith("Cpus_allowed_list:")), "")
        except OSError:
            return False
        return bool(line) and _parse(line.split(":", 1)[1]) == _parse((self.path / "cpuset.cpus").read_text())

    def remove_when_empty(self, wait_s: float = 1.0) -> None:
        if self.own:
            deadline = time.monotonic() + wait_s
            while not _rmdir(self.path) and time.monotonic() < deadline:
                time.sleep(0.002)


_made: set[Path] = set()  # the sets this process made: removed at its exit where still there and empty


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _v1_base() -> Path | None:
    """This process's group in cgroup v1's cpuset hierarchy, where it is mounted and writable."""
    try:
        with open("/proc/self/mounts") as mounts:
            point = next((line.split()[1] for line in mounts
                          if len(line.split()) > 3 and line.split()[2] == "cgroup"
                          and "cpuset" in line.split()[3].split(",")), None)
        with open("/proc/self/cgroup") as groups:
            own = next((line.rstrip("\n").split(":", 2)[2] for line in groups
                        if "cpuset" in line.split(":", 2)[1].split(",")), None)
    except (OSError, IndexError):
        return None
    if point is None or own is None:
        return None
    base = Path(point, own.lstrip("/"))
    return base if os.access(base, os.W_OK) and (base / "cpuset.cpus").exists() else None


def remove_sets_of(pid: int, wait_s: float = 1.0) -> None:
    """Remove the sets that the scorer's process `pid` made, once their processes have gone (the runner, after
    that process ended)."""
    base = _v1_base() if os.geteuid() == 0 else None
    if base is None:
        return
    try:
        paths = [Path(entry.path) for entry in os.scandir(base) if entry.name.startswith(f"{PREFIX}{pid}-")]
    except OSError:
        return
    for path in paths:
        CpuSet(path, own=True).remove_when_empty(wait_s)
