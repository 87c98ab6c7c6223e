"""Extracting a tar archive that came out of a container (untrusted) into a new host folder.

Only folders, regular files (a hard link as a copy of a file extracted before it) and relative symlinks
that stay inside are written; nothing is written through a symlink, nothing lands outside the folder
(absolute names, `..`, names outside the archive's one top folder). What is left out, and what this
host cannot write (e.g. a path too long), is named with why (named_entry), never silently dropped.
scoring.container_exec.fetch_folder feeds it the stream of a tar run in the container.

`keep_last` puts back, from the last copy taken (the host mirror), entries the tar could not read now:
what the participant made unreadable is not lost (the last readable version is kept, and named).
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from scoring.container_errors import ContainerError


def _inside(name: str) -> PurePosixPath | None:
    """A member's name as a path below the folder; None when it is absolute or climbs out (`..`)."""
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts:
        return None
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def named_entry(name: str, why: str) -> str:
    """One skipped entry as reported: its name (shortened) and why."""
    return f"{name if len(name) <= 200 else name[:97] + '...' + name[-100:]} ({why})"


def extract_untrusted(fileobj, dest: Path, *, top: str | None = None, what: str = "the folder") -> list[str]:
    """Extract only folders, regular files (hard links as copies) and relative symlinks that stay inside dest;
    list the rest, and what could not be written (e.g. a path too long for this host), named, with why.

    With `top`, the archive holds one folder of that name (its contents go to dest); ContainerError when it
    holds anything else under that name (`what` names it in the message)."""
    dest.mkdir(parents=True, exist_ok=True)
    skipped = []
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            rel = _relative(member.name, top)
            if rel == PurePosixPath(".") and top is not None and not member.isdir():
                raise ContainerError(f"{what} is not a folder (a symlink or a file stands in its place); "
                                     "not copied out")
            if rel is None:
                skipped.append(named_entry(member.name, "outside the folder"))
                continue
            if rel == PurePosixPath("."):
                continue
            try:
                why = _extract_one(tar, member, rel, dest, top)
            except OSError as exc:  # e.g. a path longer than this host allows: that entry only
                why = f"not written: {exc.strerror or exc}"
            if why:
                skipped.append(named_entry(member.name, why))
    return skipped


def _relative(name: str, top: str | None) -> PurePosixPath | None:
    """A member's path below dest: None when it would land outside (absolute, `..`, not under `top`)."""
    rel = _inside(name)
    if rel is None or top is None:
        return rel
    if rel.parts[:1] != (top,):
        return None
    return PurePosixPath(*rel.parts[1:]) if len(rel.parts) > 1 else PurePosixPath(".")


def _below_link(path: Path, dest: Path) -> bool:
    """Whether a folder between dest and path is a symlink (nothing is written or read through one)."""
    return any(p.is_symlink() for p in path.parents if dest in p.parents)


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, rel: PurePosixPath, dest: Path,
                 top: str | None) -> str:
    """Write one member under dest; "" when done, else why it was not."""
    target = dest.joinpath(*rel.parts)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    if _below_link(target, dest):
        return "below a symlink"  # never write through a symlink
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o755 | (member.mode & 0o777))
    elif member.isreg():
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        with open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        os.chmod(target, (member.mode & 0o755) | 0o600)
    elif member.islnk():  # a hard link to a file extracted before it: a copy of that file
        linked = _relative(member.linkname, top)
        source = dest.joinpath(*linked.parts) if linked not in (None, PurePosixPath(".")) else None
        if source is None or source.is_symlink() or not source.is_file() or _below_link(source, dest):
            return "a hard link to nothing copied"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, (member.mode & 0o755) | 0o600)
    elif member.issym() and _inside(str(PurePosixPath(rel.parent, member.linkname))) is not None \
            and not PurePosixPath(member.linkname).is_absolute():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(member.linkname, target)
    elif member.issym():
        return "a symlink that leads outside"
    else:
        return "not a file, folder or symlink"
    return ""


# GNU tar's "escape" quoting of names in its messages: \\ \n \t ... and \ooo for other bytes
_ESCAPES = {b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f",
            b"v": b"\v", b"?": b"?", b'"': b'"', b"'": b"'"}


