"""A trial file or an Inspect log whose text holds a NUL or a lone surrogate (crafted, or an agent's output)
imports cleaned on SQLite and PostgreSQL, as the store records such text, and importing it again is a no-op."""

from __future__ import annotations

import json
import zipfile

import pytest
from compare_helpers import record_trial

from console.compare.bundle import content_digest, export_trial, import_trial
from console.compare.bundle_write import write_content
from console.store.clean import NUL_SIGN, REPLACEMENT
from console.store.db import open_store

BAD = "bad \ud800 text\x00 [/red]"
CLEAN = f"bad {REPLACEMENT} text{NUL_SIGN} [/red]"


def _hostile_bundle(store, clock, tmp_path):
    """A trial exported from `store`, then rewritten with BAD in its text fields and its digest made to match."""
    trial = record_trial(store, clock, name="ada", scores=[(60, 0.25), (600, None)], pauses={300: 60})
    good = export_trial(store, trial.id, tmp_path / "good.zip").path
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    head = json.loads(members["trial.json"])
    events = [json.loads(line) for line in members["events.jsonl"].decode().splitlines()]
    head["participant"]["name"] = "ada" + BAD
    head["participant"]["model"] = BAD
    head["trial"]["end_reason"] = BAD
    head["trial"]["workdir"] = BAD
    for pause in head["pauses"]:
        pause["reason"], pause["note"] = "human" + BAD, BAD
    for sub in head["submissions"]:
        sub["message"], sub["reason"] = BAD, BAD
        sub["details"] = {"traceback": BAD, BAD: [BAD]}
    events.append({"id": 10_000, "at": clock(), "active_s": 700.0, "kind": "note" + BAD, "data": {"text": BAD}})
    content = {**head, "events": events}
    manifest = json.loads(members["manifest.json"])
    manifest["digest"] = content_digest(content)
    manifest["counts"]["events"] = len(events)
    members |= {"manifest.json": json.dumps(manifest).encode(), "trial.json": json.dumps(head).encode(),
                "events.jsonl": "".join(json.dumps(e) + "\n" for e in events).encode()}  # json escapes \ud800, \x00
    out = tmp_path / "hostile.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _check_cleaned(store, trial_id):
    trial = store.trial(trial_id)
    assert trial.participant == f"ada{CLEAN}" and trial.end_reason == CLEAN and trial.workdir == CLEAN
    assert store.participant_by_id(trial.participant_id).model == CLEAN
    pauses = store.pauses(trial_id)
    assert pauses and all((p.reason, p.note) == (f"human{CLEAN}", CLEAN) for p in pauses)
    subs = store.submissions(trial_id)
    assert subs and all((s.message, s.reason) == (CLEAN, CLEAN) for s in subs)
    assert all(s.details == {"traceback": CLEAN, CLEAN: [CLEAN]} for s in subs)
    last = store.events(trial_id)[-1]
    assert (last.kind, last.data) == (f"note{CLEAN}", {"text": CLEAN})
    assert [e.data for e in store.events_bulk(trial_id)] == [e.data for e in store.events(trial_id)]


def _import_twice(source, target, clock, tmp_path):
    path = _hostile_bundle(source, clock, tmp_path)
    first = import_trial(target, path)
    assert first.created
    _check_cleaned(target, first.trial_id)
    again = import_trial(target, path)  # the database holds it cleaned: still the same trial
    assert not again.created and again.trial_id == first.trial_id
    assert len(target.trials(environment="sum_env")) == 1


def test_a_bundle_with_a_nul_and_a_lone_surrogate_imports_cleaned_on_sqlite(sqlite_store, clock, tmp_path):
    target = open_store(None, tmp_path / "other")
    try:
        _import_twice(sqlite_store, target, clock, tmp_path)
    finally:
        target.close()


@pytest.mark.postgres
def test_a_bundle_with_a_nul_and_a_lone_surrogate_imports_cleaned_on_postgresql(sqlite_store, pg_store, clock,
                                                                               tmp_path):
    _import_twice(sqlite_store, pg_store, clock, tmp_path)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_inspect_content_with_unstorable_text_is_written_cleaned(backend, request, tmp_path):
    """Inspect logs go through write_content directly (an agent's messages are any text)."""
    store = open_store(None, tmp_path / "s") if backend == "sqlite" else request.getfixturevalue("pg_store")
    content = {
        "trial": {"environment": "sum_env", "variant": "tiny", "sandbox": "inspect", "status": "ended",
                  "budget_s": 60.0, "wall_backstop_s": 180.0, "created_at": 1.0, "started_at": 1.0,
                  "ended_at": 2.0, "end_reason": BAD, "workdir": "", "final_score": None,
                  "settings": {"inspect": {"key": BAD}}},
        "participant": {"name": "agent" + BAD, "kind": "agent", "model": BAD, "settings": {}},
        "events": [{"at": 1.5, "active_s": 0.5, "kind": "model_response", "data": {"content": BAD}}],
        "pauses": [], "snapshots": [],
        "submissions": [{"id": 1, "at": 1.5, "active_s": 0.5, "valid": False, "raw": None, "normalized": None,
                         "message": BAD, "reason": BAD, "details": {}, "calibration": {}, "duration_s": 0.0,
                         "snapshot": "", "final": False}],
    }  # fmt: skip
    try:
        trial_id, _ = write_content(store, content)
        trial = store.trial(trial_id)
        assert trial.participant == f"agent{CLEAN}" and trial.end_reason == CLEAN
        assert trial.settings == {"inspect": {"key": CLEAN}}
        assert store.events(trial_id)[0].data == {"content": CLEAN}
        assert [(s.message, s.reason) for s in store.submissions(trial_id)] == [(CLEAN, CLEAN)]
    finally:
        if backend == "sqlite":
            store.close()
