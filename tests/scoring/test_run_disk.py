"""scoring/run_disk.py: where the runner is root, the candidate's copy lies on a file system of its own,
sized from the environment's disk, so a candidate that writes without end meets ENOSPC there instead of
filling the host's disk (a red team's fallocate loop took 8 GiB of it in under a second). Nothing is left
mounted after the run."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from scoring import confine, process_owner, run_disk
from scoring.runner import copy_cap, score_candidate

needs_root = pytest.mark.skipif(not confine.available() or run_disk._tools() is None,
                                reason="a file system of its own needs root, loop devices and mkfs.ext4 (CI has them)")

FILLER = """
import os

def total(values):
    written, full = 0, False
    try:
        for i in range(32):  # up to 8 GiB in files of 256 MiB (each under the per-file limit)
            with open(f"fill-{i}", "wb") as out:
                os.posix_fallocate(out.fileno(), 0, 256 << 20)
            written += 256 << 20
    except OSError as exc:
        full = exc.errno == 28
    for i in range(32):
        if os.path.exists(f"fill-{i}"):
            os.remove(f"fill-{i}")
    if not full or written > {limit}:  # the sum comes out right only where the writes were stopped early
        return sum(values) + 1
    return sum(values)
"""


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def _left(before: list[str]) -> list[str]:
    """Run mounts now present that were not in `before` and that no other live process owns (other test runs
    may be scoring meanwhile; a mount left by this process has its owner file naming it, or removed)."""
    left = []
    for point in _mounts_under("/tmp/rearena-score-"):
        try:
            owner = (Path(point).parent / run_disk.OWNER_FILE).read_text().split()
        except OSError:
            owner = []
        if point not in before and (not owner or owner[0] == str(os.getpid())):
            left.append(point)
    return left


def test_the_image_is_the_cap_and_a_margin_within_the_free_space():
    gib = 1 << 30
    assert run_disk.image_size(gib, 100 * gib) == gib + gib // 4 + run_disk.MARGIN_BYTES
    assert run_disk.image_size(50 * gib, 10 * gib) == 9 * gib  # the host keeps its reserve
    assert run_disk.image_size(gib, gib) == run_disk.SMALLEST_BYTES


@needs_root
def test_a_candidate_writing_without_end_meets_a_full_disk_of_its_own(sum_env, tmp_path):
    limit = run_disk.image_size(copy_cap(sum_env), shutil.disk_usage("/tmp").free)
    folder = tmp_path / "filler"
    folder.mkdir()
    (folder / "solution.py").write_text(textwrap.dedent(FILLER).replace("{limit}", str(limit)))
    free_before = shutil.disk_usage("/tmp").free
    mounted_before = _mounts_under("/tmp/rearena-score-")
    result = score_candidate(sum_env, "tiny", folder)
    assert result.valid, result  # right only if its writes stopped with ENOSPC below the image's size
    assert free_before - shutil.disk_usage("/tmp").free < (512 << 20)
    assert _left(mounted_before) == []


@needs_root
def test_the_copy_lies_on_its_own_file_system_and_is_gone_afterwards(tmp_path):
    with run_disk.candidate_folder(tmp_path, 1 << 30) as work:
        work.mkdir()
        (work / "x").write_text("y")
        assert os.stat(work).st_dev != os.stat(tmp_path).st_dev
        assert _mounts_under(str(tmp_path)) == [str(tmp_path / "disk")]
        assert os.statvfs(work).f_blocks * os.statvfs(work).f_frsize > (1 << 30)
    assert _mounts_under(str(tmp_path)) == [] and not (tmp_path / "disk.img").exists()


def test_without_root_or_confinement_the_copy_is_a_plain_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(confine.OFF_VARIABLE, "1")
    with run_disk.candidate_folder(tmp_path, 1 << 30) as work:
        assert work == tmp_path / "candidate"
    assert _mounts_under(str(tmp_path)) == []


HOLDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from scoring.run_disk import candidate_folder
with candidate_folder(Path(sys.argv[2]), 1 << 20) as work:
    print(work, flush=True)
    time.sleep(120)
"""


@needs_root
def test_a_killed_runners_file_system_is_swept_by_the_next_run(tmp_path):
    """A runner killed outright (kill -9) unmounts nothing; the next process's first run unmounts its file
    system and removes its folder, and leaves a live runner's alone."""
    import signal
    import subprocess
    import sys
    import tempfile

    from testpaths import REPO

    dead = Path(tempfile.mkdtemp(prefix=run_disk.RUN_PREFIX))
    live = Path(tempfile.mkdtemp(prefix=run_disk.RUN_PREFIX))
    holders = [subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO), str(folder)], stdout=subprocess.PIPE,
                                text=True) for folder in (dead, live)]
    try:
        for holder in holders:
            assert holder.stdout.readline().strip().endswith("disk/candidate")
        holders[0].send_signal(signal.SIGKILL)
        holders[0].wait(timeout=30)
        assert _mounts_under(str(dead)) == [str(dead / "disk")]  # nothing ran its finally
        swept = run_disk.sweep_stale()
        assert str(dead / "disk") in swept and str(live / "disk") not in swept
        assert _mounts_under(str(dead)) == [] and not dead.exists()
        assert _mounts_under(str(live)) == [str(live / "disk")]
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)
        for folder in (dead, live):
            for point in _mounts_under(str(folder)):
                subprocess.run(["umount", "-l", point], capture_output=True)
            shutil.rmtree(folder, ignore_errors=True)


def test_a_folder_without_its_owner_or_with_a_live_one_is_not_gone(tmp_path):
    owner = tmp_path / run_disk.OWNER_FILE
    assert not run_disk._owner_gone(tmp_path)  # no file: unknown, left alone
    here = process_owner.where()
    owner.write_text(process_owner.owner_line())
    assert not run_disk._owner_gone(tmp_path)
    owner.write_text(f"{os.getpid()} 1 {here}")  # this pid, but another process's start
    assert run_disk._owner_gone(tmp_path)
    owner.write_text(f"{os.getpid()} 1")  # an owner file of no namespace: unknown
    assert not run_disk._owner_gone(tmp_path)
    boot, pid_ns, mnt_ns = here.split()
    for where in (f"{boot} pid:[1] {mnt_ns}", f"{boot} {pid_ns} mnt:[1]", f"other-boot {pid_ns} {mnt_ns}"):
        owner.write_text(f"{os.getpid()} 1 {where}")  # a pid of another namespace (or boot) means nothing here
        assert not run_disk._owner_gone(tmp_path), where


SWEEPER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from scoring.run_disk import sweep_stale
print(json.dumps(sweep_stale()))
"""


@needs_root
def test_a_sweep_from_another_pid_namespace_leaves_a_live_run_alone(tmp_path):
    """A container or namespace sharing /tmp reads the owner's pid in its own PID namespace, where it names
    no process (or another): it must not take the live run for a dead one."""
    import json
    import subprocess
    import sys
    import tempfile

    from testpaths import REPO

    live = Path(tempfile.mkdtemp(prefix=run_disk.RUN_PREFIX))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO), str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip().endswith("disk/candidate")
        done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", SWEEPER, str(REPO)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == []
        assert _mounts_under(str(live)) == [str(live / "disk")] and (live / run_disk.OWNER_FILE).exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        for point in _mounts_under(str(live)):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(live, ignore_errors=True)
