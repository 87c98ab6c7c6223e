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
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from scoring import confine

logger = logging.getLogger(__name__)

MARGIN_BYTES = 64 << 20       # the file system's own blocks (journal, inode tables) past a copy's cap
RESERVE_BYTES = 1 << 30       # what the host's disk keeps free whatever the environment's disk size
SMALLEST_BYTES = 256 << 20
INODES = 262_144              # above the copy's entry cap (scoring.runner.COPY_CAP_ENTRIES)


def _tools() -> dict[str, str] | None:
    found = {name: shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin") for name in ("mkfs.ext4", "mount", "umount")}
    return found if all(found.values()) else None  # type: ignore[return-value]


def image_size(cap_bytes: int, free_bytes: int) -> int:
    """The image's size: the copy's cap and a margin (a fourth more, for small files' whole blocks), at
    most the host's free space less RESERVE_BYTES, at least SMALLEST_BYTES."""
    wanted = cap_bytes + cap_bytes // 4 + MARGIN_BYTES
    return max(SMALLEST_BYTES, min(wanted, free_bytes - RESERVE_BYTES))


@contextmanager
def candidate_folder(tmp: Path, cap_bytes: int) -> Iterator[Path]:
    """Where the run's copy of the candidate goes: tmp/disk/candidate on a file system of its own where
    one can be made, else tmp/candidate. Unmounted (and the image removed) on the way out."""
    tools = _tools() if os.geteuid() == 0 and confine.available() else None
    if tools is None:
        yield tmp / "candidate"
        return
    image, mount_point = tmp / "disk.img", tmp / "disk"
    try:
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
