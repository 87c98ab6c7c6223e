"""Walking a folder that a candidate made: no recursion, nothing opened that is not a regular file.

    for rel, info in walk(folder): ...          # folders before what they hold
    with open_regular(folder / rel) as fh: ...  # refuses a FIFO, a device, a symlink swapped in

A candidate's folder may hold a tree thousands of folders deep (Path.rglob recurses), named pipes
(open() blocks on them), sockets and devices (tarfile.gettarinfo fails on them). The callers keep
folders, regular files and symbolic links, and list the rest by `kind`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


class TreeRefused(Exception):
    """A folder cannot be taken as it is: `reason` and `message` make the verdict."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def kind(mode: int) -> str:
    """What a file that is not a folder, regular file or symlink is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def walk(src: Path, skip: Callable[[str, os.stat_result], bool] | None = None,
         unreadable: str = "raise") -> Iterator[tuple[PurePosixPath, os.stat_result]]:
    """(path relative to src, lstat) of everything under src, sorted by name within a folder, each folder
    before its contents, without recursion (os.walk and Path.rglob recurse before Python 3.12); an entry
    for which skip(name, lstat) holds is left out with what it holds. A folder or entry that cannot be
    read raises OSError (the caller's to turn into a verdict), or with unreadable="skip" is left out
    (removed while walking, as os.walk does)."""
    todo = [PurePosixPath()]
    while todo:
        folder = todo.pop()
        try:
            with os.scandir(Path(src, folder)) as found:
                entries = sorted(found, key=lambda entry: entry.name)
        except OSError:
            if unreadable == "skip":
                continue
            raise
        below = []
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                if unreadable == "skip":
                    continue
                raise
            if skip is not None and skip(entry.name, info):
                continue
            rel = folder / entry.name
            yield rel, info
            if stat.S_ISDIR(info.st_mode):
                below.append(rel)
        todo.extend(reversed(below))  # popped in name order


def named(names: frozenset[str]) -> Callable[[str, os.stat_result], bool]:
    """A `skip` for walk: entries with one of these names."""
    return lambda name, info: name in names


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a symlink or blocking on a FIFO; OSError if it is
    not (or no longer) a regular file."""
    fh = open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise OSError(0, "it is no longer a regular file", str(path))
    return fh


LINK_HOPS = 40  # symbolic links followed in one resolution, as Linux allows (then ELOOP)
# path components walked to judge one link (an honest one has a few; 40 hops of 4 KB targets made ~80,000,
# an lstat each) and to judge all the links of one folder (200,000 links of that took hours)
LINK_STEPS, FOLDER_LINK_STEPS = 1024, 2_000_000


class LinkBudget:
    """The path components left to judge a folder's links: TreeRefused (copy_failed) once they are spent."""

    def __init__(self, steps: int | None = None):
        self.left = FOLDER_LINK_STEPS if steps is None else steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise TreeRefused("copy_failed", f"the candidate's folder could not be copied: its symbolic links "
                                             f"take more than {FOLDER_LINK_STEPS:,} steps to resolve")


def link_escapes(root: Path, rel: PurePosixPath, budget: LinkBudget | None = None, target: str | None = None) -> str:
    """What is wrong with the symbolic link at root/rel, in words ("" if nothing): resolved one step at a
    time against the links under root, as the kernel resolves it wherever root is mounted (a trusted reader
    in a scoring container follows it at /candidate), it is absolute, leads through an absolute link or
    climbs above root at any step (`x/up -> ..` then `l -> x/up/../..`: lexically inside, physically the
    parent), all "to outside the folder"; or it loops, or takes more than LINK_STEPS components to
    follow. A target that does not exist is inside (a dangling link reads nothing). `budget`: the steps
    are also spent from the folder's (LinkBudget). `target`: the link's text as the caller read it (and
    will write it), judged instead of reading it again (the folder may change meanwhile)."""
    stack: list[str] = []
    if target is not None:
        if os.path.isabs(target):
            return "a symbolic link to outside the folder"
        todo = list(reversed(PurePosixPath(rel).parent.parts + PurePosixPath(target).parts))
    else:
        todo = list(reversed(PurePosixPath(rel).parts))
    steps = [0]
    try:
        return _resolve_link(root, stack, todo, steps)
    finally:
        if budget is not None:
            budget.spend(steps[0])


def _resolve_link(root: Path, stack: list[str], todo: list[str], steps: list[int]) -> str:
    outside = "a symbolic link to outside the folder"
    hops = 0
    while todo:
        steps[0] += 1
        if steps[0] > LINK_STEPS:
            return "a symbolic link too long to follow"
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return outside
            stack.pop()
            continue
        stack.append(part)
        try:
            info = os.lstat(Path(root, *stack))
        except OSError:  # nothing there: the rest of the path names nothing either
            return ""
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > LINK_HOPS:
                return "a symbolic link loop"
            target = os.readlink(Path(root, *stack))
            if os.path.isabs(target):
                return outside
            stack.pop()
            todo.extend(reversed(PurePosixPath(target).parts))
    return ""
