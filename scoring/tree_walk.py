"""Walking a folder that a candidate made: no recursion, nothing opened that is not a regular file, nothing
read from outside the folder.

    for rel, info in walk(folder): ...          # folders before what they hold
    with FolderReader(folder) as reader:        # the same walk, and its files read safely:
        for rel, info in reader.walk(): ... reader.open(rel) ...  # refuses a FIFO, a device, a link swapped in

A candidate's folder may hold a tree thousands of folders deep (Path.rglob recurses), named pipes
(open() blocks on them), sockets and devices (tarfile.gettarinfo fails on them). The callers keep
folders, regular files and symbolic links, and list the rest by `kind`.

The candidate may change the folder while it is read (rearena may read it as root): a folder swapped for
a symbolic link between its listing and its opening would have open() and scandir() follow the link, as
they do in any component but the last under O_NOFOLLOW. So folders are opened without following a link
and checked to be the folders listed (device and inode) where they should be (their path in
/proc/self/fd), and files are opened by name in such a folder: what is not really under the root at the
moment it is opened raises OSError.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
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


CHANGED = "it changed while it was being read"
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def walk(src: Path, skip: Callable[[str, os.stat_result], bool] | None = None,
         unreadable: str = "raise") -> Iterator[tuple[PurePosixPath, os.stat_result]]:
    """(path relative to src, lstat) of everything under src, sorted by name within a folder, each folder
    before its contents, without recursion (os.walk and Path.rglob recurse before Python 3.12); an entry
    for which skip(name, lstat) holds is left out with what it holds. A folder or entry that cannot be
    read, or a folder no longer where it was listed (swapped for a link: CHANGED), raises OSError (the
    caller's to turn into a verdict), or with unreadable="skip" is left out (removed while walking, as
    os.walk does). src itself is followed if it is a link."""
    try:
        root = _Root(str(src))
    except OSError:
        if unreadable == "skip":
            return
        raise
    with root:
        yield from _walk(root, skip, unreadable)


def _walk(root: _Root, skip, unreadable: str) -> Iterator[tuple[PurePosixPath, os.stat_result]]:
    todo = [PurePosixPath()]
    while todo:
        folder = todo.pop()
        try:
            entries = root.listing(str(folder) if folder.parts else "", unreadable == "skip")
        except OSError:
            if unreadable == "skip":
                continue
            raise
        below = []
        for name, info in entries:
            if skip is not None and skip(name, info):
                continue
            rel = folder / name
            if stat.S_ISDIR(info.st_mode):
                root.seen[str(rel)] = (info.st_dev, info.st_ino)  # what opening it must find (_Root.folder)
                below.append(rel)
            yield rel, info
        todo.extend(reversed(below))  # popped in name order


def named(names: frozenset[str]) -> Callable[[str, os.stat_result], bool]:
    """A `skip` for walk: entries with one of these names."""
    return lambda name, info: name in names


class FolderReader:
    """Walks one folder and reads its regular files and link texts by their path relative to it: the folder
    is opened once (followed if it is a link then), and every folder below it opened without following a
    link and checked to be where it should be (OSError CHANGED if not). The last file's folder is kept
    open, so files met folder by folder, as walk yields them, cost one open each: a folder, once checked,
    stays the candidate's own (its fd holds it), and a file is opened by name in it without following a
    link, nor blocking on a FIFO.

        with FolderReader(folder) as reader:
            for rel, info in reader.walk(): ... reader.open(rel) ... reader.read_link(rel)
    """

    def __init__(self, folder: Path):
        self._root = _Root(str(folder))
        self._rel: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> FolderReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._drop()
        self._root.__exit__()

    def walk(self, skip: Callable[[str, os.stat_result], bool] | None = None,
             unreadable: str = "raise") -> Iterator[tuple[PurePosixPath, os.stat_result]]:
        """walk() of the folder, through the fd it was opened as."""
        return _walk(self._root, skip, unreadable)

    def open(self, rel: PurePosixPath | str) -> BinaryIO:
        """The regular file folder/rel, opened for reading; OSError if it is not (or no longer) one, or not
        really there."""
        folder, shown = self._folder(str(rel)), self._root.shown(str(rel))
        try:
            fd = os.open(os.path.basename(str(rel)), _FILE, dir_fd=folder)
        except OSError as exc:
            raise _named(exc, shown) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device, or a folder swapped in
                raise OSError(0, "it is no longer a regular file", shown)
            return open(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read_link(self, rel: PurePosixPath | str) -> str:
        """The text of the symbolic link folder/rel."""
        try:
            return os.readlink(os.path.basename(str(rel)), dir_fd=self._folder(str(rel)))
        except OSError as exc:
            raise _named(exc, self._root.shown(str(rel))) from None

    def _folder(self, rel: str) -> int:
        where = os.path.dirname(rel)
        if where != self._rel or self._fd is None:
            self._drop()
            self._fd, self._rel = self._root.folder(where), where
        return self._fd

    def _drop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._rel = None, None


class _Root:
    """A folder opened once (following a link to it): folders under it are opened relative to it without
    following a link, and checked to be where they should be. Paths are str here: pathlib is slow."""

    def __init__(self, path: str):
        self.path = path
        self.seen: dict[str, tuple[int, int]] = {}  # (device, inode) of the folders listed, by rel
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.real = _where(self.fd, path)
        except OSError:
            os.close(self.fd)
            raise

    def __enter__(self) -> _Root:
        return self

    def __exit__(self, *exc_info) -> None:
        os.close(self.fd)

    def folder(self, rel: str) -> int:
        """An fd of the folder root/rel ("": root); OSError (CHANGED) if it is a link or not really there now.

        A folder the walk listed is opened at once (a link among rel's folders would be followed) and must
        be the very folder listed (device and inode) at root/rel (its path in /proc/self/fd): the path alone
        can be faked, as a participant in a mount namespace of its own names a folder it bind-mounted
        there, reached through /proc/<pid>/root. Any other folder is opened one name at a time, following
        no link."""
        if not rel:
            return os.dup(self.fd)
        expected = self.seen.get(rel)
        try:
            fd = os.open(rel, _FOLDER, dir_fd=self.fd) if expected is not None else self._stepwise(rel)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # listed as a folder, now a link or a file
                raise OSError(0, CHANGED, self.shown(rel)) from None
            raise _named(exc, self.shown(rel)) from None
        try:
            info = os.fstat(fd)
            if expected is not None and (info.st_dev, info.st_ino) != expected:
                raise OSError(0, CHANGED, self.shown(rel))
            if _where(fd, self.shown(rel)) != os.path.join(self.real, os.fsencode(rel)):  # moved, deleted
                raise OSError(0, CHANGED, self.shown(rel))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _stepwise(self, rel: str) -> int:
        """root/rel opened one folder at a time, never through a link."""
        fd = os.dup(self.fd)
        try:
            for part in rel.split("/"):
                below = os.open(part, _FOLDER, dir_fd=fd)
                os.close(fd)
                fd = below
        except BaseException:
            os.close(fd)
            raise
        return fd

    def shown(self, rel: str) -> str:
        """root/rel as the caller named root: what a message names."""
        return os.path.join(self.path, rel) if rel else self.path

    def listing(self, rel: str, skip_unreadable: bool) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of what the folder root/rel holds, sorted by name, read through an fd of it."""
        fd = self.folder(rel)
        try:
            try:
                with os.scandir(fd) as found:
                    entries = sorted(found, key=lambda entry: entry.name)
            except OSError as exc:
                raise _named(exc, self.shown(rel)) from None
            listed = []
            for entry in entries:
                try:
                    listed.append((entry.name, entry.stat(follow_symlinks=False)))  # relative to fd
                except OSError as exc:
                    if not skip_unreadable:
                        raise _named(exc, os.path.join(self.shown(rel), entry.name)) from None
            return listed
        finally:
            os.close(fd)


def _where(fd: int, shown: str) -> bytes:
    """The path the kernel has for an open file now (a deleted one's ends with " (deleted)")."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}".encode())
    except OSError as exc:
        raise OSError(exc.errno, f"where it is could not be checked ({exc.strerror})", shown) from None


def _named(exc: OSError, path: Path | str) -> OSError:
    """exc naming path (an error relative to a folder's fd names only the last part)."""
    return OSError(exc.errno, exc.strerror, str(path))


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


def link_escapes(root: Path, rel: PurePosixPath, budget: LinkBudget | None = None, target: str | None = None,
                 tree: Mapping[tuple[str, ...], str | None] | None = None) -> str:
    """What is wrong with the symbolic link at root/rel, in words ("" if nothing): resolved one step at a
    time against the links under root, as the kernel resolves it wherever root is mounted (a trusted reader
    in a scoring container follows it at /candidate), it is absolute, leads through an absolute link or
    climbs above root at any step (`x/up -> ..` then `l -> x/up/../..`: lexically inside, physically the
    parent), all "to outside the folder"; or it loops, or takes more than LINK_STEPS components to
    follow. A target that does not exist is inside (a dangling link reads nothing). `budget`: the steps
    are also spent from the folder's (LinkBudget). `target`: the link's text as the caller read it (and
    will write it), judged instead of reading it again (the folder may change meanwhile). `tree`: the
    folder as the caller read it (path parts: a link's text, None for a folder or file), resolved against
    instead of root, which is then not read at all: what is judged is what the caller writes."""
    stack: list[str] = []
    if target is not None:
        if os.path.isabs(target):
            return "a symbolic link to outside the folder"
        todo = list(reversed(PurePosixPath(rel).parent.parts + PurePosixPath(target).parts))
    else:
        todo = list(reversed(PurePosixPath(rel).parts))
    steps = [0]
    look = _looked_up_in(tree) if tree is not None else _looked_up_under(root)
    try:
        return _resolve_link(look, stack, todo, steps)
    finally:
        if budget is not None:
            budget.spend(steps[0])


_MISSING = object()


def _looked_up_under(root: Path) -> Callable[[list[str]], object]:
    """What is at root/parts: a link's text, None for anything else, _MISSING for nothing."""
    def look(parts: list[str]) -> object:
        try:
            info = os.lstat(Path(root, *parts))
        except OSError:
            return _MISSING
        return os.readlink(Path(root, *parts)) if stat.S_ISLNK(info.st_mode) else None
    return look


def _looked_up_in(tree: Mapping[tuple[str, ...], str | None]) -> Callable[[list[str]], object]:
    return lambda parts: tree.get(tuple(parts), _MISSING)


def _resolve_link(look: Callable[[list[str]], object], stack: list[str], todo: list[str], steps: list[int]) -> str:
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
        target = look(stack)
        if target is _MISSING:  # nothing there: the rest of the path names nothing either
            return ""
        if target is not None:  # a link
            hops += 1
            if hops > LINK_HOPS:
                return "a symbolic link loop"
            if os.path.isabs(target):
                return outside
            stack.pop()
            todo.extend(reversed(PurePosixPath(target).parts))
    return ""
