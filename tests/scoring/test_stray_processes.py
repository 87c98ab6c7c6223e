"""A candidate's process that escapes its process group (double fork + setsid) does not outlive
its scoring: the scorer's process is a child subreaper and kills what is left below it, both when
scoring ends normally and when the runner stops it at the timeout."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from proctree import alive

from scoring import confine
from scoring.runner import score_candidate

# Confined, a candidate's processes live in its own PID namespace (all killed with it) and cannot write
# a beacon outside its folder: the subreaper tested here guards where confinement is unavailable (not
# root, and the GPU path, which has no PID namespace yet), so these tests turn confinement off.


@pytest.fixture(autouse=True)
def _unconfined(monkeypatch):
    monkeypatch.setenv(confine.OFF_VARIABLE, "1")

ESCAPER = '''
import os, time

def _escape(beacon):
    if os.fork() == 0:          # child: new session, then a grandchild, then the child exits
        os.setsid()
        if os.fork() == 0:
            while True:         # the survivor: writes its pid and a heartbeat
                with open(beacon, "w") as f:
                    f.write("%%d %%f" %% (os.getpid(), time.time()))
                time.sleep(0.05)
        os._exit(0)
    os.wait()
    for _ in range(200):
        if os.path.exists(beacon):
            return
        time.sleep(0.01)

_escape(%(beacon)r)

def total(values):
    %(body)s
'''


def _write(tmp_path: Path, beacon: Path, body: str) -> Path:
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "solution.py").write_text(textwrap.dedent(ESCAPER % {"beacon": str(beacon), "body": body}))
    return folder


@pytest.mark.parametrize("body, reason", [
    ("return sum(values)", None),                       # ends normally: valid
    ("while True: pass", "timeout"),                    # the runner stops the scorer at the timeout
])
def test_an_escaped_process_is_killed_when_scoring_ends(sum_env, tmp_path, body, reason):
    beacon = tmp_path / "beacon"
    result = score_candidate(sum_env, "tiny", _write(tmp_path, beacon, body), timeout_s=4)
    assert beacon.exists(), result
    pid = int(beacon.read_text().split()[0])
    time.sleep(0.3)
    try:
        assert not alive(pid), f"the escaped process {pid} outlived the scoring ({result.reason or 'valid'})"
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    if reason is None:
        assert result.valid, result
        assert result.details["stray_processes_killed"] >= 1
    else:
        assert result.reason == reason, result


CHAIN = """
import os, time

def _chain(depth, pids):
    # each link starts a new session and forks the next, then lives on: a deep tree of orphans
    for level in range(depth):
        if os.fork() != 0:
            break
        os.setsid()
    open(os.path.join(pids, str(os.getpid())), "w").close()
    while True:
        time.sleep(0.05)

if os.fork() == 0:
    _chain(80, %(pids)r)

def total(values):
    deadline = time.time() + 5
    while len(os.listdir(%(pids)r)) < 81 and time.time() < deadline:
        time.sleep(0.01)
    return sum(values)
"""


def test_a_deep_chain_of_escaped_processes_is_killed_to_the_last(sum_env, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    folder = tmp_path / "chain"
    folder.mkdir()
    (folder / "solution.py").write_text(CHAIN % {"pids": str(pids)})
    result = score_candidate(sum_env, "tiny", folder, timeout_s=8)
    started = [int(name) for name in os.listdir(pids)]
    assert len(started) == 81, (len(started), result)
    time.sleep(0.3)
    left = [pid for pid in started if alive(pid)]
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"{len(left)} of the chain's {len(started)} processes outlived the scoring"
    assert result.valid and result.details["stray_processes_killed"] >= 80, result
