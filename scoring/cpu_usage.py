"""CPU seconds used by everything a candidate started, read from /proc.

Counting only the process group of the candidate's process missed what left it: a red-team candidate
trained a forbidden run in a child that called setsid(), while its own process slept and answered.
cpu_seconds(pid) counts each of these once:

- the processes below `pid` in the process tree (by parent), `pid` included;
- every process in the PID namespaces of those processes that differ from this process's own: a
  confined candidate (scoring/confine.py) has a PID namespace of its own that holds everything it
  started, whatever it did (setsid, double fork, re-parenting to its init);
- the members of process group `pid`;
- with `adopted_by` (a child subreaper: the scorer's process in scoring.host), its children other
  than `pid` and everything below them: unconfined, a process orphaned by a double fork is
  re-parented there. Only where the subreaper has no other children of its own.

Each adds utime + stime + cutime + cstime of /proc/<p>/stat: its own time and that of the children
it reaped. A zombie still has its times there, so a child that ended counts until it is reaped,
and then in its parent's cutime.

Not counted: a child that ended under a parent ignoring SIGCHLD (auto-reaped, the kernel adds its
time to no one), and, unconfined and without `adopted_by`, a process orphaned out of the tree. Only
a cgroup of the candidate's own would count those.
"""

from __future__ import annotations

import os


def stat_fields(pid: int | str) -> list[bytes]:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]; [] if the process is gone. (The
    name may hold spaces and parentheses: the fields start after the last ')'.)"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2:].split()


def _stat(pid: str) -> tuple[int, int, int] | None:
    """(ppid, pgrp, utime + stime + cutime + cstime in clock ticks) of a process; None if it is gone."""
    fields = stat_fields(pid)  # state ppid pgrp ... utime(11) stime cutime cstime
    try:
        return int(fields[1]), int(fields[2]), sum(int(v) for v in fields[11:15])
    except (IndexError, ValueError):
        return None


def _pid_namespace(pid: int | str) -> str | None:
    """The link target of /proc/<pid>/ns/pid ("pid:[inode]"); None if it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def cpu_seconds(pid: int, adopted_by: int | None = None) -> float:
    """CPU seconds (user + system, with reaped children) used by everything started from `pid`:
    its process tree, the PID namespaces of that tree other than ours, its process group, and the
    orphans adopted by `adopted_by` (see the module's docstring). One pass over /proc."""
    procs: dict[int, tuple[int, int, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _stat(name)
            if found is not None:
                procs[int(name)] = found
    children: dict[int, list[int]] = {}
    for child, (parent, _, _) in procs.items():
        children.setdefault(parent, []).append(child)

    todo = [pid]
    if adopted_by is not None:
        todo += children.get(adopted_by, [])
    counted: set[int] = set()
    while todo:
        one = todo.pop()
        if one in procs and one not in counted:  # the set also guards against a loop of reused pids
            counted.add(one)
            todo += children.get(one, [])

    own = _pid_namespace("self")
    if own is not None:
        foreign = {_pid_namespace(one) for one in counted} - {own, None}
        if foreign:  # confined: everything in the candidate's namespace, re-parented or not
            counted.update(one for one in procs if one not in counted and _pid_namespace(one) in foreign)
    counted.update(one for one, (_, group, _) in procs.items() if group == pid)
    return sum(procs[one][2] for one in counted) / os.sysconf("SC_CLK_TCK")
