"""Extracting a tar archive that came out of a container (untrusted) into a new host folder.

Only folders, regular files (a hard link as a copy of a file extracted before it) and relative symlinks
that stay inside are written; nothing is written through a symlink, nothing lands outside the folder
(absolute names, `..`, names outside the archive's one top folder). What is left out, and what this
host cannot write (e.g. a path too long), is named with why (named_entry), never silently dropped.
scoring.container_exec.fetch_folder feeds it the stream of a tar run in the container.
"""

from __future__ import annotations

import os
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
