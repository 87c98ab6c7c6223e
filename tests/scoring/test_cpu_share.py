"""A local scoring's candidates run on the manifest's `hardware.cpus` CPUs (scoring/cpu_share.py), as a
scoring container's quota limits them: a red-team review's candidate spread its calls over every core of
the machine while rolling_median grants one. Scorings at once take CPUs of their own where there are
enough."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.runner import score_candidate

REPO = Path(__file__).resolve().parents[2]
CPUS_HERE = len(os.sched_getaffinity(0))
WHERE = """
import os, subprocess, sys

def where():
    child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                           capture_output=True, text=True)
    return sorted(os.sched_getaffinity(0)), child.stdout.strip()
"""
SCORER = """
def score(ctx):
    with ctx.candidate("solution.py", "where") as cand:
        mine, childs = cand.call(timeout=20)
    return {"raw": 0.5, "message": "ok", "details": {"mine": mine, "childs": childs}}
"""


def _scored(sum_env, tmp_path: Path, cpus: int):
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "scorer.py").write_text(SCORER)
    env = dataclasses.replace(sum_env, path=folder, scorer=folder / "scorer.py",
                              hardware=dataclasses.replace(sum_env.hardware, cpus=cpus))
    cand = tmp_path / "cand"
    cand.mkdir()
    (cand / "solution.py").write_text(WHERE)
    result = score_candidate(env, None, cand, timeout_s=30)
    assert result.valid, result.message
    return result.details


@pytest.mark.skipif(CPUS_HERE < 2, reason="needs more CPUs than the environment grants")
def test_a_local_scoring_runs_its_candidate_on_as_many_cpus_as_the_manifest_grants(sum_env, tmp_path):
    details = _scored(sum_env, tmp_path, cpus=1)
    assert len(details["mine"]) == 1, details
    assert details["childs"] == str(details["mine"]), details  # and so does what it starts
    assert details["candidate_cpus"] == details["mine"], details


def test_a_manifest_granting_every_cpu_here_pins_nothing(sum_env, tmp_path):
    details = _scored(sum_env, tmp_path, cpus=CPUS_HERE)
    assert details["mine"] == sorted(os.sched_getaffinity(0)), details
    assert "candidate_cpus" not in details, details


CLAIM = """
import sys, time
from pathlib import Path
from scoring import cpu_share
cpu_share.LOCK_FOLDER = Path(sys.argv[1])
print(sorted(cpu_share.claim(int(sys.argv[2]))), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(CPUS_HERE < 2, reason="needs two CPUs")
def test_scorings_at_once_take_cpus_of_their_own_and_share_when_none_is_left(tmp_path):
    holders = []
    try:
        seen = []
        for _ in range(CPUS_HERE + 1):  # one more than there are CPUs
            proc = subprocess.Popen([sys.executable, "-c", CLAIM, str(tmp_path), "1"], cwd=REPO,
                                    stdout=subprocess.PIPE, text=True)
            holders.append(proc)
            seen.append(proc.stdout.readline().strip())
        own = seen[:-1]
        assert len(set(own)) == CPUS_HERE, seen  # each its own CPU
        assert seen[-1] in own, seen  # the last shares one
        first = holders.pop(0)
        first.kill()  # a scoring that ends (however) frees its CPU
        first.wait()
        proc = subprocess.Popen([sys.executable, "-c", CLAIM, str(tmp_path), "1"], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        holders.append(proc)
        assert proc.stdout.readline().strip() == own[0], (own, seen)
    finally:
        for proc in holders:
            proc.kill()
            proc.wait()


WIDEN = """
import os

def where():
    try:
        os.sched_setaffinity(0, range(os.cpu_count()))  # every CPU of the machine, as a review's candidate did
    except OSError:
        pass
    return sorted(os.sched_getaffinity(0)), ""
"""


@pytest.mark.skipif(CPUS_HERE < 2 or os.geteuid() != 0, reason="a cpuset needs root and more CPUs than granted")
def test_a_candidate_cannot_widen_its_cpus_back(sum_env, tmp_path):
    """Its affinity alone a process may widen at will; the cpuset holds it (a review's candidate undid the pin)."""
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "scorer.py").write_text(SCORER)
    env = dataclasses.replace(sum_env, path=folder, scorer=folder / "scorer.py",
                              hardware=dataclasses.replace(sum_env.hardware, cpus=1))
    cand = tmp_path / "cand"
    cand.mkdir()
    (cand / "solution.py").write_text(WIDEN)
    result = score_candidate(env, None, cand, timeout_s=30)
    assert result.valid, result.message
    assert len(result.details["mine"]) == 1 and result.details["mine"] == result.details["candidate_cpus"]
    assert result.details["candidate_cpus_held_by"] == "cpuset"
    from scoring import cpu_group, cpu_share

    base = cpu_share._v1_base()
    if base is not None:  # its set is gone with it
        assert not [e for e in os.listdir(base) if e.startswith(cpu_group.PREFIX)]


@pytest.mark.skipif(CPUS_HERE < 2, reason="needs two CPUs")
@pytest.mark.parametrize("planted", ["a folder anyone may write", "a link to another folder"])
def test_a_lock_folder_planted_by_someone_else_is_not_used(tmp_path, planted):
    """/dev/shm is everyone's and emptied at a reboot: a folder planted there first would let its owner hold
    every lock, and a link would make root create files where it points. Neither is used."""
    from scoring import cpu_share

    planted_at = tmp_path / f"rearena-cpus-{os.geteuid()}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if planted == "a link to another folder":
        planted_at.symlink_to(elsewhere)
    else:
        planted_at.mkdir()
        planted_at.chmod(0o777)
    out = subprocess.run([sys.executable, "-c", CLAIM.replace("time.sleep(60)", ""), str(tmp_path), "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(eval(out.stdout)) == 1  # still pinned, to CPUs shared with anyone
    assert not os.listdir(elsewhere) and not [p for p in os.listdir(planted_at) if p.startswith("cpu")]
    assert cpu_share.lock_folder().name == planted_at.name


@pytest.mark.skipif(CPUS_HERE < 2 or os.geteuid() != 0, reason="a cpuset needs root and more CPUs than granted")
def test_a_process_pinned_by_affinity_alone_is_not_held_by_the_set():
    """The runner falls back to 'affinity' when the candidate is not in its cpuset; the same CPUs set by affinity
    (which the candidate may widen again) must not pass for the set."""
    from scoring import cpu_share

    one = frozenset([min(os.sched_getaffinity(0))])
    cpuset = cpu_share.CpuSet.create(one)
    if cpuset is None:
        pytest.skip("no writable cpuset hierarchy here")
    outside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                               preexec_fn=lambda: os.sched_setaffinity(0, one))
    inside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], preexec_fn=cpuset.enter)
    try:
        assert os.sched_getaffinity(outside.pid) == one
        assert not cpuset.holds(outside.pid)
        assert cpuset.holds(inside.pid)
    finally:
        for proc in (outside, inside):
            proc.kill()
            proc.wait()
        cpuset.remove_when_empty()
