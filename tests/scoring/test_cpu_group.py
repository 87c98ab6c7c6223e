"""scoring/cpu_group.py: a candidate's processes run in a cgroup of their own (root), whose CPU count keeps
the time of every process that ever ran in it. A child that ends under a parent ignoring SIGCHLD is reaped
by the kernel and its time is added to no one in /proc: scaling_law's CPU limit missed it (a child trained
for 4 CPU s and the run scored valid with 0.13 s counted)."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from scoring import confine, cpu_usage
from scoring.candidate import CandidateProcess
from scoring.cpu_group import CpuGroup

AUTO_REAPED = """
import os, signal, time

def burn():
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # its children are reaped by the kernel, timed by no one
    pid = os.fork()
    if pid == 0:
        end = time.process_time() + 1.2
        while time.process_time() < end:
            pass
        os._exit(0)
    while True:  # until the child is gone (no wait: it is not ours to reap)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 1
        time.sleep(0.05)
"""

def _groups_here() -> bool:
    group = CpuGroup.create()
    if group is not None:
        group.remove()
    return group is not None


needs_groups = pytest.mark.skipif(not _groups_here() and not os.environ.get("CI"),
                                  reason="a cgroup of its own needs root and a writable cgroup hierarchy")


@needs_groups
@pytest.mark.parametrize("confined", [True, False], ids=["confined", "unconfined"])
def test_the_cpu_of_an_auto_reaped_child_is_counted(tmp_path, monkeypatch, confined):
    if not confined:
        monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    (tmp_path / "solution.py").write_text(textwrap.dedent(AUTO_REAPED))
    proc = CandidateProcess(tmp_path, "solution.py", "burn", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=60)
    try:
        assert proc.cpu_group is not None  # in CI (root) every untrusted candidate gets one
        assert proc.call(timeout=60) == 1
        assert proc.cpu_seconds() >= 1.1, (proc.cpu_seconds(), cpu_usage.cpu_seconds(proc.proc.pid))
        group = proc.cpu_group.path
    finally:
        proc.close()
    assert not group.exists(), "the cgroup was left behind"


def test_a_trusted_process_gets_no_group(tmp_path):
    (tmp_path / "solution.py").write_text("def f():\n    return 2\n")
    proc = CandidateProcess(tmp_path, "solution.py", "f", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=60, trusted=True)
    try:
        assert proc.cpu_group is None and proc.call(timeout=30) == 2
    finally:
        proc.close()


@needs_groups
def test_no_group_is_left_after_a_scoring_that_timed_out(sum_env, tmp_path):
    """A candidate that hangs until the scoring's timeout: its group is gone afterwards (the scorer's
    process removes its candidates' groups, and the runner those of a scorer's process it had to kill,
    named by that process)."""
    from scoring.cpu_group import PREFIX, _hierarchy
    from scoring.runner import score_candidate

    (tmp_path / "solution.py").write_text("import time\ndef total(values):\n    time.sleep(600)\n")
    root = _hierarchy()[0]
    before = {p.name for p in root.iterdir() if p.name.startswith(PREFIX)}
    result = score_candidate(sum_env, "tiny", tmp_path, timeout_s=3)
    assert not result.valid and result.reason == "timeout", result
    # a group left behind is one whose scorer's process (its name's pid) has ended (other runs may be going)
    left = [name for name in {p.name for p in root.iterdir() if p.name.startswith(PREFIX)} - before
            if not os.path.exists(f"/proc/{name[len(PREFIX):].split('-')[0]}")]
    assert left == [], left


LEAVES_ITS_GROUP = """
import os, sys, threading, time

def _stay(*args, **kwargs):
    time.sleep(3600)

os._exit = sys.exit = _stay  # the boot's way out, replaced

def leave():
    os.setsid()  # out of the process group the scorer kills
    threading.Thread(target=time.sleep, args=(3600,)).start()  # and a normal exit waits for this
    return 1
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\\tZ" not in next(line for line in status if line.startswith("State:"))
    except (OSError, StopIteration):
        return False


@pytest.mark.skipif(not _groups_here(), reason="needs root and a cgroup hierarchy (CI has both)")
def test_a_candidate_that_leaves_its_process_group_is_killed_with_its_cgroup(tmp_path):
    """setsid took the candidate out of the process group that close() kills, and `unshare --kill-child`'s
    signal does not survive the uid switch: it ran on, its PID namespace with it. Its cgroup holds it."""
    (tmp_path / "solution.py").write_text(textwrap.dedent(LEAVES_ITS_GROUP))
    proc = CandidateProcess(tmp_path, "solution.py", "leave", memory_mb=1024, output_cap_bytes=1 << 20,
                            startup_timeout_s=30)
    try:
        assert proc.call(timeout=30) == 1
        with open(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children") as children:
            below = [int(pid) for pid in children.read().split()] or [proc.proc.pid]
    finally:
        proc.close()
    deadline = time.monotonic() + 5  # (a killed process leaves its cgroup a moment before it is a zombie)
    while any(_alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in below), below
