"""A run's own file system for the candidate's copy: a sparse ext4 image of a fixed size, loop-mounted.

A confined candidate may write only its folder (and its private, sized /tmp and /dev/shm), but that
folder is the runner's copy on the host's disk: a red team filled 8 GiB of it with fallocate in under
a second, and a loop of that would have filled the disk under the console's database while the
scoring ran. The copy therefore lies on a file system of its own, as large as the environment's
participant disk (scoring.runner.copy_cap) and a margin, or what the host's disk has free less a
reserve: past that the candidate gets ENOSPC and the host's disk keeps its room. The image is sparse
(it takes only what is written), made in some 40 ms, mounted nosuid and nodev, and removed with the run.

Only where the runner is root with confinement on (loop devices, mount), and mkfs.ext4 is there;
elsewhere the copy is a plain folder, as before (the candidate runs unconfined there anyway).

A runner killed outright (SIGKILL, a console's `kill -9`) unmounts nothing: each mount's folder names
its runner (OWNER_FILE: pid, start time, boot and namespaces), and the first run of a later process in
the same namespaces unmounts and removes the file systems of runners that are gone (sweep_stale), so
their loop devices and images are not left to pile up.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from scoring import confine
from scoring.confine_setup import inside, mounts
from scoring.process_owner import gone, owner_line

logger = logging.getLogger(__name__)

MARGIN_BYTES = 64 << 20       # the file system's own blocks (journal, inode tables) past a copy's cap
RESERVE_BYTES = 1 << 30       # what the host's disk keeps free whatever the environment's disk size
SMALLEST_BYTES = 256 << 20
INODES = 262_144              # above the copy's entry cap (scoring.runner.COPY_CAP_ENTRIES)
RUN_PREFIX = "rearena-score-"  # scoring.runner's temp folder of a run, which holds the image and its mount
REPRODUCE_PREFIX = "rearena-reproduce-"  # scoring.rubric.grading's, for a reproduce.sh run
OWNER_FILE = "disk.owner"     # in that folder: "<pid> <start time>" of the runner that mounted it


def _tools() -> dict[str, str] | None:
    found = {name: shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin") for name in ("mkfs.ext4", "mount", "umount")}
    return found if all(found.values()) else None  # type: ignore[return-value]


def image_size(cap_bytes: int, free_bytes: int) -> int:
    """The image's size: the copy's cap and a margin (a fourth more, for small files' whole blocks), at
    most the host's free space less RESERVE_BYTES, at least SMALLEST_BYTES."""
    wanted = cap_bytes + cap_bytes // 4 + MARGIN_BYTES
    return max(SMALLEST_BYTES, min(wanted, free_bytes - RESERVE_BYTES))


def _owner_gone(folder: Path) -> bool:
    """Whether the runner named by folder's OWNER_FILE has exited. Only a runner of this boot, PID namespace
    and mount namespace can be told gone (another namespace's pid means nothing here: a container sharing
    /tmp would have swept a live run); no file, or an unreadable one, is unknown and left alone."""
    try:
        return gone((folder / OWNER_FILE).read_text())
    except OSError:
        return False


def sweep_stale(tmp_root: str | None = None) -> list[str]:
    """Unmount the run file systems (tmp_root/.../RUN_PREFIX*/disk, and REPRODUCE_PREFIX's) whose runner is gone,
    and remove their runs' folders; the mount points swept."""
    root = os.path.realpath(tmp_root or tempfile.gettempdir())
    tools = _tools()
    swept = []
    for point, _ in mounts():
        folder = Path(point).parent
        ours = (Path(point).name == "disk" and folder.name.startswith((RUN_PREFIX, REPRODUCE_PREFIX))
                and inside(point, root))
        if tools is None or not ours or not _owner_gone(folder):
            continue
        # lazily: a process the dead runner's scorer left may still hold it (the loop device is freed after)
        done = subprocess.run([tools["umount"], "-l", point], capture_output=True, timeout=60)
        if done.returncode != 0:
            logger.warning("a dead run's file system stays mounted at %s: %s", point, done.stderr.decode()[-300:])
            continue
        swept.append(point)
        shutil.rmtree(folder, ignore_errors=True)
    if swept:
        logger.warning("unmounted %d file system(s) of runs whose runner died: %s", len(swept), ", ".join(swept))
    return swept


_swept = False
_sweep_lock = threading.Lock()


def _sweep_once() -> None:
    global _swept
    with _sweep_lock:
        if not _swept:
            _swept = True
            try:
                sweep_stale()
            except (OSError, subprocess.SubprocessError) as exc:  # never in the way of this run
                logger.warning("the sweep of dead runs' file systems failed: %s", exc)


@contextmanager
def candidate_folder(tmp: Path, cap_bytes: int) -> Iterator[Path]:
    """Where the run's copy of the candidate goes: tmp/disk/candidate on a file system of its own where
    one can be made, else tmp/candidate. Unmounted (and the image removed) on the way out."""
    tools = _tools() if os.geteuid() == 0 and confine.available() else None
    if tools is None:
        yield tmp / "candidate"
        return
    _sweep_once()
    image, mount_point = tmp / "disk.img", tmp / "disk"
    owner = owner_line()
    try:
        if owner is not None:
            (tmp / OWNER_FILE).write_text(owner)
        free = shutil.disk_usage(tmp).free
        with open(image, "wb") as out:
            out.truncate(image_size(cap_bytes, free))
        mount_point.mkdir()
        subprocess.run([tools["mkfs.ext4"], "-q", "-F", "-m", "0", "-N", str(INODES), "-E",
                        "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", str(image)],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([tools["mount"], "-o", "loop,nosuid,nodev", str(image), str(mount_point)],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        logger.warning("the candidate's copy lies on the host's disk (no file system of its own: %s %s)", exc,
                       detail.decode("utf-8", "replace")[-300:])
        image.unlink(missing_ok=True)
        yield tmp / "candidate"
        return
    try:
        yield mount_point / "candidate"
    finally:
        done = subprocess.run([tools["umount"], str(mount_point)], capture_output=True, timeout=60)
        if done.returncode != 0:  # something still holds it (a process the candidate left): detach it lazily
            subprocess.run([tools["umount"], "-l", str(mount_point)], capture_output=True, timeout=60)
        image.unlink(missing_ok=True)
