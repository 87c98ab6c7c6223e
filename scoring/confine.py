"""Confinement of a candidate's process in local scoring, where the scorer runs as root.

The tripwire (scoring/candidate_boot.py) only watches the candidate's own Python. Where this
process is root and can make namespaces, an untrusted candidate's python also starts:

- in a private mount namespace where every off-limits folder (reference solutions, scoring/,
  environments/, .git) is covered by an empty, read-only tmpfs of mode 000, so no route (dir_fd,
  hard links, native code, subprocesses) reaches the files;
- in a new PID namespace with its own /proc (the CPU path): the scorer, the runner and their
  threads are not in it, and when its first process ends the kernel kills every process left in
  it, so nothing the candidate started can outlive it, whatever it does (double fork, setsid);
- with every capability dropped and no_new_privs (setpriv), so it can neither unmount the covers
  nor trace or read other processes' memory, although its uid is still 0.

CUDA IPC between the scorer and the candidate is not known to work across PID namespaces, so a
GPU candidate gets the mount namespace and the dropped capabilities without a PID namespace.
Elsewhere (not root, no unshare, inside a scoring container) nothing changes.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile

COVER = "mount -t tmpfs -o ro,mode=000,size=4k rearena-off-limits {path}"
COVER_FILE = "mount --bind -o ro /dev/null {path}"
DROP = "exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- \"$@\""


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether this process can confine candidates (root, unshare, setpriv, mounts in a namespace)."""
    if os.name != "posix" or os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "setpriv", "mount"))):
        return False
    with tempfile.TemporaryDirectory(prefix="rearena-confine-") as probe:
        argv = wrap(["true"], [probe], pid_namespace=True, check=False)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return False
    return done.returncode == 0


def wrap(argv: list[str], off_limits: list[str], *, pid_namespace: bool = True, check: bool = True) -> list[str]:
    """argv run confined: off-limits paths covered, own PID namespace (optional), no capabilities."""
    if check and not available():
        return argv
    covers = []
    for path in off_limits:
        if path.startswith("/proc/"):
            continue  # the PID namespace's own /proc has none of the scorer's entries
        if os.path.isdir(path):
            covers.append(COVER.format(path=shlex.quote(path)))
        elif os.path.exists(path):
            covers.append(COVER_FILE.format(path=shlex.quote(path)))
    script = " && ".join(["set -e", *covers]) + "\n" + DROP
    namespaces = ["--mount", "--propagation", "private"]
    if pid_namespace:
        namespaces += ["--pid", "--fork", "--kill-child", "--mount-proc"]
    return ["unshare", *namespaces, "--", "/bin/sh", "-c", script, "rearena-confine", *argv]
