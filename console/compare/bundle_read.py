"""Reading a trial file (see bundle.py) within limits: a small file that inflates without end is refused before
it is read, events are read one line at a time, and blobs are hashed and copied in chunks, never whole.

The JSON members (manifest.json, trial.json, events.jsonl) are refused when they inflate past MEMBER_LIMITS, or,
past 1 MiB, more than MAX_RATIO times their compressed size (such JSON deflates 5 to 30 times; a zip bomb about
1,000); events.jsonl may hold MAX_EVENT_LINES lines at most. A blob (a workdir file: a file of zeros deflates
1,000 times too) may be up to MAX_BLOB_BYTES, and all the blobs to copy must fit in the disk's free space.
zipfile itself stops a member at its declared size (a member that inflates further fails its CRC check).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

from console.compare.bundle_check import BundleError, check_content, export_time, snapshot_refs
from console.compare.bundle_content import FORMAT, FORMAT_VERSION, content_digest

MiB = 1 << 20
MEMBER_LIMITS = {"manifest.json": MiB, "trial.json": 256 * MiB, "events.jsonl": 1024 * MiB}
SNAPSHOT_MANIFEST_LIMIT = 64 * MiB  # a snapshot's manifest blob, read whole to list its files
MAX_BLOB_BYTES = 16 * 1024 * MiB
MAX_EVENT_LINES = 2_000_000
MAX_RATIO = 200
_RATIO_FLOOR = MiB
_CHUNK = MiB
# what zipfile and zlib raise on a damaged or unsupported archive (encrypted: RuntimeError; a compression
# method this Python lacks: NotImplementedError)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError)


def read_bundle(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(manifest, content, hashes of the blobs to copy) of a trial file, checked through; BundleError says what is
    wrong."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path} is not a rearena trial file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            return _read(zf, path)
    except ZIP_ERRORS as exc:
        raise BundleError(f"{path} is corrupt: {exc}") from None


def _read(zf: zipfile.ZipFile, path: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    names = set(zf.namelist())
    if "manifest.json" not in names:
        raise BundleError(f"{path} is not a rearena trial file (it has no manifest.json)")
    manifest = _json(zf, "manifest.json", path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path} is not a rearena trial file (format {found!r}, expected {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path} is a rearena trial file of format version {version!r}, but this rearena "
                          f"reads format version {FORMAT_VERSION} only; export it again with a matching rearena")
    for member in ("trial.json", "events.jsonl"):
        if member not in names:
            raise BundleError(f"{path} is corrupt: {member} is missing")
    export_time(manifest, path)
    content = _json(zf, "trial.json", path)
    if not isinstance(content, dict):
        raise BundleError(f"{path} is corrupt: trial.json is not an object")
    content["events"] = _events(zf, path)
    check_content(content, path)
    if content_digest(content) != manifest.get("digest"):
        raise BundleError(f"{path} is corrupt: its content does not match the digest in its manifest")
    missing = manifest.get("missing_blobs")
    missing = {sha for sha in missing if isinstance(sha, str)} if isinstance(missing, list) else set()
    blobs = _blob_closure(zf, content, names, missing, path)
    for sha in blobs:
        _check_size(zf, f"blobs/{sha}", MAX_BLOB_BYTES, path, ratio=False)
        if _hash_member(zf, f"blobs/{sha}") != sha:
            raise BundleError(f"{path} is corrupt: blob {sha[:12]}… does not match its hash")
    return manifest, content, blobs


def _check_size(zf: zipfile.ZipFile, member: str, limit: int, path: Path, ratio: bool = True) -> None:
    check_member_size(zf, member, limit, path, ratio=ratio)


def check_member_size(zf: zipfile.ZipFile, member: str, limit: int, path: Path, *, ratio: bool = True,
                      error: type[BundleError] = BundleError, holder: str = "a trial file") -> None:
    """`error` naming the member when it inflates past `limit` bytes or, for JSON, past MAX_RATIO times (also
    for Inspect logs: console.compare.inspect_log)."""
    info = zf.getinfo(member)
    if info.file_size > limit:
        raise error(f"{path} is refused: its {member} inflates to {info.file_size:,} bytes, more than the "
                    f"{limit:,} {holder} may hold there; nothing was imported")
    if ratio and info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise error(f"{path} is refused: its {member} inflates {info.file_size / max(info.compress_size, 1):,.0f}"
                    f" times ({info.compress_size:,} bytes to {info.file_size:,}), more than the {MAX_RATIO} "
                    f"times {holder}'s JSON does (a zip bomb?); nothing was imported")


def _json(zf: zipfile.ZipFile, member: str, path: Path) -> Any:
    _check_size(zf, member, MEMBER_LIMITS[member], path)
    try:
        return json.loads(zf.read(member).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is corrupt: {member} is not JSON ({exc})") from None


def _events(zf: zipfile.ZipFile, path: Path) -> list[Any]:
    """The events of events.jsonl, read a line at a time (blank lines skipped)."""
    _check_size(zf, "events.jsonl", MEMBER_LIMITS["events.jsonl"], path)
    events = []
    with zf.open("events.jsonl") as f:
        for number, line in enumerate(f, 1):
            if number > MAX_EVENT_LINES:
                raise BundleError(f"{path} is refused: its events.jsonl has more than {MAX_EVENT_LINES:,} lines; "
                                  "nothing was imported")
            if not line.strip():
                continue
            try:
                events.append(json.loads(line.decode("utf-8")))
            except ValueError as exc:  # UnicodeDecodeError is one
                raise BundleError(f"{path} is corrupt: events.jsonl line {number}: {exc}") from None
    return events


def _hash_member(zf: zipfile.ZipFile, member: str) -> str:
    h = hashlib.sha256()
    with zf.open(member) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _blob_closure(zf, content: dict, names: set[str], missing: set[str], path: Path) -> list[str]:
    """The blobs the trial's snapshots refer to (their manifests and files), each in the file unless it was
    missing at export; blobs nothing refers to are left out."""
    needed: set[str] = set()
    for digest in sorted(snapshot_refs(content)):
        if digest in missing:
            continue
        member = f"blobs/{digest}"
        if member not in names:
            raise BundleError(f"{path} is corrupt: snapshot {digest[:12]}… is missing from it")
        _check_size(zf, member, SNAPSHOT_MANIFEST_LIMIT, path, ratio=False)
        try:
            shas = {e["sha256"] for e in json.loads(zf.read(member)).values()}
        except (ValueError, AttributeError, TypeError, KeyError):
            raise BundleError(f"{path} is corrupt: snapshot {digest[:12]}… is not a snapshot manifest") from None
        if not all(isinstance(sha, str) for sha in shas):
            raise BundleError(f"{path} is corrupt: snapshot {digest[:12]}… is not a snapshot manifest")
        lost = sorted(sha for sha in shas - missing if f"blobs/{sha}" not in names)
        if lost:
            raise BundleError(f"{path} is corrupt: {len(lost)} file blob(s) of snapshot {digest[:12]}… are missing")
        needed |= {digest} | (shas - missing)
    return sorted(needed)


def copy_blobs(store, path: Path, blobs: list[str]) -> None:
    """Copy the blobs the store lacks from the trial file, in chunks, each checked against its hash."""
    todo = [sha for sha in blobs if not store.blobs.has(sha)]
    if not todo:
        return
    try:
        with zipfile.ZipFile(path) as zf:
            need = sum(zf.getinfo(f"blobs/{sha}").file_size for sha in todo)
            root = store.blobs.root
            root.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(root).free
            if need > free:
                raise BundleError(f"{path} needs {need:,} bytes of snapshot files, but the disk of {root} has "
                                  f"{free:,} free; nothing was imported")
            for sha in todo:
                _copy_blob(zf, sha, store.blobs.path(sha), path)
    except ZIP_ERRORS as exc:
        raise BundleError(f"{path} could not be copied into {store.blobs.root}: {exc}") from None


def _copy_blob(zf: zipfile.ZipFile, sha: str, final: Path, path: Path) -> None:
    """One blob written beside its place and moved there (as BlobStore writes them: read-only, atomically)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, zf.open(f"blobs/{sha}") as src:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != sha:  # the file changed since it was read
            raise BundleError(f"{path} is corrupt: blob {sha[:12]}… does not match its hash")
        if final.exists():
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
