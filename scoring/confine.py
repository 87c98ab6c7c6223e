"""Confinement of a candidate's process in local scoring, where the scorer runs as root.

The tripwire (scoring/candidate_boot.py) only watches the candidate's own Python. Where this
process is root and can make namespaces, an untrusted candidate's python always starts:

- in a private mount namespace where every off-limits folder (reference solutions, scoring/,
  environments/, .git) is covered by an empty, read-only tmpfs of mode 000, so no route (dir_fd,
  hard links, native code, subprocesses) reaches the files;
- with every capability dropped and no_new_privs (setpriv), so it can neither unmount the covers
  nor trace or read other processes' memory, although its uid is still 0.

and, piece by piece (`pieces`; the CPU path takes all four):

- PID: a new PID namespace with its own /proc: the scorer, the runner and their threads are not
  in it, and when its first process ends the kernel kills every process left in it, so nothing
  the candidate started can outlive it, whatever it does (double fork, setsid);
- NET: a new network namespace (only a loopback that is down: no sockets shared with the host,
  abstract Unix sockets included);
- FILES: the whole file system read-only but for its folder, with private /tmp and /run;
- SHM: a private /dev/shm.

CUDA failed to start with all four on an H100 (benchmarks/confine_gpu.py, which probes the pieces
one by one), so a GPU candidate gets only those in GPU_PATH, none until that probe has named the
ones CUDA IPC works with. Elsewhere (not root, no unshare, inside a scoring container) nothing
changes.
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
PID, NET, FILES, SHM = "pid", "net", "files", "shm"
CPU_PATH = frozenset({PID, NET, FILES, SHM})
# The GPU path: CUDA IPC between the scorer and the candidate. With all four pieces cudaGetDeviceCount
# failed (error 304) on an H100; benchmarks/confine_gpu.py finds which pieces it works with. Until
# that has run on a GPU: none (the covers and the dropped capabilities only).
GPU_PATH: frozenset[str] = frozenset()

# FILES: the whole file system read-only but for the candidate's folder and fresh private /tmp and /run
# (uid 0 without capabilities could otherwise write /etc, the venv, /proc/sys/kernel/core_pattern..., or
# reach other processes' sockets: docker.sock in /run, tmux's in /tmp; and read other runs' files in /tmp).
# Without SHM, /dev/shm stays shared and writable (torch's CUDA IPC keeps its reference counters there).
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
{before_pass}
for m in $(awk '{{print $5}}' /proc/self/mountinfo); do
  case "$m" in "$STAGE"|"$STAGE"/*{skip}) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=1777 rearena-tmp /tmp
{after_tmp}
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
PRIVATE_SHM = "if [ -d /dev/shm ]; then mount -t tmpfs -o mode=1777 rearena-shm /dev/shm; fi"
# FILES without SHM: /dev/shm made a mount of its own (it may be a plain folder of /dev), which the
# read-only pass then skips
SHARED_SHM = "if [ -d /dev/shm ] && [ ! -L /dev/shm ]; then mount --bind /dev/shm /dev/shm; fi"
# SHM without FILES: nothing is staged, so a candidate's folder inside /dev/shm keeps the shared one
SHM_ALONE = 'case "$(pwd -P)" in /dev/shm|/dev/shm/*) ;; *) ' + PRIVATE_SHM + ' ;; esac'
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


def wrap(argv: list[str], off_limits: list[str], *, pieces: frozenset[str] = CPU_PATH, check: bool = True) -> list[str]:
    """argv run confined (its working directory is the candidate's folder).

    Always: off-limits paths covered, no capabilities. Then each of `pieces` (PID, NET, FILES, SHM:
    see the module's docstring); the CPU path takes them all, the GPU path GPU_PATH.
    """
    unknown = set(pieces) - CPU_PATH
    if unknown:
        raise ValueError(f"unknown confinement pieces {sorted(unknown)}: the pieces are {sorted(CPU_PATH)}")
    if check and not available():
        return argv
    steps = ["set -e"]
    stage = next((path for path in STAGES if os.path.isdir(path) and not os.path.islink(path)), None)
    if FILES in pieces and stage:
        keeps = " ".join(shlex.quote(path) for path in _python_folders(argv))  # may be none: `for P in ; do`
        # a private /dev/shm goes after the read-only pass (which would catch it) and before the
        # candidate's folder is bound back (which may lie inside it)
        steps.append(READ_ONLY.format(stage=shlex.quote(stage), keeps=keeps,
                                      before_pass="" if SHM in pieces else SHARED_SHM,
                                      skip="" if SHM in pieces else "|/dev/shm",
                                      after_tmp=PRIVATE_SHM if SHM in pieces else "").strip())
    elif SHM in pieces:
        steps.append(SHM_ALONE)
    for path in off_limits:
        if path.startswith("/proc/"):
            continue  # not coverable (the tripwire guards them; in a PID namespace its own /proc has none)
        if os.path.isdir(path):
            steps.append(COVER.format(path=shlex.quote(path)))
        elif os.path.exists(path):
            steps.append(COVER_FILE.format(path=shlex.quote(path)))
    script = "\n".join(steps) + "\n" + DROP
    namespaces = ["--mount", "--propagation", "private"]
    if PID in pieces:
        namespaces += ["--pid", "--fork", "--kill-child", "--mount-proc"]
    if NET in pieces:
        namespaces += ["--net"]
    return ["unshare", *namespaces, "--", "/bin/sh", "-c", script, "rearena-confine", *argv]
