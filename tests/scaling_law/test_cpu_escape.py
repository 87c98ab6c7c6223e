"""The CPU limit of scaling_law counts everything a candidate started (scoring/cpu_usage.py), not
only its process group: a red-team candidate trained the forbidden full-budget run in a child that
called setsid() while its own process slept and answered, and scored valid with 0.1 CPU s counted.

Every process these tests start is killed at the end, found by its tree and its process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envsupport import score_directly, starting_candidate
from proctree import below
from scoring import confine, cpu_usage

NAME = "scaling_law"

# A child that leaves the process group (setsid), burns BURN CPU seconds, tells its parent, and
# ends unreaped (a zombie: its times stay in /proc until it is reaped); the parent sleeps and asks
# for small runs until then, then answers a valid run within the budget.
ESCAPE = '''
import os, time

BURN = {burn}
DOUBLE_FORK = {double_fork}
_started = False


def _burn_in_own_session():
    os.setsid()
    while time.process_time() < BURN:
        pass
    open("burnt", "w").close()
    os._exit(0)


def next_step(history, budget):
    global _started
    if not _started:
        _started = True
        child = os.fork()
        if child == 0:
            if DOUBLE_FORK and os.fork() != 0:
                os._exit(0)  # the grandchild is orphaned, re-parented out of the candidate's tree
            _burn_in_own_session()
        if DOUBLE_FORK:
            os.waitpid(child, 0)
    time.sleep(0.5)  # sleeping costs no CPU
    if os.path.exists("burnt"):
        return {{"answer": {{"width": 8, "steps": 800, "predicted_loss": 3.0}}}}
    return {{"run": [1, 50]}}
'''


def escaping_candidate(tmp: Path, burn: float, double_fork: bool = False) -> Path:
    folder = starting_candidate(NAME, tmp)
    (folder / "solution.py").write_text(ESCAPE.format(burn=burn, double_fork=double_fork))
    return folder


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (scoring/confine.py): "
                                                    "without it the candidate has no PID namespace of its own")
def test_a_setsid_child_training_while_the_parent_answers_is_too_much_compute(tmp_path):
    """Under the real confinement (own PID namespace): the setsid'd child's CPU counts."""
    if os.environ.get("CI") == "true":
        assert confine.available()
    result = score_directly(NAME, escaping_candidate(tmp_path, burn=2.0), cpu_limit_s=1.0)
    assert not result["valid"], f"the escape scored valid: {result['message']}"
    assert result["reason"] == "too_much_compute", result["message"]
    assert result["details"]["cpu_s"] > 1.0, result["details"]


def test_an_orphaned_setsid_grandchild_is_too_much_compute_unconfined(tmp_path, monkeypatch):
    """Unconfined (REARENA_UNCONFINED=1, as inside a scoring container): a double fork re-parents the
    setsid'd grandchild to the scorer's process (a child subreaper), out of the candidate's tree;
    the scorer counts what was re-parented to it too (the tiny variant's limit: 3 CPU s)."""
    monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    verdict = _score_with_cli(escaping_candidate(tmp_path, burn=4.0, double_fork=True), tmp_path)
    assert not verdict["valid"], f"the escape scored valid: {verdict['message']}"
    assert verdict["reason"] == "too_much_compute", verdict["message"]


def _score_with_cli(candidate: Path, tmp: Path) -> dict:
    """`rearena score NAME:tiny PATH --json` (the real runner and scorer's process); its verdict, valid or not."""
    import json

    from testpaths import REPO

    env = {k: v for k, v in os.environ.items() if k not in ("REARENA_ENVIRONMENTS", "REARENA_TRIAL")}
    env["REARENA_DATA_DIR"] = str(tmp / "data")
    done = subprocess.run([sys.executable, "-m", "console", "score", f"{NAME}:tiny", str(candidate), "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return json.loads(done.stdout)


# -- cpu_seconds with real processes -----------------------------------------------------------------

# Runs as the process given to cpu_seconds: a child of it calls setsid() and burns BURN CPU seconds,
# then either ends unreaped ("zombie") or keeps burning ("running"); the first line out is the child's
# pid, the second "burnt" once BURN seconds are used.
PARENT = '''
import os, sys, time
BURN, KEEP_BURNING = {burn}, {keep}
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.setsid()
    while time.process_time() < BURN:
        pass
    os.write(w, b"x")
    while KEEP_BURNING:
        pass
    os._exit(0)
print(child, flush=True)
os.read(r, 1)
print("burnt", flush=True)
time.sleep(120)
'''


@pytest.fixture
def started():
    """Start processes (each in its own process group) and kill them all, and all below them, at the end."""
    procs: list[subprocess.Popen] = []
    extra: list[int] = []

    def start(argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        procs.append(proc)
        return proc

    start.extra = extra
    yield start
    for proc in procs:
        for pid in [*below(proc.pid), *extra]:
            for kill in (os.kill, os.killpg):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def _read_line(proc: subprocess.Popen, timeout_s: float = 30) -> str:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, f"no line from the process in {timeout_s} s"
    line = proc.stdout.readline().strip()
    assert line, f"the process ended: {proc.stderr.read()[-2000:]}"
    return line


def _wait_for(pid: int, at_least: float, timeout_s: float = 30) -> float:
    """cpu_seconds(pid) once it reaches at_least (the last value read if it never does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        used = cpu_usage.cpu_seconds(pid)
        if used >= at_least or time.monotonic() > deadline:
            return used
        time.sleep(0.1)


@pytest.mark.parametrize("keep", [False, True], ids=["zombie", "running"])
def test_a_setsid_busy_child_of_a_child_counts_through_the_tree(started, tmp_path, keep):
    """Unconfined: the child left the process group of the process measured; the tree still holds it,
    a zombie until reaped. This test's own CPU (the parent of the process measured) is not counted."""
    proc = started([sys.executable, "-I", "-c", PARENT.format(burn=1.0, keep=keep)], tmp_path)
    child = int(_read_line(proc))
    started.extra.append(child)
    assert _read_line(proc) == "burnt"
    assert os.getpgid(child) != os.getpgid(proc.pid)
    used = _wait_for(proc.pid, 1.0)
    assert used >= 1.0, f"counted {used:.2f} CPU s of the setsid'd child's 1 s"
    if not keep:
        assert used < 1.0 + 0.5, used  # not this test's own CPU (the measured process's parent)


def _confined(started, tmp_path: Path, code: str) -> subprocess.Popen:
    folder = tmp_path / "cand"
    folder.mkdir()
    argv = confine.wrap([sys.executable, "-I", "-c", code], [])
    return started(argv, folder, env=confine.clean_search_paths(dict(os.environ)))


@pytest.mark.skipif(not confine.available(), reason="confinement needs root and unshare (scoring/confine.py)")
@pytest.mark.parametrize("tree", ["whole", "cut"])
def test_a_setsid_child_of_a_confined_process_counts(started, tmp_path, monkeypatch, tree):
    """Confined (scoring.confine.wrap: the process measured is `unshare`, outside the PID namespace):
    a child that calls setsid() counts. With the tree cut (the child's parent link read as 1, as when
    it was re-parented while /proc was read), it counts through the namespace alone."""
    proc = _confined(started, tmp_path, PARENT.format(burn=1.0, keep=True))
    _read_line(proc)  # the child's pid inside the namespace: killed with the namespace
    assert _read_line(proc) == "burnt"
    inside = below(proc.pid)
    assert len(inside) >= 2, inside  # unshare's child (the namespace's init) and the setsid'd child
    if tree == "cut":
        init = next(pid for pid, parent in inside.items() if parent == proc.pid)  # the namespace's init
        real_stat = getattr(cpu_usage, "_stat", lambda pid: None)

        def cut(pid: str):
            found = real_stat(pid)
            if found is not None and int(pid) in inside and found[0] == init:
                return (1, *found[1:])
            return found

        monkeypatch.setattr(cpu_usage, "_stat", cut, raising=False)
    used = _wait_for(proc.pid, 1.0)
    assert used >= 1.0, f"counted {used:.2f} CPU s of the setsid'd child's 1 s ({tree} tree)"


def test_only_what_the_process_started_counts_while_others_come_and_go(started, tmp_path):
    """The setsid'd child's 0.3 s count; this test's own CPU (the parent) and its other children, started
    and ending while /proc is read, do not, and do no harm."""
    proc = started([sys.executable, "-I", "-c", PARENT.format(burn=0.3, keep=False)], tmp_path)
    started.extra.append(int(_read_line(proc)))
    assert _read_line(proc) == "burnt"
    for _ in range(20):
        quick = subprocess.Popen([sys.executable, "-I", "-c", "pass"])
        used = cpu_usage.cpu_seconds(proc.pid)
        quick.wait(timeout=30)
        assert 0.3 <= used < 0.3 + 0.5, used
