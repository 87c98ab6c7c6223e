"""Content-addressed, deduplicated snapshots of candidate folders, kept as files beside the database.

A blob is stored once at `<blobs>/ab/cdef...` (the sha256 of its content), written atomically and
never rewritten. A snapshot is a manifest `{relative path: {sha256, size, mode}}`, stored as a
blob too; the manifest's sha256 is the snapshot hash. No SQLAlchemy here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from console.store.errors import StoreError
from scoring.tree_walk import walk

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
SKIP_DIRS = frozenset({"__pycache__", ".git"})
_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check_hash(sha: str) -> str:
    """The hash itself, or StoreError when it is not 64 lowercase hex digits."""
    if not isinstance(sha, str) or not _HEX64.match(sha):
        raise StoreError(f"not a snapshot/blob hash (64 hex digits expected): {sha!r}")
    return sha


def _open_regular(path: Path):
    """path opened for reading if it is (still) a regular file, a link to one followed; FileNotFoundError if
    it is not: a FIFO swapped in since the walk would block a plain open() for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(errno.ENOENT, "no longer a regular file", str(path))
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _hash_file(path: Path) -> str:
    """The sha256 of a file's content."""
    h = hashlib.sha256()
    with _open_regular(path) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def manifest_bytes(manifest: dict[str, dict[str, Any]]) -> bytes:
    """The canonical JSON encoding of a manifest (what its hash is taken over)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


class BlobStore:
    """Files named by the sha256 of their content under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where the blob with this hash lives (present or not)."""
        _check_hash(sha)
        return self.root / sha[:2] / sha[2:]

    def has(self, sha: str) -> bool:
        """Whether the blob is present."""
        return self.path(sha).is_file()

    def _commit_temp(self, tmp: str, sha: str) -> None:
        """Move a finished temp file into place, unless the blob is already there."""
        final = self.path(sha)
        if final.exists():
            os.unlink(tmp)
            return
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def _temp(self, sha_hint: str) -> tuple[int, str]:
        """A temp file in the blob's folder (same filesystem, so the rename is atomic)."""
        folder = self.root / sha_hint[:2]
        folder.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=folder, prefix=".tmp-")

    def put_bytes(self, data: bytes) -> str:
        """Store bytes as a blob (no-op when present); returns its hash."""
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha
        fd, tmp = self._temp(sha)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._commit_temp(tmp, sha)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return sha

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file's content as a blob (no-op when present); returns (hash, size)."""
        sha = _hash_file(path)
        if self.has(sha):
            return sha, self.path(sha).stat().st_size
        fd, tmp = self._temp(sha)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, _open_regular(path) as src:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = h.hexdigest()  # what was copied, even if the file changed since it was hashed
            (self.root / sha[:2]).mkdir(parents=True, exist_ok=True)
            self._commit_temp(tmp, sha)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return sha, size

    def read_bytes(self, sha: str) -> bytes:
        """The content of a blob; StoreError when missing."""
        path = self.path(sha)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"blob {sha} is missing from {self.root}") from None

    def copy_to(self, sha: str, dest: Path, mode: int = 0o644) -> None:
        """Write a blob's content to dest atomically, checking its hash on the way."""
        src = self.path(sha)
        if not src.is_file():
            raise StoreError(f"blob {sha} is missing from {self.root} (needed for {dest})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".restore-")
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha:
                raise StoreError(f"blob {sha} in {self.root} is corrupt (content hash differs)")
            os.chmod(tmp, mode & 0o7777)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def scan_tree(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[tuple[str, Path, int, int]]:
    """The files a snapshot of root holds: (relative path, real path, size, mode), sorted.

    Skips `__pycache__` and `.git` folders, symlinked folders, symlinks pointing outside root
    (or nowhere) and anything that is not a regular file; StoreError when over max_bytes.
    """
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"cannot snapshot {root}: not a folder")
    real_root = root.resolve()
    found: list[tuple[str, Path, int, int]] = []
    total = 0
    # without recursion (os.walk recurses before Python 3.12: a deep tree raised); symlinked folders are
    # walked as the links they are, not into
    for rel, info in walk(root, _skipped_folder, unreadable="skip"):
        if stat.S_ISDIR(info.st_mode):
            continue
        path = Path(root, rel)
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve()
            if not target.is_relative_to(real_root):
                continue
        try:
            st = path.stat()
        except OSError:
            continue  # a dangling symlink, or a file removed while walking
        if not stat.S_ISREG(st.st_mode):
            continue
        total += st.st_size
        if total > max_bytes:
            raise StoreError(
                f"cannot snapshot {root}: its files exceed the snapshot size cap of "
                f"{max_bytes} bytes ({max_bytes / 2**20:.0f} MB)"
            )
        found.append((rel.as_posix(), path, st.st_size, stat.S_IMODE(st.st_mode)))
    found.sort()
    return found


def _skipped_folder(name: str, info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and name in SKIP_DIRS


def snapshot_tree(
    blobs: BlobStore, root: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Store every file of root and its manifest as blobs; returns (snapshot hash, manifest)."""
    manifest: dict[str, dict[str, Any]] = {}
    total = 0
    for rel, path, _size, mode in scan_tree(root, max_bytes):
        try:
            sha, size = blobs.put_file(path)
        except FileNotFoundError:
            continue  # removed while snapshotting
        except OSError as exc:
            raise StoreError(f"cannot snapshot {path}: {exc}") from exc
        total += size
        if total > max_bytes:
            raise StoreError(
                f"cannot snapshot {root}: its files exceed the snapshot size cap of "
                f"{max_bytes} bytes ({max_bytes / 2**20:.0f} MB)"
            )
        manifest[rel] = {"sha256": sha, "size": size, "mode": mode}
    return blobs.put_bytes(manifest_bytes(manifest)), manifest


def load_manifest(blobs: BlobStore, snapshot: str) -> dict[str, dict[str, Any]]:
    """The manifest of a snapshot; StoreError when it is missing or not a manifest."""
    _check_hash(snapshot)
    if not blobs.has(snapshot):
        raise StoreError(f"no snapshot {snapshot} in {blobs.root}")
    try:
        manifest = json.loads(blobs.read_bytes(snapshot))
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or not all(
        isinstance(v, dict) and {"sha256", "size", "mode"} <= v.keys() for v in manifest.values()
    ):
        raise StoreError(f"blob {snapshot} in {blobs.root} is not a snapshot manifest")
    return manifest


def _safe_target(dest: Path, rel: str) -> Path:
    """dest/rel, refusing paths that would land outside dest."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise StoreError(f"snapshot manifest holds an unsafe path: {rel!r}")
    return dest.joinpath(*parts)


def restore_tree(blobs: BlobStore, snapshot: str, dest: Path) -> dict[str, dict[str, Any]]:
    """Recreate a snapshot's files under dest (created if needed); returns its manifest."""
    manifest = load_manifest(blobs, snapshot)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for rel, entry in sorted(manifest.items()):
        blobs.copy_to(entry["sha256"], _safe_target(dest, rel), int(entry["mode"]))
    return manifest
