"""One trial in one file (a zip), and back into any database with nothing lost.

The file holds manifest.json (format name and version, counts, a digest of the content, and since exports record
it, exported_at: when the file was written, with active_s_at_export, the trial's active time then; optional fields
of format version 1 that a reader without them ignores),
trial.json (the trial, its participant, pauses, submissions, snapshot records), events.jsonl
(one event a line, in order) and blobs/<sha256> (every blob of the trial's snapshots: manifests
and files, so snapshot hashes stay the same in any database). Import checks everything first
(format, version, sizes, structure, digest, every blob's hash: bundle_read, bundle_check) and writes
nothing when something is wrong; then it writes blobs and, in ONE transaction, the participant (found or
created), the trial, submissions, events, pauses and snapshot records (bundle_write). New ids are given; a
"score" event's "submission" field is mapped to the new submission id. Importing a file whose trial is
already in the database (same participant, environment, variant, creation time and content) is a no-op that
names the existing trial; the same identity with different content is refused. A trial exported before it
ended is imported as a record that nothing ends, scores or snapshots, ended at its export so that it keeps the
active time it had reached, and a later export of it replaces that record (bundle_identity).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.compare.bundle_check import BundleError, export_time, snapshot_refs
from console.compare.bundle_content import (
    FORMAT,
    FORMAT_VERSION,
    SUB_KEYS,
    TRIAL_KEYS,
    canonical_content,
    content_digest,
    trial_content,
)
from console.compare.bundle_read import copy_blobs, read_bundle
from console.store.snapshots import load_manifest
from console.trials.clock import Clock, system_clock

__all__ = ["BundleError", "ExportResult", "ImportResult", "export_trial", "import_trial", "read_bundle",
           "content_digest", "trial_content", "canonical_content", "FORMAT", "FORMAT_VERSION", "TRIAL_KEYS",
           "SUB_KEYS"]  # fmt: skip


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    digest: str
    counts: dict[str, int]
    missing_blobs: list[str] = field(default_factory=list)
    exported_at: float = 0.0
    active_s: float = 0.0  # the trial's active time when it was exported


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the trial's id here, whether it was written (created, or replaced an earlier import of
    the trial exported before it ended), and the id maps (old -> new)."""

    trial_id: int
    created: bool
    submissions: dict[int, int] = field(default_factory=dict)
    events: int = 0
    replaced: bool = False  # it replaced this database's import of the trial exported before it ended


def _blob_closure(store, content: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(blobs present to ship, blobs missing here) for every snapshot the trial refers to."""
    present, missing = set(), set()
    for digest in sorted(snapshot_refs(content)):
        if not store.blobs.has(digest):
            missing.add(digest)
            continue
        present.add(digest)
        for entry in load_manifest(store.blobs, digest).values():
            (present if store.blobs.has(entry["sha256"]) else missing).add(entry["sha256"])
    return sorted(present), sorted(missing)


def export_trial(store, trial_id: int, path: str | Path, clock: Clock = system_clock) -> ExportResult:
    """Write trial `trial_id` and its snapshots' blobs to one zip file at path (atomically; its folder must exist),
    with the moment of the export on `clock` (the trial service's) and the trial's active time then."""
    from console.compare.bundle_identity import active_at

    path = Path(path)
    content = trial_content(store, trial_id)
    exported_at = clock()
    active = active_at(content, exported_at)
    blobs, missing = _blob_closure(store, content)
    counts = {k: len(content[k]) for k in ("events", "pauses", "submissions", "snapshots")} | {"blobs": len(blobs)}
    digest = content_digest(content)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "digest": digest, "counts": counts,
                "missing_blobs": missing, "trial_id": trial_id, "status": content["trial"]["status"],
                "exported_at": exported_at, "active_s_at_export": active}  # fmt: skip
    head = {k: content[k] for k in ("trial", "participant", "pauses", "submissions", "snapshots")}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            zf.writestr("trial.json", json.dumps(head, indent=1))
            zf.writestr("events.jsonl", "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in content["events"]))
            for sha in blobs:
                zf.write(store.blobs.path(sha), f"blobs/{sha}")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return ExportResult(path, digest, counts, missing, exported_at, active)


def import_trial(store, path: str | Path) -> ImportResult:
    """Load a trial file into the store; nothing is written when the file is bad or already imported."""
    from console.compare.bundle_identity import decide, make_inert
    from console.compare.bundle_write import REPLACE, SAME, write_once

    path = Path(path)
    manifest, content, blobs = read_bundle(path)
    exported_at = export_time(manifest, path)
    verdict, existing = decide(store, content, exported_at)  # before the blobs: a file imported already writes nothing
    if verdict == SAME:
        return ImportResult(existing, created=False)
    copy_blobs(store, path, blobs)
    # decided again inside the write transaction: another import may have written the trial meanwhile
    trial_id, sub_map, verdict = write_once(store, make_inert(content, exported_at),
                                            lambda reader: decide(reader, content, exported_at))  # fmt: skip
    if sub_map is None:
        return ImportResult(trial_id, created=False)
    return ImportResult(trial_id, True, sub_map, len(content["events"]), replaced=verdict == REPLACE)
