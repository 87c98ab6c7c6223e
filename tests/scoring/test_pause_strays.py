"""scoring.host.pause_strays stops every process below the scorer's (the candidate's, its children,
and an escaped grandchild re-parented to the subreaper) but the ones it is told to keep, and
resume_strays continues them: real processes, in a child python that plays the scorer's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from testpaths import REPO

PLAY = textwrap.dedent('''
    import json, os, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from scoring import host
    from scoring.cpu_usage import stat_fields

    host._prctl(host.PR_SET_CHILD_SUBREAPER, 1)
    host._CHILDREN_FILES = host._CHILDREN_FILES and sys.argv[2] != "scan"
    if sys.argv[2] == "kill" and hasattr(os, "pidfd_open"):
        del os.pidfd_open  # signals by pid (os.kill), as where pidfds are not
    spin = [sys.executable, "-c", "while True: pass"]
    # the candidate: a busy process with a busy child, and a double-forked, setsid grandchild
    # that is re-parented here when its parent exits
    candidate = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\\n"
        "subprocess.Popen(%r)\\n"
        "if os.fork() == 0:\\n"
        "    os.setsid()\\n"
        "    if os.fork() == 0:\\n"
        "        os.execv(sys.executable, %r)\\n"
        "    os._exit(0)\\n"
        "while True: pass\\n") % (spin, spin)])
    keep = subprocess.Popen(spin)  # the scorer's own peer
    time.sleep(1.0)

    def state(pid):
        return stat_fields(pid)[0].decode()

    try:
        tree = host._below(os.getpid(), set())
        stopped, complete = host.pause_strays(keep=[keep.pid])
        paused_states = {pid: state(pid) for pid in stopped}
        held = len(host._held)
        keep_state = state(keep.pid)
        time.sleep(0.2)
        still = {pid: state(pid) for pid in stopped}
        host.resume_strays(stopped)
        time.sleep(0.2)
        resumed = {pid: state(pid) for pid in stopped}
        print(json.dumps({"tree": tree, "candidate": candidate.pid, "keep": keep.pid, "stopped": stopped,
                          "complete": complete, "paused": paused_states, "still": still, "keep_state": keep_state,
                          "resumed": resumed, "held": held}))
        assert not host._held, "a pidfd was left open"
    finally:  # no busy process outlives the test, whatever failed
        host.reap_strays()
''')


# /proc/<pid>/task/*/children, or a pass over /proc; signals through pidfds, or by pid
@pytest.mark.parametrize("walk", ["files", "scan", "kill"])
def test_pause_stops_the_candidates_tree_but_not_the_kept_peer_and_resume_continues_it(walk):
    proc = subprocess.run([sys.executable, "-c", PLAY, str(REPO), walk], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    # the candidate, its child and the re-parented grandchild; not the kept peer
    assert seen["complete"] is True
    assert seen["candidate"] in seen["stopped"] and seen["keep"] not in seen["stopped"]
    assert set(seen["stopped"]) == set(seen["tree"]) - {seen["keep"]}, seen
    # (the double fork's middle process is a zombie the candidate never collected: it cannot run)
    live = [pid for pid, state in seen["paused"].items() if state != "Z"]
    assert len(live) == 3, seen
    assert {seen["paused"][pid] for pid in live} == {"T"}, seen  # stopped when pause_strays returned ...
    assert {seen["still"][pid] for pid in live} == {"T"}, seen   # ... and still
    assert seen["keep_state"] in ("R", "S"), seen                 # the kept peer runs on
    assert "T" not in seen["resumed"].values(), seen              # resumed: running again
    if walk != "kill" and hasattr(os, "pidfd_open"):
        assert seen["held"] >= 3, seen  # signalled through pidfds, held until resumed
    else:
        assert seen["held"] == 0, seen


FORKER = textwrap.dedent('''
    import json, os, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from scoring import host
    from scoring.cpu_usage import stat_fields

    host._prctl(host.PR_SET_CHILD_SUBREAPER, 1)
    # a candidate that forks all the time: each child spins a little and exits, and is not waited for
    body = ("import os, time\\n"
            "while True:\\n"
            "    if os.fork() == 0:\\n"
            "        end = time.monotonic() + 0.05\\n"
            "        while time.monotonic() < end: pass\\n"
            "        os._exit(0)\\n"
            "    time.sleep(0.001)\\n"
            "    try:\\n"
            "        while os.waitpid(-1, os.WNOHANG)[0]: pass\\n"
            "    except ChildProcessError: pass\\n")
    subprocess.Popen([sys.executable, "-c", body])
    time.sleep(0.5)
    running_after_pause, incomplete, sizes = [], 0, []
    try:
        for _ in range(100):
            stopped, complete = host.pause_strays()
            incomplete += not complete
            sizes.append(len(stopped))
            time.sleep(0.01)  # a child a fork under way attaches late would be running by now
            running_after_pause += [pid for pid in host._below(os.getpid(), set())
                                    if host._state(pid) not in host._STOPPED]
            host.resume_strays(stopped)
            time.sleep(0.02)
        print(json.dumps({"running": running_after_pause, "incomplete": incomplete, "sizes": sizes}))
    finally:
        host.reap_strays()
''')


def test_a_candidate_that_keeps_forking_is_stopped_whole():
    """Each pause ends with every process below the scorer stopped, children of forks under way
    included (pause_strays looks again once all it signalled show stopped)."""
    proc = subprocess.run([sys.executable, "-c", FORKER, str(REPO)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["incomplete"] == 0, seen
    assert seen["running"] == [], seen
    assert max(seen["sizes"]) >= 2, seen  # the candidate had children to stop