def unescape(name: bytes) -> str:
    """A name as tar's messages quote it (--quoting-style=escape), as this host's path text."""
    def one(found: re.Match) -> bytes:
        code = found.group(1)
        return bytes([int(code, 8) & 0xFF]) if code[:1].isdigit() else _ESCAPES.get(code, b"\\" + code)

    return os.fsdecode(re.sub(rb"\\([0-7]{1,3}|.)", one, name, flags=re.S))


def keep_last(last: Path, dest: Path, rel: PurePosixPath) -> bool:
    """Put rel of the last copy (a folder extracted before, by extract_untrusted) in dest in place of what is
    there (hard links, else copies; nobody writes into a copy's files); False when the last copy has nothing
    there or it cannot be placed (no folder, or a symlink, above it in either)."""
    if rel in (PurePosixPath("."), PurePosixPath("")):
        return False
    source, target = last.joinpath(*rel.parts), dest.joinpath(*rel.parts)
    if not os.path.lexists(source) or _below_link(source, last) or not last.is_dir():
        return False
    if _below_link(target, dest) or not target.parent.is_dir():
        return False
    if target.is_symlink() or (os.path.lexists(target) and not target.is_dir()):
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(source, target)
    return True


KEPT = "kept from the last copy: not readable now"
MAX_NAMED = 1000  # entries named; the rest counted
MAX_KEPT = 100_000  # entries to put back from the last copy; past it the whole copy is refused (the last kept)


class Unreadable:
    """What a tar in a container could not read (its warnings), and what the last copy gives back of it.

    Only Permission denied is kept from the last copy ("cannot stat" an entry: its folder cannot be searched,
    so that folder is what is unreadable); other reasons (gone meanwhile) are named only. src_problem says why
    nothing should be copied: src itself, or its own entries, cannot be read (or too many entries)."""

    def __init__(self, who: str, last_copy: Path | None):
        self.who, self.last_copy = who, last_copy
        self.src_problem = ""
        self.named: list[str] = []
        self.extra = 0  # entries past MAX_NAMED
        self.denied: dict[PurePosixPath, str] = {}  # below src -> why it could not be read

    def add(self, name: str, verb: str, why: str) -> None:
        """One warning of tar: an entry (named as in the archive, src's name first) it could not read."""
        verb = verb.lower()
        if why != "Permission denied":  # e.g. gone meanwhile
            self._name(name, f"not copied: cannot {verb}: {why}")
            return
        rel = PurePosixPath(*PurePosixPath(name).parts[1:])  # below src
        rel = rel.parent if verb == "stat" else rel
        if rel == PurePosixPath("."):
            self.src_problem = self.src_problem or (f"cannot {verb}: {why}" if verb != "stat" else
                                                    f"its entries cannot be read: cannot stat: {why}")
        elif self.last_copy is None:
            self._name(name, f"not readable {self.who}: cannot {verb}: {why}")
        elif len(self.denied) >= MAX_KEPT:
            self.src_problem = self.src_problem or f"more than {MAX_KEPT} entries cannot be read: {why}"
        else:
            self.denied.setdefault(rel, f"cannot {verb}: {why}")

    def _name(self, name: str, why: str) -> None:
        if len(self.named) >= MAX_NAMED:
            self.extra += 1
        else:
            self.named.append(named_entry(name, why))

    def keep(self, dest: Path, top: str) -> list[str]:
        """Put the unreadable entries back into dest (extracted) from the last copy (keep_last; a folder's
        whole once); returns everything not read now, named: those kept first."""
        kept = []
        for rel in sorted(self.denied, key=lambda path: path.parts):
            if any(parent in self.denied for parent in rel.parents):
                continue  # inside a folder kept whole
            name, why = str(PurePosixPath(top, rel)), self.denied[rel]
            try:
                done = keep_last(self.last_copy, dest, rel)
            except OSError as exc:
                self._name(name, f"not readable {self.who}: {why}; its last copy could not be kept: "
                                 f"{exc.strerror or exc}")
                continue
            if done:
                kept.append(named_entry(name, f"{KEPT} {self.who}: {why}"))
            else:
                self._name(name, f"not readable {self.who}: {why}")
        counted = [f"{self.extra} more entries (not readable {self.who}, or gone)"] if self.extra else []
        return kept + self.named + counted


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # another file system, no hard links: a copy
        shutil.copy2(source, target, follow_symlinks=False)
