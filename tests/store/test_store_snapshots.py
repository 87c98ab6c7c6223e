"""Content-addressed snapshots: dedup, manifests, restore, symlinks, skipped folders, size cap."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.store.errors import StoreError
from console.store.snapshots import BlobStore, restore_tree, snapshot_tree


def blob_files(store) -> set[Path]:
    root = store.blobs.root
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def make_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "solution.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "data.bin").write_bytes(bytes(range(256)) * 10)
    (root / "pkg" / "copy.txt").write_text("same")
    (root / "same.txt").write_text("same")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    return root


def tree_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_snapshot_manifest_and_blob_layout(store, tmp_path):
    src = make_tree(tmp_path / "w")
    digest = store.snapshot_dir(src)
    manifest = store.snapshot_manifest(digest)
    assert sorted(manifest) == ["pkg/copy.txt", "pkg/data.bin", "run.sh", "same.txt", "solution.py"]
    entry = manifest["solution.py"]
    content = (src / "solution.py").read_bytes()
    mode = (src / "solution.py").stat().st_mode & 0o7777
    assert entry == {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "mode": mode}
    assert manifest["run.sh"]["mode"] & 0o111
    blob = store.blobs.root / entry["sha256"][:2] / entry["sha256"][2:]
    assert blob.read_bytes() == content
    manifest_blob = store.blobs.root / digest[:2] / digest[2:]
    assert hashlib.sha256(manifest_blob.read_bytes()).hexdigest() == digest
    assert json.loads(manifest_blob.read_bytes()) == manifest
    assert len(blob_files(store)) == 5  # 4 distinct contents ("same" twice) + the manifest


def test_same_tree_twice_adds_no_blob(store, tmp_path):
    src = make_tree(tmp_path / "w")
    first = store.snapshot_dir(src)
    blobs = blob_files(store)
    stamps = {p: p.stat().st_mtime_ns for p in blobs}
    assert store.snapshot_dir(src) == first
    assert blob_files(store) == blobs
    assert {p: p.stat().st_mtime_ns for p in blobs} == stamps  # never rewritten
    copy = make_tree(tmp_path / "elsewhere")  # identical content elsewhere: identical hash
    assert store.snapshot_dir(copy) == first


def test_changing_one_file_adds_one_blob_and_one_manifest(store, tmp_path):
    src = make_tree(tmp_path / "w")
    first = store.snapshot_dir(src)
    before = blob_files(store)
    (src / "solution.py").write_text("def f():\n    return 2\n")
    second = store.snapshot_dir(src)
    assert second != first
    added = blob_files(store) - before
    assert len(added) == 2
    changed = store.snapshot_manifest(second)["solution.py"]["sha256"]
    assert {p.parent.name + p.name for p in added} == {second, changed}


def test_restore_recreates_tree(store, tmp_path):
    src = make_tree(tmp_path / "w")
    digest = store.snapshot_dir(src)
    (src / "solution.py").write_text("changed later")
    dest = store.restore_snapshot(digest, tmp_path / "restored" / "deep")
    assert dest == tmp_path / "restored" / "deep"
    assert tree_of(dest)["solution.py"] == b"def f():\n    return 1\n"
    assert set(tree_of(dest)) == set(tree_of(src))
    assert os.stat(dest / "run.sh").st_mode & 0o777 == 0o755
    assert store.snapshot_dir(dest) == digest


def test_snapshot_rows(store, tmp_path):
    who = store.participant("ann")
    trial = store.create_trial("e", "main", who.id, "local", 1, 1, "/w", 0.0)
    src = make_tree(tmp_path / "w")
    digest = store.snapshot_dir(src, trial_id=trial.id, at=123.0)
    store.snapshot_dir(src, trial_id=trial.id, at=124.0)  # same tree, same trial: one row
    store.snapshot_dir(src, at=125.0)
    rows = store.snapshots(trial.id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.hash, row.trial_id, row.created_at, row.files) == (digest, trial.id, 123.0, 5)
    assert row.bytes == sum(len(b) for b in tree_of(src).values())
    assert [r.trial_id for r in store.snapshots()] == [trial.id, None]
    with pytest.raises(StoreError, match="no trial 999"):
        store.snapshot_dir(src, trial_id=999)


def test_skips_caches_git_and_outside_symlinks(store, tmp_path):
    src = make_tree(tmp_path / "w")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_bytes(b"cache")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    outside = tmp_path / "secret.txt"
    outside.write_text("do not take me")
    (src / "leak.txt").symlink_to(outside)
    (src / "link_dir").symlink_to(tmp_path)
    (src / "dangling").symlink_to(tmp_path / "missing")
    (src / "inner_link.py").symlink_to(src / "solution.py")
    os.mkfifo(src / "pipe")
    manifest = store.snapshot_manifest(store.snapshot_dir(src))
    assert "inner_link.py" in manifest
    assert manifest["inner_link.py"]["sha256"] == manifest["solution.py"]["sha256"]
    for skipped in ("__pycache__/x.pyc", ".git/HEAD", "leak.txt", "dangling", "pipe"):
        assert skipped not in manifest
    assert not any(k.startswith("link_dir") for k in manifest)


def test_size_cap(store, tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    (src / "a.bin").write_bytes(b"x" * 600)
    (src / "b.bin").write_bytes(b"y" * 600)
    with pytest.raises(StoreError, match="cap of 1000 bytes"):
        store.snapshot_dir(src, max_bytes=1000)
    assert blob_files(store) == set()  # nothing stored before the cap was checked
    store.snapshot_max_bytes = 1000
    with pytest.raises(StoreError, match="cap"):
        store.snapshot_dir(src)
    assert store.snapshot_dir(src, max_bytes=1200)


def test_bad_snapshot_requests(store, tmp_path):
    with pytest.raises(StoreError, match="not a folder"):
        store.snapshot_dir(tmp_path / "missing")
    with pytest.raises(StoreError, match="64 hex"):
        store.snapshot_manifest("../../etc/passwd")
    with pytest.raises(StoreError, match="no snapshot"):
        store.restore_snapshot("0" * 64, tmp_path / "x")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a").write_text("plain")
    manifest = store.snapshot_manifest(store.snapshot_dir(tmp_path / "f"))
    with pytest.raises(StoreError, match="not a snapshot manifest"):
        store.snapshot_manifest(manifest["a"]["sha256"])


def test_restore_detects_corruption_and_unsafe_paths(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    digest, manifest = snapshot_tree(blobs, src)
    blob = blobs.path(manifest["a.txt"]["sha256"])
    blob.chmod(0o644)
    blob.write_text("tampered")
    with pytest.raises(StoreError, match="corrupt"):
        restore_tree(blobs, digest, tmp_path / "out")
    evil = blobs.put_bytes(json.dumps({"../escape": manifest["a.txt"]}).encode())
    with pytest.raises(StoreError, match="unsafe path"):
        restore_tree(blobs, evil, tmp_path / "out2")
    assert not (tmp_path / "escape").exists()


names = st.text(alphabet="abcxyz_-.0123", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


paths = st.lists(names, min_size=1, max_size=3).map("/".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(paths, st.binary(max_size=300), max_size=8))
def test_round_trip_any_tree(tmp_path_factory, files):
    base = tmp_path_factory.mktemp("rt")
    src = base / "src"
    src.mkdir()
    written = {}
    for rel, data in files.items():
        path = src / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written[rel] = data
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            continue  # a name used both as a file and as a folder
    written = tree_of(src)
    blobs = BlobStore(base / "blobs")
    digest, manifest = snapshot_tree(blobs, src)
    assert set(manifest) == {k for k in written if "__pycache__" not in k and ".git" not in k.split("/")}
    restore_tree(blobs, digest, base / "out")
    assert tree_of(base / "out") == {k: written[k] for k in manifest}
    assert snapshot_tree(blobs, base / "out")[0] == digest


def test_a_file_swapped_for_a_fifo_while_snapshotting_is_skipped_not_waited_on(tmp_path, monkeypatch):
    """Before, open() of a FIFO put in a file's place after the walk blocked the snapshot for ever (and the
    scoring that takes one first)."""
    import console.store.snapshots as snapshots

    root = make_tree(tmp_path / "work")
    scanned = snapshots.scan_tree

    def scan_then_swap(*args, **kwargs):
        found = scanned(*args, **kwargs)
        os.remove(root / "same.txt")
        os.mkfifo(root / "same.txt")
        return found

    monkeypatch.setattr(snapshots, "scan_tree", scan_then_swap)
    blobs = BlobStore(tmp_path / "blobs")
    _, manifest = snapshot_tree(blobs, root)  # returns (a FIFO opened for reading would wait for a writer)
    assert "same.txt" not in manifest and "solution.py" in manifest
    with pytest.raises(FileNotFoundError, match="no longer a regular file"):
        blobs.put_file(root / "same.txt")
