"""Hostile trial files: a zip bomb, oversized members and blobs are refused before they are read (memory stays
small), big blobs are copied in chunks; crafted values (unknown status, a pause or a trial that ends before it
starts, numbers out of a column's range) are refused with a message naming the field, and nothing is written."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tracemalloc
import zipfile

import pytest
from compare_helpers import record_trial

from console.cli import main
from console.compare import bundle_read
from console.compare.bundle import BundleError, content_digest, export_trial, import_trial
from console.store.db import open_store

MiB = 1 << 20
BASE = {
    "trial": {"id": 1, "environment": "sum_env", "variant": "tiny", "sandbox": "local", "status": "ended",
              "budget_s": 60.0, "wall_backstop_s": 180.0, "created_at": 1.0, "started_at": 1.0, "ended_at": 2.0,
              "end_reason": "submitted", "workdir": "", "final_score": None, "settings": {}},
    "participant": {"name": "ada", "kind": "human", "model": "", "settings": {}},
    "events": [{"id": 1, "at": 1.0, "active_s": 0.0, "kind": "note", "data": {"text": "hi"}}],
    "pauses": [{"id": 1, "reason": "human", "started_at": 1.2, "ended_at": 1.5, "note": ""}],
    "submissions": [], "snapshots": [],
}  # fmt: skip


def write_bundle(path, content, manifest=None, members=None):
    """A trial file of `content` with a matching digest; `members` (name -> bytes) added or replacing."""
    manifest = {"format": "rearena-trial", "format_version": 1, "digest": content_digest(content)} | (manifest or {})
    files = {
        "manifest.json": json.dumps(manifest).encode(),
        "trial.json": json.dumps({k: v for k, v in content.items() if k != "events"}).encode(),
        "events.jsonl": "".join(json.dumps(e) + "\n" for e in content["events"]).encode(),
    } | (members or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def target(tmp_path):
    store = open_store(None, tmp_path / "dst")
    yield store
    store.close()


def _nothing_written(store):
    assert store.trials() == []
    assert not store.blobs.root.exists() or not [p for p in store.blobs.root.rglob("*") if p.is_file()]


def _peak_while(call):
    """(what call raised or returned, the peak of Python's allocations meanwhile, in bytes)."""
    tracemalloc.start()
    try:
        try:
            outcome = call()
        except BundleError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- sizes --------------------------------------------------------------------------------------------------


def test_a_zip_bomb_in_events_is_refused_before_it_is_inflated(target, tmp_path):
    bomb = write_bundle(tmp_path / "bomb.zip", BASE, members={"events.jsonl": b"\n" * (32 * MiB)})
    assert bomb.stat().st_size < 100_000
    outcome, peak = _peak_while(lambda: import_trial(target, bomb))
    assert isinstance(outcome, BundleError)
    assert "its events.jsonl inflates 1,0" in str(outcome) and "zip bomb" in str(outcome)
    assert peak < 4 * MiB, f"{peak:,} bytes allocated reading a bomb"
    _nothing_written(target)


def test_the_cli_names_the_member_of_a_zip_bomb(cli_env, tmp_path, capsys):
    bomb = write_bundle(tmp_path / "bomb.zip", BASE, members={"trial.json": b" " * (16 * MiB) + b"{}"})
    assert main(["import", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert "rearena: error:" in err and "its trial.json inflates" in err and "Traceback" not in err


def test_members_past_their_size_limit_are_refused_naming_the_member(target, tmp_path, monkeypatch):
    noise = os.urandom(MiB).hex()  # 2 MiB that deflate about twice: no bomb, just big
    big = write_bundle(tmp_path / "big.zip", BASE, manifest={"note": noise})
    with pytest.raises(BundleError, match=r"its manifest\.json inflates to 2,097,\d{3} bytes, more than the 1,048,576"):
        import_trial(target, big)
    monkeypatch.setitem(bundle_read.MEMBER_LIMITS, "events.jsonl", 50)
    with pytest.raises(BundleError, match=r"its events\.jsonl inflates to \d+ bytes, more than the 50 a trial"):
        import_trial(target, write_bundle(tmp_path / "events.zip", BASE))
    _nothing_written(target)


def test_more_event_lines_than_the_limit_are_refused(target, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_read, "MAX_EVENT_LINES", 3)
    content = copy.deepcopy(BASE)
    content["events"] = [dict(BASE["events"][0], id=i) for i in range(1, 5)]
    with pytest.raises(BundleError, match=r"its events\.jsonl has more than 3 lines"):
        import_trial(target, write_bundle(tmp_path / "many.zip", content))
    content["events"] = content["events"][:3]
    assert import_trial(target, write_bundle(tmp_path / "three.zip", content)).created


@pytest.fixture
def big_zeros(sqlite_store, clock, tmp_path):
    """A trial file whose snapshot holds a 48 MiB file of zeros (a checkpoint, say: it deflates 1,000 times)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "weights.bin").write_bytes(bytes(48 * MiB))
    trial = record_trial(sqlite_store, clock, scores=[(60, 0.5)], workdir=str(work))
    digest = sqlite_store.snapshot_dir(work, trial_id=trial.id, at=clock())
    return export_trial(sqlite_store, trial.id, tmp_path / "zeros.zip").path, digest, sqlite_store


def test_a_big_blob_is_copied_in_chunks_not_read_whole(big_zeros, target):
    path, digest, source = big_zeros
    result, peak = _peak_while(lambda: import_trial(target, path))
    assert result.created
    assert peak < 24 * MiB, f"{peak:,} bytes allocated importing a 48 MiB blob"
    sha = target.snapshot_manifest(digest)["weights.bin"]["sha256"]
    assert target.blobs.path(sha).stat().st_size == 48 * MiB and target.blobs.path(sha).read_bytes() == bytes(48 * MiB)
    assert target.snapshot_manifest(digest) == source.snapshot_manifest(digest)


def test_blobs_that_do_not_fit_on_the_disk_are_refused_before_any_is_written(big_zeros, target, monkeypatch):
    path, _, _ = big_zeros
    free = type("Usage", (), {"total": 10**9, "used": 10**9 - 1000, "free": 1000})()
    monkeypatch.setattr(bundle_read.shutil, "disk_usage", lambda _path: free)
    needs = r"needs 50,\d{3},\d{3} bytes of snapshot files, but the disk of .* has 1,000 free"
    with pytest.raises(BundleError, match=needs):
        import_trial(target, path)
    _nothing_written(target)


def test_a_blob_no_snapshot_refers_to_is_not_copied(target, tmp_path):
    stray = b"a file that no snapshot lists"
    sha = hashlib.sha256(stray).hexdigest()
    path = write_bundle(tmp_path / "stray.zip", BASE, members={f"blobs/{sha}": stray})
    assert import_trial(target, path).created
    assert not target.blobs.has(sha)


def test_a_member_of_a_compression_method_zipfile_lacks_is_a_clear_error(target, tmp_path):
    path = write_bundle(tmp_path / "odd.zip", BASE)
    raw = bytearray(path.read_bytes())
    start = raw.find(b"PK\x01\x02")
    while start != -1:  # every member's method in the central directory becomes 99 (AES), which zipfile lacks
        raw[start + 10 : start + 12] = (99).to_bytes(2, "little")
        start = raw.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="odd.zip is corrupt: .*compression"):
        import_trial(target, path)
    _nothing_written(target)


# -- crafted values -----------------------------------------------------------------------------------------

CRAFTED = {
    "unknown status": (lambda c: c["trial"].update(status="bogus", ended_at=None),
                       "trial.status must be one of created, running, paused, ended, not 'bogus'"),
    "ended without an end": (lambda c: c["trial"].update(ended_at=None),
                             "trial.ended_at must be a time when trial.status is ended"),
    "running with an end": (lambda c: c["trial"].update(status="running"),
                            r"and null otherwise \(status 'running', ended_at 2.0\)"),
    "trial ends before it starts": (lambda c: c["trial"].update(ended_at=0.5),
                                    r"the trial ends \(ended_at 0.5\) before it starts \(started_at 1.0\)"),
    "pause ends before it starts": (lambda c: c["pauses"][0].update(started_at=5.0, ended_at=1.0),
                                    r"pauses\[0\] ends \(ended_at 1.0\) before it starts \(started_at 5.0\)"),
    "snapshot bytes past BIGINT": (lambda c: c["snapshots"].append(
        {"hash": "a" * 64, "created_at": 1.0, "files": 1, "bytes": 2**70}),
        r"snapshots\[0\].bytes must be from 0 to 9223372036854775807, not 1180591620717411303424"),
    "negative snapshot files": (lambda c: c["snapshots"].append(
        {"hash": "a" * 64, "created_at": 1.0, "files": -1, "bytes": 10}),
        r"snapshots\[0\].files must be from 0 to 2147483647, not -1"),
    "a running trial marked as an import": (lambda c: c["trial"].update(status="running", ended_at=None,
                                                                         settings={"unfinished_export": {}}),
                                            "trial.settings.unfinished_export is set, but the trial has not ended"),
    "NaN event time": (lambda c: c["events"][0].update(at=float("nan")), r"events\[0\].at should be number, not nan"),
    "infinite creation time": (lambda c: c["trial"].update(created_at=float("inf")),
                               "trial.created_at should be number, not inf"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_values_are_refused_naming_the_field(case, target, tmp_path):
    mutate, message = CRAFTED[case]
    content = copy.deepcopy(BASE)
    mutate(content)
    path = write_bundle(tmp_path / "crafted.zip", content, manifest={"missing_blobs": ["a" * 64]})
    with pytest.raises(BundleError, match=message):
        import_trial(target, path)
    _nothing_written(target)


def test_the_uncrafted_file_imports(target, tmp_path):
    """The control: BASE itself, and a pause that ends the instant it starts, import."""
    content = copy.deepcopy(BASE)
    content["pauses"].append({"id": 2, "reason": "human", "started_at": 1.6, "ended_at": 1.6, "note": ""})
    result = import_trial(target, write_bundle(tmp_path / "fine.zip", content))
    assert result.created and target.trial(result.trial_id).status == "ended"
