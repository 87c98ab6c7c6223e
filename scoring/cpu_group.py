"""A cgroup of a candidate's own, for the CPU time of every process it ever ran.

scoring/cpu_usage.py reads /proc: it sees the processes alive (and zombies), and the children they
reaped. A child that ends under a parent ignoring SIGCHLD is reaped by the kernel and its time is added
to no one: a candidate could train in such children inside a call and show 0.1 CPU s. A cgroup counts
the time of every task that was ever in it, exited ones included, and every process started from the
candidate's first one stays in it (setsid, double forks, SIGCHLD ignored: none of them leaves a cgroup;
moving out needs write access to the hierarchy, which a candidate confined as another uid lacks; on the GPU
path, uid 0 without capabilities, not yet).

cgroup v2 (cpu.stat's usage_usec, there whether or not the cpu controller is on) where it is mounted,
else v1's cpuacct (cpuacct.usage). Only as root, where the hierarchy is writable; elsewhere `create`
returns None and the caller falls back to /proc.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)


def _mounts() -> list[tuple[str, str, str]]:
    try:
        with open("/proc/self/mounts") as mounts:
            return [tuple(line.split()[1:4]) for line in mounts if len(line.split()) >= 4]  # type: ignore[misc]
    except OSError:
        return []


def _own_groups() -> dict[str, str]:
    """This process's cgroup in each hierarchy: "" for v2, else the v1 controllers (cpu,cpuacct...)."""
    try:
        with open("/proc/self/cgroup") as groups:
            lines = [line.rstrip("\n").split(":", 2) for line in groups]
    except OSError:
        return {}
    return {controllers: path for _, controllers, path in (line for line in lines if len(line) == 3)}


def _hierarchy() -> tuple[Path, str] | None:
    """Where to make a group (inside this process's own cgroup, so that the limits on it, memory.max or
    a service's, still hold for the candidate), and the file that holds its CPU time: v2 first, then
    v1's cpuacct. None where that cgroup is not writable here (the caller falls back to /proc)."""
    own, mounts = _own_groups(), _mounts()
    for point, kind, _ in mounts:
        if kind == "cgroup2" and "" in own:
            base = Path(point, own[""].lstrip("/"))
            if os.access(base, os.W_OK) and (base / "cgroup.procs").exists():
                return base, "cpu.stat"
    base = v1_group("cpuacct")
    return (base, "cpuacct.usage") if base is not None else None


def v1_group(controller: str) -> Path | None:
    """This process's group in cgroup v1's hierarchy of `controller` (cpuacct, cpuset), where it is mounted
    and writable here; else None."""
    own = _own_groups()
    for point, kind, options in _mounts():
        if kind == "cgroup" and controller in options.split(","):
            path = next((path for controllers, path in own.items() if controller in controllers.split(",")), None)
            base = Path(point, path.lstrip("/")) if path is not None else None
            if base is not None and os.access(base, os.W_OK):
                return base
    return None


PREFIX = "rearena-candidate-"
_made: set[Path] = set()  # the groups this process made: removed at its exit where still there and empty


def _remove_made() -> None:
    for path in list(_made):
        try:
            path.rmdir()
        except OSError:
            pass


def made(path: Path) -> None:
    """Note a group this process made (a CpuGroup, or cpu_share's cpuset): removed at its exit where still
    there and empty."""
    if not _made:
        atexit.register(_remove_made)
    _made.add(path)


STALE_S = 3600  # a group this old whose processes are gone was left by a scorer that died: removed


@functools.lru_cache(maxsize=None)
def _sweep(root: Path) -> None:
    """Remove the empty groups that scorers which died left behind (rmdir fails on a group in use); once
    per process and hierarchy, not at every candidate's start."""
    now = time.time()
    try:
        entries = [entry for entry in os.scandir(root) if entry.name.startswith(PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_S:
                os.rmdir(entry.path)
        except OSError:
            pass


def new_group(root: Path) -> Path:
    """Make a fresh group under `root`, named by this (the scorer's) process, after sweeping stale ones there;
    removed at this process's exit where still there and empty. OSError when it cannot be made."""
    _sweep(root)
    path = root / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    made(path)
    return path


def remove_groups_of(pid: int, wait_s: float = 1.0) -> None:
    """Remove the groups that the scorer's process `pid` made, once their processes have gone (the runner
    calls it after that process ended: killed at a timeout, it could not remove them itself)."""
    if os.geteuid() != 0:
        return
    found = _hierarchy()
    # its candidates' accounting groups, and their cpusets in cgroup v1 (scoring.cpu_share)
    roots = [root for root in (found[0] if found else None, v1_group("cpuset")) if root is not None]
    for root in roots:
        try:
            paths = [Path(entry.path) for entry in os.scandir(root) if entry.name.startswith(f"{PREFIX}{pid}-")]
        except OSError:
            continue
        for path in paths:
            CpuGroup(path, "").remove_when_empty(wait_s)  # (its usage file is not read)


class CpuGroup:
    """A fresh cgroup: `enter` (in the child, before exec) puts a process in it; `seconds` is the CPU
    time of every task it held; `remove` deletes it once empty."""

    def __init__(self, path: Path, usage_file: str):
        self.path, self.usage_file = path, usage_file
        self._procs = str(path / "cgroup.procs")  # a plain str: enter runs between fork and exec

    @classmethod
    def create(cls) -> CpuGroup | None:
        if os.geteuid() != 0:
            return None
        found = _hierarchy()
        if found is None:
            return None
        root, usage_file = found
        try:
            path = new_group(root)
        except OSError as exc:
            logger.info("no cgroup of its own for the candidate (%s): CPU time is read from /proc", exc)
            return None
        return cls(path, usage_file)

    def enter(self) -> None:
        """Move the calling process into the group (preexec: the candidate's first process)."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def seconds(self) -> float:
        text = (self.path / self.usage_file).read_text()
        if self.usage_file == "cpu.stat":
            usage = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
            return int(usage["usage_usec"]) / 1e6
        return int(text.strip()) / 1e9

    def holds(self, pid: int) -> bool:
        """Whether the process is in this group (its /proc/<pid>/cgroup names it)."""
        try:
            with open(f"/proc/{pid}/cgroup") as groups:
                return any(line.rstrip("\n").endswith("/" + self.path.name) for line in groups)
        except OSError:
            return False

    def kill_all(self, wait_s: float = 1.0) -> None:
        """SIGKILL every process in the group until none is left (or wait_s has passed): no process leaves
        a cgroup by setsid, a fork or a PID namespace of its own (cgroup.kill where the kernel has it)."""
        deadline = time.monotonic() + wait_s
        kill_file = self.path / "cgroup.kill"
        while True:
            try:
                pids = [int(word) for word in (self.path / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                return
            if not pids or time.monotonic() > deadline:
                return
            try:
                kill_file.write_text("1")
            except OSError:  # cgroup v1, or a kernel before 5.14: one by one (forks meanwhile: next round)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            time.sleep(0.002)

    def remove_when_empty(self, wait_s: float = 1.0) -> None:
        """Remove the group once its last process has gone (killed ones take a moment to leave)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.002)
        self.remove()

    def remove(self) -> None:
        """Delete the group (possible only once no process is left in it); logged when it stays."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("cgroup %s was not removed: %s", self.path, exc)
