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

# An off-limits folder stays in place as an empty mode-000 folder (recreated when it was in the replaced
# /tmp), so that an attempt still meets a refusal (recorded as forbidden_access) rather than nothing.
COVER = "mkdir -p {path} && mount -t tmpfs -o ro,mode=000,size=4k rearena-off-limits {path}"
COVER_FILE = "if [ -e {path} ]; then mount --bind -o ro /dev/null {path}; fi"
DROP = "exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- \"$@\""
# The whole file system read-only but for the candidate's folder and fresh private /tmp, /dev/shm and /run
# (uid 0 without capabilities could otherwise write /etc, the venv, /proc/sys/kernel/core_pattern..., or
# reach other processes' sockets: docker.sock in /run, tmux's in /tmp; and read other runs' files in /tmp).
# The candidate's folder, and the python it runs when that lies in /tmp (a checkout there), are staged
# on a private tmpfs while /tmp is replaced, then bound back where they were.
READ_ONLY = r"""
CAND=$(pwd -P)
STAGE={stage}
mount -t tmpfs -o mode=700,size=64k rearena-stage "$STAGE"
mkdir "$STAGE/cand"
mount --bind "$CAND" "$STAGE/cand"
i=0
for P in {keeps}; do mkdir "$STAGE/k$i"; mount --bind "$P" "$STAGE/k$i"; i=$((i+1)); done
for m in $(awk '{{print $5}}' /proc/self/mountinfo); do
  case "$m" in "$STAGE"|"$STAGE"/*) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=1777 rearena-tmp /tmp
if [ -d /dev/shm ]; then mount -t tmpfs -o mode=1777 rearena-shm /dev/shm; fi
mount -t tmpfs -o mode=755 rearena-run /run
if [ -d /var/run ] && [ ! -L /var/run ]; then mount -t tmpfs -o mode=755 rearena-run /var/run; fi
i=0
for P in {keeps}; do
  mkdir -p "$P"; mount --bind "$STAGE/k$i" "$P"; mount -o remount,bind,ro "$P"; i=$((i+1))
done
mkdir -p "$CAND"
mount --bind "$STAGE/cand" "$CAND"
cd "$CAND"
"""
STAGES = ("/mnt", "/media", "/srv", "/opt")  # an existing folder outside /tmp to stage the candidate's folder


def _python_folders(argv: list[str]) -> list[str]:
    """The folders of the python that argv runs (a venv and its base installation) that lie in /tmp."""
    if not argv or not os.path.isabs(argv[0]):
        return []
    found = []
    for exe in (os.path.abspath(argv[0]), os.path.realpath(argv[0])):
        root = os.path.dirname(os.path.dirname(exe))
        if root.startswith("/tmp/") and root not in found:
            found.append(root)
    return found


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether this process can confine candidates (root, unshare, setpriv, mounts in a namespace)."""
    if os.name != "posix" or os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "setpriv", "mount", "awk"))):
        return False
    with tempfile.TemporaryDirectory(prefix="rearena-confine-") as probe:
        argv = wrap(["sh", "-c", "touch ok && ! touch /etc/rearena-probe 2>/dev/null"], [probe], check=False)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20, cwd=probe)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0 and os.path.exists(os.path.join(probe, "ok"))


def wrap(argv: list[str], off_limits: list[str], *, pid_namespace: bool = True, check: bool = True) -> list[str]:
    """argv run confined (its working directory is the candidate's folder).

    Always: off-limits paths covered, no capabilities. With `pid_namespace` (the CPU path): also its
    own PID and network namespaces, and the file system read-only but for its folder and private
    /tmp, /dev/shm and /run (on the GPU path these could break CUDA IPC, which needs /dev/shm).
    """
    if check and not available():
        return argv
    steps = ["set -e"]
    stage = next((path for path in STAGES if os.path.isdir(path) and not os.path.islink(path)), None)
    if pid_namespace and stage:
        keeps = " ".join(shlex.quote(path) for path in _python_folders(argv))  # may be none: `for P in ; do`
        steps.append(READ_ONLY.format(stage=shlex.quote(stage), keeps=keeps).strip())
    for path in off_limits:
        if path.startswith("/proc/"):
            continue  # the PID namespace's own /proc has none of the scorer's entries
        if os.path.isdir(path):
            steps.append(COVER.format(path=shlex.quote(path)))
        elif os.path.exists(path):
            steps.append(COVER_FILE.format(path=shlex.quote(path)))
    script = "\n".join(steps) + "\n" + DROP
    namespaces = ["--mount", "--propagation", "private"]
    if pid_namespace:
        namespaces += ["--pid", "--fork", "--kill-child", "--mount-proc", "--net"]
    return ["unshare", *namespaces, "--", "/bin/sh", "-c", script, "rearena-confine", *argv]
