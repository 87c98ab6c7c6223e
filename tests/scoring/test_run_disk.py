"""scoring/run_disk.py: where the runner is root, the candidate's copy lies on a file system of its own,
sized from the environment's disk, so a candidate that writes without end meets ENOSPC there instead of
filling the host's disk (a red team's fallocate loop took 8 GiB of it in under a second). Nothing is left
mounted after the run."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

from scoring import confine, run_disk
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
    result = score_candidate(sum_env, "tiny", folder)
    assert result.valid, result  # right only if its writes stopped with ENOSPC below the image's size
    assert free_before - shutil.disk_usage("/tmp").free < (512 << 20)
    assert _mounts_under("/tmp/rearena-score-") == []


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
